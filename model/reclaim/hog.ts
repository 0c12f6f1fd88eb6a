/**
 * Unreclaimable kernel memory a guest allocates in bulk (a driver's buffers, slab growth):
 * the pressure that drives reclaim and, once nothing is left to reclaim, the OOM killer. Each
 * page goes through the allocator's slow path like any kernel allocation (GFP_KERNEL: direct
 * reclaim, then the OOM notifiers), and the hog stops at the first page it cannot get.
 */
import { PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_FRAMES } from '../constants';
import type { Guest } from '../guest/guest';
import { guestAlloc } from '../guest/alloc';
import { guestFree } from '../guest/kernel';
import { ok, refuse, type OpResult } from '../result';
import type { World } from '../world';

/** Pages one hog operation takes at most. */
export const HOG_PAGES_MAX = 4096;

/** What one hog operation took: its pages, and the blocks they came in ([head, order]). */
interface Hog {
  readonly pages: readonly number[];
  readonly blocks: readonly (readonly [number, number])[];
}

interface Hogs {
  next: number;
  /** id -> what that hog holds. */
  readonly held: Map<number, Hog>;
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
  const blocks: [number, number][] = [];
  // In blocks of up to 2^PAGE_ALLOC_COSTLY_ORDER pages (a kmalloc of up to 32 KiB: still an
  // allocation the OOM killer serves), single pages for the rest.
  for (let left = pages; left > 0; ) {
    const order = left >= 2 ** PAGE_ALLOC_COSTLY_ORDER ? PAGE_ALLOC_COSTLY_ORDER : 0;
    const gfn = guestAlloc(w, g, order, 'UNMOVABLE');
    if (typeof gfn !== 'number') {
      if (order === 0) break;
      left = Math.min(left, 2 ** PAGE_ALLOC_COSTLY_ORDER - 1); // no block: finish page by page
      continue;
    }
    for (let i = 0; i < 2 ** order; i++) {
      g.setOwner(gfn + i, { kind: 'hog', id });
      got.push(gfn + i);
    }
    blocks.push([gfn, order]);
    left -= 2 ** order;
  }
  if (got.length === 0) return ok(0);
  s.next++;
  s.held.set(id, { pages: got, blocks });
  w.transition('reclaim', 'free', 'hogged');
  return ok(id);
}

/**
 * Boot: the swarm option "reclaim.bootOfflinePercent" leaves that share of the guest's
 * pageblocks offline (isolated, MIGRATE_ISOLATE: neither allocated from nor counted free), as a
 * guest whose memory blocks were not onlined at boot (memhp_default_state=offline) or whose
 * virtio-mem device has not plugged them. Memory pressure, reclaim and the OOM killer are then
 * reached with little work per run (assumption: the watermarks stay those of the whole zone,
 * as Linux computes them from managed pages). guest.unisolate may bring them back.
 */
export function offlineAtBoot(w: World, g: Guest): void {
  const percent = w.option('reclaim.bootOfflinePercent', 0);
  const blocks = g.config.frames / PAGEBLOCK_FRAMES;
  const n = Math.min(blocks - 1, Math.floor((blocks * percent) / 100));
  // The highest pageblocks, as hot-added memory sits above boot memory.
  for (let i = 0; i < n; i++) g.buddy.isolatePageblock((blocks - 1 - i) * PAGEBLOCK_FRAMES);
}

export function unhog(w: World, g: Guest, id: number): OpResult {
  const s = hogsOf(g);
  const h = s.held.get(id);
  if (!h) return refuse('no-such-allocation', `g${g.id} has no hog #${id}`);
  s.held.delete(id);
  for (const gfn of h.pages) g.clearOwner(gfn);
  for (const [head, order] of h.blocks) guestFree(w, g, head, order);
  w.transition('reclaim', 'hogged', 'free');
  return ok(h.pages.length);
}
