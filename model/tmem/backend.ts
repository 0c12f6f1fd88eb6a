/**
 * The host side of transcendent memory (Xen tmem, xen/common/tmem.c; the in-kernel API of
 * include/linux/cleancache.h and include/linux/frontswap.h, Documentation/vm/cleancache.rst and
 * frontswap.rst): pools of pages the host keeps for guests in its own frames (owner 'tmem'),
 * keyed by (object = inode or swap type, index).
 *
 * - Ephemeral pools (cleancache): the host may drop any page at any time, so a get may miss.
 *   A private pool belongs to one guest; a shared pool (init_shared_fs, by uuid) to every
 *   guest that joined it. A get from a private ephemeral pool is exclusive: the page leaves
 *   the pool (Xen tmem: "gets of ephemeral pages are destructive for private pools").
 * - Persistent pools (frontswap): a page stays until the guest invalidates it; the host may
 *   refuse a store (it is out of space, or chooses to) but never drops a stored page.
 *
 * The host holds at most `tmem.frames` frames for all pools together (assumption: a fixed
 * budget stands in for the host's memory pressure); a put into a full budget first evicts the
 * oldest ephemeral page.
 */
import type { Content } from '../content';
import { hostAlloc, hostFree } from '../host/alloc';
import type { World } from '../world';

export type PoolKind = 'ephemeral' | 'persistent';
/** Who puts pages into a pool: explicit API operations, a guest disk's page cache, a guest's swap. */
export type PoolUse = 'api' | 'disk' | 'swap';

export interface Pool {
  readonly id: number;
  readonly kind: PoolKind;
  readonly shared: boolean;
  /** The guest of a private pool; -1 for a shared one. */
  readonly owner: number;
  readonly uuid: number;
  readonly members: Set<number>;
  readonly use: PoolUse;
  /** For use 'disk': which disk of the owner. */
  readonly disk: number;
  /** key -> host frame. */
  readonly pages: Map<number, number>;
}

interface TmemWorld {
  readonly pools: Pool[];
  /** Ephemeral pages, oldest first: "pool:key". */
  readonly lru: Map<string, { readonly pool: number; readonly key: number }>;
  readonly capacity: number;
  used: number;
}

/** Default host frames for tmem (swarm option "tmem.frames"). */
export const TMEM_FRAMES_DEFAULT = 64;
/** Objects per pool key: key = inode * TMEM_INDEX_SPAN + index. */
export const TMEM_INDEX_SPAN = 1 << 16;

const worlds = new WeakMap<World, TmemWorld>();

export function tmemWorld(w: World): TmemWorld {
  let s = worlds.get(w);
  if (!s) worlds.set(w, (s = { pools: [], lru: new Map(), capacity: w.option('tmem.frames', TMEM_FRAMES_DEFAULT), used: 0 }));
  return s;
}

export function objKey(inode: number, index: number): number {
  return inode * TMEM_INDEX_SPAN + index;
}

export function createPool(w: World, p: Omit<Pool, 'id' | 'members' | 'pages'> & { readonly members: readonly number[] }): Pool {
  const t = tmemWorld(w);
  const pool: Pool = { ...p, id: t.pools.length, members: new Set(p.members), pages: new Map() };
  t.pools.push(pool);
  return pool;
}

export function poolById(w: World, id: number): Pool | undefined {
  return tmemWorld(w).pools[id];
}

export function allPools(w: World): readonly Pool[] {
  return tmemWorld(w).pools;
}

function lruKey(pool: number, key: number): string {
  return `${pool}:${key}`;
}

function dropPage(w: World, t: TmemWorld, pool: Pool, key: number): void {
  const hfn = pool.pages.get(key);
  if (hfn === undefined) return;
  pool.pages.delete(key);
  t.lru.delete(lruKey(pool.id, key));
  t.used--;
  hostFree(w, hfn, 0);
}

/** The host takes back the oldest ephemeral page; false if there is none. */
function evictOneEphemeral(w: World, t: TmemWorld): boolean {
  const first = t.lru.values().next();
  if (first.done) return false;
  dropPage(w, t, t.pools[first.value.pool]!, first.value.key);
  w.transition('cleancache', 'stored', 'dropped');
  return true;
}

/**
 * Put (cleancache_put_page / frontswap_store's backend): a page already under `key` is
 * overwritten in place; otherwise a frame is found, evicting ephemeral pages when the budget
 * is used up. False when no frame could be had.
 */
export function tmemPut(w: World, pool: Pool, key: number, c: Content): boolean {
  const t = tmemWorld(w);
  const have = pool.pages.get(key);
  if (have !== undefined) {
    w.frames.write(have, c);
    if (pool.kind === 'ephemeral') {
      t.lru.delete(lruKey(pool.id, key));
      t.lru.set(lruKey(pool.id, key), { pool: pool.id, key });
    }
    return true;
  }
  // Each round frees one ephemeral page or gives up.
  while (t.used >= t.capacity && evictOneEphemeral(w, t));
  if (t.used >= t.capacity) return false;
  const hfn = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'tmem', pool: pool.id, key }), 'tmem', pool.kind);
  if (typeof hfn !== 'number') return false;
  w.frames.write(hfn, c);
  pool.pages.set(key, hfn);
  t.used++;
  if (pool.kind === 'ephemeral') t.lru.set(lruKey(pool.id, key), { pool: pool.id, key });
  return true;
}

/** What the pool holds under key, without side effects. */
export function tmemPeek(w: World, pool: Pool, key: number): Content | undefined {
  const hfn = pool.pages.get(key);
  return hfn === undefined ? undefined : w.frames.read(hfn);
}

/** Get: a hit copies the page out; from a private ephemeral pool it also removes it (exclusive). */
export function tmemGet(w: World, pool: Pool, key: number): Content | undefined {
  const c = tmemPeek(w, pool, key);
  // (dropPage leaves a missing key alone: a miss changes nothing.)
  if (pool.kind === 'ephemeral' && !pool.shared) dropPage(w, tmemWorld(w), pool, key);
  return c;
}

export function tmemFlushPage(w: World, pool: Pool, key: number): void {
  dropPage(w, tmemWorld(w), pool, key);
}

/** Every page of object `inode` (invalidate_inode, frontswap's area of one type). */
export function tmemFlushObject(w: World, pool: Pool, inode: number, pagesOf: (inode: number) => readonly number[]): void {
  const t = tmemWorld(w);
  for (const key of pagesOf(inode)) dropPage(w, t, pool, key);
}

/** Every page of the pool (invalidate_fs, frontswap_invalidate_area). */
export function tmemFlushPool(w: World, pool: Pool): void {
  const t = tmemWorld(w);
  for (const key of [...pool.pages.keys()]) dropPage(w, t, pool, key);
}

/**
 * The host taking tmem frames back under its own pressure: ephemeral pages only, oldest first.
 * Returns how many it freed.
 */
export function tmemHostReclaim(w: World, n: number): number {
  const t = tmemWorld(w);
  let freed = 0;
  for (; freed < n; freed++) {
    if (evictOneEphemeral(w, t)) continue;
    // Hazard: a persistent page holds a store that succeeded; frontswap promises it loads
    // back until invalidated (frontswap.rst: "once a page is successfully stored, a matching
    // load ... will always succeed"). Taking it back loses swapped-out data.
    if (!w.fault('tmem-host-reclaims-persistent')) break;
    // Every ephemeral page is on the LRU, which is empty now: a pool with pages is persistent.
    const victim = t.pools.find((p) => p.pages.size > 0);
    if (!victim) break;
    dropPage(w, t, victim, victim.pages.keys().next().value as number);
  }
  return freed;
}

/** Teardown: every pool is destroyed with its guests (tmem_destroy on domain destruction). */
export function tmemFreeAll(w: World): void {
  const t = tmemWorld(w);
  for (const p of t.pools) for (const key of [...p.pages.keys()]) dropPage(w, t, p, key);
}

/** Whether hfn is the frame the backend keeps for (pool, key) (ownership check). */
export function tmemHolds(w: World, pool: number, key: number, hfn: number): boolean {
  return tmemWorld(w).pools[pool]?.pages.get(key) === hfn;
}

export function tmemUsed(w: World): number {
  return tmemWorld(w).used;
}
