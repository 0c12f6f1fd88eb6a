/**
 * The guest's in-flight block I/O (writeback of file pages, swap-out writes), completed oldest
 * first by the device (virtio-blk completions; the operation io.complete stands for the
 * interrupt). Direct reclaim, fsync and a crash's device reset wait for what they need.
 */
import type { Guest } from '../guest/guest';
import { completeSwapOut } from '../swap/guest-swap';
import type { World } from '../world';
import { completeWriteback } from './cache';
import { cacheOf, type IoRequest } from './state';

function complete(w: World, g: Guest, r: IoRequest): void {
  if (r.kind === 'writeback') completeWriteback(w, g, r);
  else completeSwapOut(w, g, r);
}

/** Complete the oldest request; false if none is in flight. */
export function completeOldest(w: World, g: Guest): boolean {
  const r = cacheOf(g).io.shift();
  if (!r) return false;
  complete(w, g, r);
  w.transition('page-cache', 'io-in-flight', 'io-done');
  return true;
}

/** Wait for every request matching `which` (filemap_fdatawait, reclaim_throttle on writeback). */
export function completeWhere(w: World, g: Guest, which: (r: IoRequest) => boolean): number {
  const io = cacheOf(g).io;
  const picked = io.filter(which);
  const rest = io.filter((r) => !which(r));
  io.length = 0;
  io.push(...rest);
  // Completions never submit new I/O, so this is bounded by the queue as it was.
  for (const r of picked) complete(w, g, r);
  return picked.length;
}

export function completeAll(w: World, g: Guest): number {
  return completeWhere(w, g, () => true);
}
