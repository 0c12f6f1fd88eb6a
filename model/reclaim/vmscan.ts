/**
 * Page reclaim (Linux mm/vmscan.c) over the guest's LRU lists: active and inactive lists for
 * file pages (the page cache's) and anonymous pages.
 *
 * One shrink (shrink_node over the lists, simplified):
 * - round 0 scans the inactive lists oldest first, file pages then anonymous ones; a page used
 *   since the last look (a PTE accessed bit, PG_referenced) is activated instead (second
 *   chance, folio_check_references);
 * - after each round the active lists are aged: their pages go back to the inactive lists
 *   (shrink_active_list, simplified to the whole list);
 * - round 1 is priority 0: references are no longer honoured, every page is a candidate.
 * So one shrink frees every reclaimable page (measure.ts) if asked for enough: the liveness the
 * issue asks of reclaim. File pages go before anonymous ones (assumption: swappiness balanced
 * toward the page cache; get_scan_count's proportions are not modelled).
 *
 * The scan control (struct scan_control) says what the caller allows: unmapping, writing
 * back, swapping. Callers: direct reclaim in the allocator's slow path, kswapd
 * (balance_pgdat), shrink_all_memory, out_of_memory's last try.
 */
import { PTE_ACCESSED } from '../constants';
import type { Guest } from '../guest/guest';
import { findSlot, writeEntry } from '../guest/page-tables';
import { guestPresent } from '../paging/entries';
import { reclaimFilePage, takeReferenced } from '../pagecache/cache';
import { pageKey } from '../pagecache/layout';
import { cacheOf } from '../pagecache/state';
import { freeSwapSlots, swapOut } from '../swap/guest-swap';
import type { World } from '../world';
import { swappableAnon, type AnonPage } from './measure';
import { reclaimLog, reclaimOf } from './state';

/** mm/vmscan.c SWAP_CLUSTER_MAX: pages direct reclaim tries to free per call. */
export const SWAP_CLUSTER_MAX = 32;

export interface ScanControl {
  readonly nrToReclaim: number;
  readonly mayUnmap: boolean;
  readonly mayWritepage: boolean;
  readonly maySwap: boolean;
}

/** folio_referenced for an anonymous page: its PTE's accessed bit, cleared as it is read. */
function anonReferenced(w: World, g: Guest, a: AnonPage): boolean {
  // A refusal: a table on the way cannot be read (the host is moving it); not referenced.
  const slot = findSlot(w, g, a.process, a.vpn, 1);
  if (slot === null || 'ok' in slot) return false;
  const e = slot.entry;
  // (The leaf maps a.gfn: swappableAnon lists pages mapped where they belong.)
  if (!guestPresent(e) || (e.flags & PTE_ACCESSED) === 0) return false;
  writeEntry(w, g, a.pid, slot.tableGfn, slot.table, slot.index, { ...e, flags: e.flags & ~PTE_ACCESSED });
  return true;
}

/** Reclaim up to sc.nrToReclaim pages; returns the pages freed. */
export function shrink(w: World, g: Guest, sc: ScanControl): number {
  const c = cacheOf(g);
  const st = reclaimOf(g);
  const log = reclaimLog(g, w.step);
  let freed = 0;
  // Round 0 gives a referenced page a second chance; round 1 (priority 0) takes every page.
  for (const secondChance of [true, false]) {
    // Inactive file list, oldest first.
    for (const page of [...c.pages.values()]) {
      if (freed >= sc.nrToReclaim) break;
      const key = pageKey(page.file, page.index);
      // Only this page leaves the cache during the scan (reclaimFilePage drops nothing else).
      if (c.active.has(key)) continue;
      if (secondChance && takeReferenced(w, g, page)) {
        c.active.add(key);
        continue;
      }
      const r = reclaimFilePage(w, g, page, sc);
      if (r === 'freed') {
        freed++;
        log.push({ step: w.step, gfn: page.gfn, kind: 'file', file: page.file, index: page.index });
        w.transition('reclaim', 'inactive', 'freed');
      } else if (r !== 'kept') st.blockedStep = w.step;
    }
    // Inactive anon list, oldest first: swapped out while there are slots.
    // Hazard: the anonymous lists are part of what reclaim must scan; skipping them declares
    // "no progress" while swappable memory remains and the OOM killer fires early (the
    // premature-OOM class that 0a0337e0d1d1 "mm, oom: rework oom detection" addressed).
    if (sc.maySwap && !w.fault('reclaim-ignores-anon-lru')) {
      for (const a of swappableAnon(g)) {
        if (freed >= sc.nrToReclaim || freeSwapSlots(w, g) === 0) break;
        // (A page activated this round is not met again in it: swappableAnon lists a page once.)
        if (secondChance && anonReferenced(w, g, a)) {
          st.activeAnon.add(a.gfn);
          continue;
        }
        const r = swapOut(w, g, a.pid, a.vpn, true);
        if (r.ok) {
          freed++;
          log.push({ step: w.step, gfn: a.gfn, kind: 'anon', pid: a.pid, vpn: a.vpn });
          w.transition('reclaim', 'inactive', 'swapped');
        // (Never 'limit': the loop stops when no slot is free.)
        } else st.blockedStep = w.step;
      }
    }
    // Age the active lists: everything goes back to the inactive ones.
    if (c.active.size > 0 || st.activeAnon.size > 0) w.transition('reclaim', 'active', 'inactive');
    c.active.clear();
    st.activeAnon.clear();
  }
  return freed;
}

/** Everything allowed: what shrink_all_memory and the allocator's direct reclaim use. */
export function fullScan(nrToReclaim: number): ScanControl {
  return { nrToReclaim, mayUnmap: true, mayWritepage: true, maySwap: true };
}
