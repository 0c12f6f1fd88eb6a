/**
 * What reclaim could free right now, counted directly from the state (no reclaim logic here):
 * the measure the reclaim and OOM properties hold the model to, and what out_of_memory
 * records when it decides (mm/page_alloc.c should_reclaim_retry looks at the same thing:
 * zone_reclaimable_pages, file plus anon when swap is available; 0a0337e0d1d1 made the OOM
 * decision depend on it).
 *
 * - file: every page-cache page not under writeback (clean ones go at once, mapped ones after
 *   unmapping, dirty ones after writeback: shrink_all_memory may do all three);
 * - anon: 4 KiB anonymous pages of 4 KiB VMAs, as many as there are free swap slots
 *   (assumption: huge anonymous pages are not swapped: THP swap-out splits first, not modelled).
 * Pages in flight (writeback, swap cache) become reclaimable when their I/O completes.
 */
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import { cacheOf } from '../pagecache/state';
import { freeSwapSlots } from '../swap/guest-swap';
import type { World } from '../world';

export interface AnonPage {
  readonly gfn: number;
  readonly pid: number;
  readonly vpn: number;
  readonly process: Process;
}

/** Anonymous pages swap-out can take: 4 KiB pages of 4 KiB VMAs, mapped where they belong. */
export function swappableAnon(g: Guest): AnonPage[] {
  const out: AnonPage[] = [];
  // The 4 KiB leaves (the reverse map), oldest mapping first: bounded by what is mapped.
  // (A 4 KiB leaf maps an anonymous page only where its owner record says: its pid, its vpn.)
  for (const [gfn] of g.rmap.mapped(1)) {
    const o = g.owners.get(gfn);
    if (o?.kind !== 'anon') continue;
    const process = g.processes.get(o.pid);
    const vma = process?.vmaAt(o.vpn);
    if (!process || !vma || vma.huge || vma.object) continue;
    out.push({ gfn, pid: o.pid, vpn: o.vpn, process });
  }
  return out;
}

export function reclaimablePages(w: World, g: Guest): { file: number; anon: number; total: number } {
  let file = 0;
  for (const p of cacheOf(g).pages.values()) if (!p.writeback) file++;
  const anon = Math.min(swappableAnon(g).length, freeSwapSlots(w, g));
  return { file, anon, total: file + anon };
}
