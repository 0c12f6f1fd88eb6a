/**
 * frontswap (include/linux/frontswap.h, mm/frontswap.c, Documentation/vm/frontswap.rst;
 * removed from Linux in 6.6, zswap kept its backend): swapped pages kept by the host in a
 * persistent tmem pool instead of being written to the swap device. store may fail (the
 * backend refuses, or has no room), load, invalidate_page, invalidate_area.
 *
 * - Through the guest's swap (when "frontswap.enabled"): one persistent pool per guest for
 *   its swap device (type 0); swap_writepage tries a store first and writes the slot only if
 *   the store failed; a load serves the swap-in; freeing the slot invalidates the page.
 * - The API itself (operations frontswap.*), on a second area per guest (type 1, no device
 *   behind it): a store carries fresh contents (a new version); whether the backend refuses
 *   is the operation's argument (the host's choice, drawn by the generator).
 *
 * The contract (frontswap.rst): a successful store always loads back until invalidated; a
 * store to an offset that already holds a page either overwrites it and succeeds, or fails
 * AND invalidates the old page, "so stale data may never be obtained" (678e54d4bb9a fixed
 * zswap failing a duplicate store without invalidating the old entry).
 */
import { data, type Content } from '../content';
import type { Guest } from '../guest/guest';
import { ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { allPools, createPool, tmemFlushPage, tmemFlushPool, tmemPeek, tmemPut, type Pool } from './backend';

/** Offsets of the API area (bounded for the generators). */
export const FS_API_OFFSETS = 16;

export function frontswapEnabled(w: World): boolean {
  return w.option('frontswap.enabled', true);
}

export function frontswapInit(w: World): void {
  if (!frontswapEnabled(w)) return;
  for (const g of w.guests) {
    createPool(w, { kind: 'persistent', shared: false, owner: g.id, uuid: 0, use: 'swap', disk: 0, members: [g.id] });
    createPool(w, { kind: 'persistent', shared: false, owner: g.id, uuid: 0, use: 'api', disk: 0, members: [g.id] });
  }
}

function poolOf(w: World, guest: number, use: 'swap' | 'api'): Pool | undefined {
  return allPools(w).find((p) => p.kind === 'persistent' && p.use === use && p.owner === guest);
}

/**
 * __frontswap_store: true if the backend took the page. On failure any page already at this
 * offset must be invalidated, or a later load would return the older contents.
 */
function store(w: World, pool: Pool, offset: number, c: Content, refused: boolean): boolean {
  if (!refused && tmemPut(w, pool, offset, c)) {
    w.transition('frontswap', 'absent', 'stored');
    return true;
  }
  // Hazard: a failed duplicate store that keeps the old copy serves it to the next load
  // (678e54d4bb9a, "mm/zswap: invalidate duplicate entry when !zswap_enabled").
  if (!w.fault('frontswap-failed-dup-keeps-old')) tmemFlushPage(w, pool, offset);
  w.transition('frontswap', 'absent', 'refused');
  return false;
}

// ---- the guest swap's hooks ----

export function fsSwapStore(w: World, g: Guest, slot: number, c: Content): boolean {
  const p = poolOf(w, g.id, 'swap');
  return p ? store(w, p, slot, c, false) : false;
}

export function fsSwapPeek(w: World, guest: number, slot: number): Content | undefined {
  const p = poolOf(w, guest, 'swap');
  return p ? tmemPeek(w, p, slot) : undefined;
}

export function fsSwapLoad(w: World, g: Guest, slot: number): Content | undefined {
  const c = fsSwapPeek(w, g.id, slot);
  if (poolOf(w, g.id, 'swap')) w.transition('frontswap', c ? 'stored' : 'absent', c ? 'loaded' : 'missed');
  return c;
}

export function fsSwapInvalidate(w: World, g: Guest, slot: number): void {
  const p = poolOf(w, g.id, 'swap');
  if (p) tmemFlushPage(w, p, slot);
}

/** swapoff / a crash: invalidate_area of the guest's swap type. */
export function fsSwapInvalidateArea(w: World, g: Guest): void {
  const p = poolOf(w, g.id, 'swap');
  if (p) tmemFlushPool(w, p);
}

// ---- the API ----

/** Result value of a load that missed. */
export const FS_MISS = -2;

function apiPool(w: World, g: Guest): Pool | OpResult {
  return poolOf(w, g.id, 'api') ?? refuse('invalid', `g${g.id} has no frontswap (frontswap.enabled is off)`);
}

/** A store of fresh contents: ok(v) when stored, ok(-v) when refused. */
export function fsApiStore(w: World, g: Guest, offset: number, refused: boolean): OpResult {
  const p = apiPool(w, g);
  if ('ok' in p) return p;
  const v = w.nextVersion();
  return ok(store(w, p, offset, data(g.id, v), refused) ? v : -v);
}

/** A load: the contents' version (0 for zero), or FS_MISS. */
export function fsApiLoad(w: World, g: Guest, offset: number): OpResult {
  const p = apiPool(w, g);
  if ('ok' in p) return p;
  const c = tmemPeek(w, p, offset);
  w.transition('frontswap', c ? 'stored' : 'absent', c ? 'loaded' : 'missed');
  if (!c) return ok(FS_MISS);
  // The API pool holds only what fsApiStore put there: fresh data.
  return ok(c.kind === 'data' ? c.version : -1);
}

export function fsApiInvalidate(w: World, g: Guest, offset: number, area: boolean): OpResult {
  const p = apiPool(w, g);
  if ('ok' in p) return p;
  if (area) tmemFlushPool(w, p);
  else tmemFlushPage(w, p, offset);
  w.transition('frontswap', 'stored', 'invalidated');
  return ok();
}
