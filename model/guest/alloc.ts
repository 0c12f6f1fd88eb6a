/**
 * The guest kernel's page allocator entry point (mm/page_alloc.c __alloc_pages): the buddy
 * fast path, then the slow path when it fails. The slow path runs the guest's pressure hooks
 * in order (direct reclaim, compaction, the OOM killer, which itself calls the OOM notifiers
 * such as virtio-balloon's deflate) and retries, a bounded number of times. Mechanisms
 * register hooks on the guest; the core registers none.
 */
import type { MigrateType } from '../buddy/migratetype';
import type { World } from '../world';
import type { Guest } from './guest';
import { ZERO } from '../content';
import { refuse, type Refusal } from '../result';
import { physWrite } from './phys';

/** Slow-path retries before the allocation fails (bounded, as every loop here). */
export const ALLOC_SLOWPATH_RETRIES_MAX = 3;

/**
 * A slow-path hook: try to make `2^order` pages of type `mt` available; returns the pages it
 * freed (0: nothing, so the next hook runs).
 */
export type PressureHook = (world: World, g: Guest, order: number, mt: MigrateType) => number;

export function guestAlloc(world: World, g: Guest, order: number, mt: MigrateType): number | { readonly error: string } {
  let r = g.buddy.alloc(order, mt);
  for (let attempt = 0; typeof r !== 'number' && attempt < ALLOC_SLOWPATH_RETRIES_MAX; attempt++) {
    let freed = 0;
    for (const hook of g.pressureHooks) {
      freed = hook(world, g, order, mt);
      if (freed > 0) break;
    }
    if (freed === 0) break;
    r = g.buddy.alloc(order, mt);
  }
  if (typeof r === 'number') for (const h of g.allocHooks) h(world, g, r, order);
  return r;
}

/**
 * A block from guestAlloc cleared before anyone owns it (__GFP_ZERO, clear_page over each
 * subpage): the caller records the owner once the clears are done. The allocator's failure is
 * refused as guest-oom, naming `what` the page was for; a clear that fails (the host cannot back
 * a frame) gives the block back, with no owner to undo, and returns that refusal.
 */
export function allocZeroed(world: World, g: Guest, order: number, mt: MigrateType, what: string): number | Refusal {
  const gfn = guestAlloc(world, g, order, mt);
  if (typeof gfn !== 'number') return refuse('guest-oom', `g${g.id}: no page for ${what} (${gfn.error})`);
  for (let i = 0, n = 1 << order; i < n; i++) {
    const w = physWrite(world, g, gfn + i, ZERO);
    if (w !== true) {
      g.buddy.free(gfn, order);
      return w;
    }
  }
  return gfn;
}
