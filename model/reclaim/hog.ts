/**
 * Unreclaimable kernel memory a guest allocates in bulk (a driver's buffers, slab growth):
 * the pressure that drives reclaim and, once nothing is left to reclaim, the OOM killer. Each
 * page goes through the allocator's slow path like any kernel allocation (GFP_KERNEL: direct
 * reclaim, then the OOM notifiers), and the hog stops at the first page it cannot get.
 */
import type { Guest } from '../guest/guest';
import { guestAlloc } from '../guest/alloc';
import { guestFree } from '../guest/kernel';
import { ok, refuse, type OpResult } from '../result';
import type { World } from '../world';

/** Pages one hog operation takes at most. */
export const HOG_PAGES_MAX = 4096;

interface Hogs {
  next: number;
  readonly held: Map<number, number[]>;
}

const states = new WeakMap<Guest, Hogs>();

export function hogsOf(g: Guest): Hogs {
  let s = states.get(g);
  if (!s) states.set(g, (s = { next: 1, held: new Map() }));
  return s;
}

/** Take up to `pages` pages; ok(id) with how many it got recorded under id (0 pages: no id, ok(0)). */
export function hog(w: World, g: Guest, pages: number): OpResult {
  const s = hogsOf(g);
  const id = s.next;
  const got: number[] = [];
  for (let i = 0; i < pages; i++) {
    const gfn = guestAlloc(w, g, 0, 'UNMOVABLE');
    if (typeof gfn !== 'number') break;
    g.setOwner(gfn, { kind: 'hog', id });
    got.push(gfn);
  }
  if (got.length === 0) return ok(0);
  s.next++;
  s.held.set(id, got);
  w.transition('reclaim', 'free', 'hogged');
  return ok(id);
}

/**
 * Boot: the swarm option "reclaim.bootReservedPercent" takes that share of the guest's memory
 * for the kernel before anything runs (assumption: boot-time allocations such as hash tables
 * and a hugetlb pool; unreclaimable, never freed), so that memory pressure, reclaim and the
 * OOM killer are reached with little work per run. Recorded as hog #0, which no operation
 * frees.
 */
export function reserveAtBoot(w: World, g: Guest): void {
  const percent = w.option('reclaim.bootReservedPercent', 0);
  let left = Math.floor((g.config.frames * percent) / 100);
  for (let order = 10; order >= 0 && left > 0; ) {
    if (2 ** order > left) {
      order--;
      continue;
    }
    const gfn = g.buddy.alloc(order, 'UNMOVABLE');
    if (typeof gfn !== 'number') {
      order--;
      continue;
    }
    for (let i = 0; i < 2 ** order; i++) g.setOwner(gfn + i, { kind: 'hog', id: 0 });
    left -= 2 ** order;
  }
}

export function unhog(w: World, g: Guest, id: number): OpResult {
  const s = hogsOf(g);
  const got = s.held.get(id);
  if (!got) return refuse('no-such-allocation', `g${g.id} has no hog #${id}`);
  s.held.delete(id);
  for (const gfn of got) {
    g.clearOwner(gfn);
    guestFree(w, g, gfn, 0);
  }
  w.transition('reclaim', 'hogged', 'free');
  return ok(got.length);
}
