/**
 * Unmapped page-cache control (Balbir Singh, "Selectively control Unmapped Page Cache",
 * LKML 2010-03 .. 2011, boot option unmapped_page_control; never merged): in a guest whose
 * disks use the host cache (cache != none) every file page is cached twice. Above a limit on
 * unmapped page-cache pages, the guest's kswapd reclaims unmapped clean pages only, with
 * may_unmap = 0 and may_writepage = 0: nothing is unmapped, nothing is written. The host keeps
 * its copy, and the pages freed can go back to the host (the balloon inflates with them).
 *
 * The limit is the swarm option "unmapped-page-control.limit" in pages (-1: off).
 */
import type { Guest } from '../guest/guest';
import type { World } from '../world';
import { dropPage, isMapped, unmapPage } from './cache';
import { cacheOf, type CachePage } from './state';
import { pageKey } from './layout';

export const UPC_LIMIT_DEFAULT = 8;

export function upcLimit(w: World): number {
  return w.option('unmapped-page-control.limit', UPC_LIMIT_DEFAULT);
}

/** Unmapped page-cache pages of the guest (NR_FILE_PAGES - NR_FILE_MAPPED). */
export function unmappedCount(g: Guest): number {
  let n = 0;
  for (const page of cacheOf(g).pages.values()) if (!isMapped(g, page)) n++;
  return n;
}

/** Pages the pass may take: unmapped, clean, not under writeback. */
export function upcCandidate(g: Guest, page: CachePage): boolean {
  return !isMapped(g, page) && !page.dirty && !page.writeback;
}

/** One pass (zone_reclaim_unmapped_pages from kswapd): pages freed. */
export function upcPass(w: World, g: Guest): number {
  const limit = upcLimit(w);
  if (limit < 0) return 0;
  const over = unmappedCount(g) - limit;
  if (over <= 0) return 0;
  const c = cacheOf(g);
  // LRU order: the inactive list (oldest first), then the active list.
  const pages = [...c.pages.values()];
  const order = [...pages.filter((p) => !c.active.has(pageKey(p.file, p.index))), ...pages.filter((p) => c.active.has(pageKey(p.file, p.index)))];
  let freed = 0;
  for (const page of order) {
    if (freed >= over) break;
    if (page.writeback) continue;
    if (isMapped(g, page)) {
      // Hazard: may_unmap = 0. A pass that unmaps mapped pages takes memory the processes are
      // using and defeats the point (only pages nobody maps are cheap to drop).
      if (!w.fault('upc-unmaps-mapped')) continue;
      if (unmapPage(w, g, page) !== true) continue;
    }
    // Hazard: may_writepage = 0, so a dirty page must stay: dropping it loses its writes.
    if (page.dirty && !w.fault('upc-drops-dirty')) continue;
    dropPage(w, g, page);
    freed++;
    w.transition('unmapped-page-control', 'over-limit', 'reclaimed');
  }
  if (freed >= over) w.transition('unmapped-page-control', 'over-limit', 'within-limit');
  return freed;
}
