/**
 * Who runs reclaim, and when (Linux mm/vmscan.c, mm/page_alloc.c):
 * - direct reclaim: the allocating task, in the allocator's slow path (guest/alloc.ts
 *   pressureHooks), after waiting for writeback in flight (reclaim_throttle); it asks for
 *   SWAP_CLUSTER_MAX pages (try_to_free_pages) or the allocation's size if larger;
 * - kswapd: woken when free pages drop below the low watermark (wakeup_kswapd from the slow
 *   path), it reclaims until every zone is above its high watermark (balance_pgdat,
 *   pgdat_balanced uses high_wmark_pages) and sleeps again; the gap between low and high is
 *   the hysteresis that keeps it from waking for every allocation. With unmapped page-cache
 *   control it first trims unmapped page cache;
 * - shrink_all_memory(n) (hibernation): may_unmap, may_writepage and may_swap all set, it
 *   reclaims n pages if that much is reclaimable.
 */
import type { MigrateType } from '../buddy/migratetype';
import type { Guest } from '../guest/guest';
import { completeAll, completeWhere } from '../pagecache/io';
import { upcPass } from '../pagecache/unmapped-control';
import type { World } from '../world';
import { reclaimablePages } from './measure';
import { reclaimOf } from './state';
import { fullScan, shrink, SWAP_CLUSTER_MAX } from './vmscan';

/** kswapd's passes per wakeup at most (bounded; each pass frees at least one page or stops). */
export const KSWAPD_PASSES_MAX = 64;

/**
 * Direct reclaim for an allocation of 2^order pages: pages reclaimed (sc.nr_reclaimed, the
 * allocator's measure of progress), counting the swap-cache pages freed by the writeback it
 * waited for. (Not the change in free pages: pages freed into an isolated pageblock are not
 * counted free, yet were reclaimed.)
 */
export function directReclaim(w: World, g: Guest, order: number): number {
  const swapOuts = completeWhere(w, g, (r) => r.kind === 'swap-out');
  completeAll(w, g);
  const freed = swapOuts + shrink(w, g, fullScan(Math.max(2 ** order, SWAP_CLUSTER_MAX)));
  if (freed > 0) w.transition('reclaim', 'alloc-failed', 'direct-reclaimed');
  return freed;
}

/** The slow-path hook (registered before the OOM hook). */
export function directReclaimHook(w: World, g: Guest, order: number, _mt: MigrateType): number {
  return directReclaim(w, g, order);
}

/** One kswapd wakeup: pages freed (0 when not woken: free pages at or above the low watermark). */
export function kswapd(w: World, g: Guest): number {
  const wm = g.buddy.watermarks();
  if (g.buddy.freePages() >= wm.low) return 0;
  w.transition('reclaim', 'kswapd-asleep', 'kswapd-running');
  const before = g.buddy.freePages();
  upcPass(w, g);
  // Hazard: kswapd sleeps only when the zone is balanced at its high watermark; stopping at
  // low leaves the very next allocations to direct reclaim (pgdat_balanced uses
  // high_wmark_pages; the low/high gap is kswapd's hysteresis).
  const target = w.fault('kswapd-stops-at-low') ? wm.low : wm.high;
  // Balanced (free pages at target) leaves nothing to ask for, and a shrink of nothing frees
  // nothing: that ends the wakeup as a pass that found nothing reclaimable does.
  for (let pass = 0; pass < KSWAPD_PASSES_MAX; pass++) {
    const want = Math.min(SWAP_CLUSTER_MAX * 4, target - g.buddy.freePages());
    if (shrink(w, g, fullScan(want)) === 0) break;
  }
  w.transition('reclaim', 'kswapd-running', 'kswapd-asleep');
  return Math.max(0, g.buddy.freePages() - before);
}

/**
 * shrink_all_memory(n): pages freed. (The sc of mm/vmscan.c shrink_all_memory: may_writepage,
 * may_unmap and may_swap all 1, "hibernation needs all of it".)
 */
export function shrinkAllMemory(w: World, g: Guest, n: number): number {
  // Hazard: without may_writepage every dirty page stays, and hibernation's image does not fit
  // although the memory was reclaimable (the reason shrink_all_memory sets may_writepage = 1).
  const sc = { ...fullScan(n), mayWritepage: !w.fault('shrink-skips-dirty') };
  const freed = shrink(w, g, sc);
  if (freed > 0) w.transition('reclaim', 'shrink-requested', 'shrunk');
  return freed;
}

/** Settle: writeback in flight completes, then shrink_all_memory of everything reclaimable, recorded for the liveness check. */
export function settleReclaim(w: World): void {
  for (const g of w.guests) {
    completeAll(w, g);
    const st = reclaimOf(g);
    const before = reclaimablePages(w, g).total;
    st.blockedStep = -1;
    // Nothing reclaimable: shrink_all_memory(0) frees nothing and records nothing.
    const freed = shrinkAllMemory(w, g, before);
    st.settled = { reclaimable: before, freed, blocked: st.blockedStep !== -1 };
  }
}
