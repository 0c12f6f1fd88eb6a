/**
 * Generators for issue 4's operations (page caches, shared page cache, tmem, swap, reclaim,
 * OOM), choosing from the live state: cached pages (dirty and mapped ones first), pages
 * under writeback, host cache pages that are double cached, granted DAX files, swappable
 * pages, an OOM waiting for its kill. Edge values are biased in: the last page of a file,
 * colliding tmem keys, allocations sized to cross the watermarks or exhaust the guest.
 */
import fc from 'fast-check';
import { daxWorld, SHARED_FILE_PAGES, SHARED_FILES, windowGfn } from '../../model/dax/shared-cache';
import type { Guest } from '../../model/guest/guest';
import { isDirty, isMapped } from '../../model/pagecache/cache';
import { blockKey, FILE_PAGES, FILES_PER_DISK, FILES_PER_GUEST } from '../../model/pagecache/layout';
import { cacheOf, pcWorld, type CachePage } from '../../model/pagecache/state';
import { POPULATE_PAGES_MAX } from '../../model/ops/pressure';
import { cmmPages } from '../../model/reclaim/cmm';
import { hogsOf } from '../../model/reclaim/hog';
import { oomBadness } from '../../model/reclaim/oom';
import { unmappedCount, upcLimit } from '../../model/pagecache/unmapped-control';
import { swappableAnon } from '../../model/reclaim/measure';
import { reclaimOf } from '../../model/reclaim/state';
import { guestSwapOf } from '../../model/swap/guest-swap';
import { allPools, TMEM_INDEX_SPAN } from '../../model/tmem/backend';
import { CC_INDEXES, CC_INODES } from '../../model/tmem/cleancache';
import type { World } from '../../model/world';
import type { Operation } from '../contract';
import { guestOf, nthKey, pick, procOf, vpnIn, type Choice, type Gen } from './pick';

/** Virtual page regions of this mappings (clear of the core generator's VMAs). */
const FILE_VPN_BASE = 1 << 22;
const DAX_VPN_BASE = 1 << 23;
const POPULATE_VPN_BASE = 1 << 24;
/** Pages a generated populate asks for at most (large ones cost a fault each; hogs are cheaper pressure). */
const POPULATE_GEN_MAX = 128;
/** Pages a generated hog asks for at most (with the boot reservation that is enough to exhaust a guest). */
const HOG_GEN_MAX = 1536;

function fileIndex(c: number): number {
  switch (c % 5) {
    case 0: return 0;
    case 1: return FILE_PAGES - 1;
    default: return Math.floor(c / 5) % 4;
  }
}

/** A cached page of g: the first that `prefer` accepts when c says so, else any. */
function cachedPage(g: Guest, c: number, prefer?: (p: CachePage) => boolean): CachePage | undefined {
  const pages = [...cacheOf(g).pages.values()];
  if (prefer && c % 3 !== 2) {
    const hot = pages.filter(prefer);
    if (hot.length > 0) return pick(hot, c >> 2);
  }
  return pick(pages, c);
}

/** A guest with something to act on, else the drawn one. */
function guestWith(w: World, c: number, has: (g: Guest) => boolean): Guest | undefined {
  const gs = w.guests.filter(has);
  return gs.length === 0 ? undefined : pick(gs, c);
}

/**
 * An operation on one file page: a cached page (the ones `prefer` likes first) or any page.
 * Kinds that need a cached page build it when the guest has none (`lacking`: read or write it).
 */
function filePageOp(w: World, c: Choice, kind: string, prefer?: (w: World, g: Guest, p: CachePage) => boolean, lacking?: string): Operation | null {
  const g = guestOf(w, c[1]);
  const page = c[2] % 4 !== 3 ? cachedPage(g, c[3], prefer && ((p) => prefer(w, g, p))) : undefined;
  const file = page?.file ?? c[3] % FILES_PER_GUEST;
  const index = page?.index ?? fileIndex(c[2] >> 1);
  return { kind: !page && lacking && cacheOf(g).pages.size === 0 ? lacking : kind, args: { guest: g.id, file, index } };
}

/** A touch of an object-backed VMA of this kind, if the process has one: what makes its pages mapped. */
function touchObjectVma(w: World, c: Choice, kind: string, how?: 'read' | 'write'): Operation | null {
  // Any process with such a VMA (not only the drawn one).
  const all: { g: Guest; pid: number; v: { start: number; end: number; prot: { write: boolean } } }[] = [];
  for (const g of w.guests) for (const p of g.processes.values()) for (const v of p.vmas) if (v.object?.kind === kind && (how !== 'write' || v.prot.write)) all.push({ g, pid: p.pid, v });
  const x = pick(all, c[1] + c[2]);
  if (!x) return null;
  const vpn = vpnIn(x.v as never, c[3] % 8 === 3 ? 0 : c[3]);
  const write = how ? how === 'write' : x.v.prot.write && c[3] % 3 !== 0;
  return { kind: write ? 'guest.write' : 'guest.read', args: { guest: x.g.id, pid: x.pid, vpn } };
}

function apiPools(w: World): number[] {
  return allPools(w).filter((p) => p.use === 'api' && p.kind === 'ephemeral').map((p) => p.id);
}

/** A cleancache API pool: the guest's own, the shared one, or (sometimes) another guest's private pool. */
function ccPool(w: World, g: Guest, c: number): number | undefined {
  const pools = allPools(w).filter((p) => p.use === 'api' && p.kind === 'ephemeral');
  const own = pools.filter((p) => p.members.has(g.id));
  const foreign = pools.filter((p) => !p.members.has(g.id));
  if (foreign.length > 0 && c % 4 === 3) return pick(foreign, c >> 2)!.id;
  return pick(own, c)?.id ?? pick(apiPools(w), c);
}

function ccOp(w: World, c: Choice, kind: string, extra: Record<string, number | string> = {}): Operation | null {
  const g = guestOf(w, c[1]);
  const pool = ccPool(w, g, c[2]);
  if (pool === undefined) return null;
  // An inode the pool already holds pages of, half the time: puts fill it, invalidations hit it.
  const held = [...(allPools(w)[pool]?.pages.keys() ?? [])].map((k) => Math.floor(k / TMEM_INDEX_SPAN));
  const inode = held.length > 0 && c[3] % 2 === 0 ? pick(held, c[3] >> 1)! : c[3] % 3 === 0 ? 0 : c[3] % CC_INODES;
  // Few keys, so puts, gets and invalidations of the same key meet.
  return { kind, args: { guest: g.id, pool, inode, index: (c[3] >> 2) % 3 % CC_INDEXES, ...extra } };
}

export const pressureGenerators: Record<string, Gen> = {
  // ---- page cache ----
  // A third of file reads and writes go through a shared mapping the process has of the file.
  'file.read': (w, c) => (c[2] % 3 === 1 && touchObjectVma(w, c, 'file', 'read')) || filePageOp(w, c, 'file.read', (w, g, p) => isDirty(w, g, p) || p.writeback),
  'file.write': (w, c) => (c[2] % 3 === 1 && touchObjectVma(w, c, 'file', 'write')) || filePageOp(w, c, 'file.write', (_w, g, p) => isMapped(g, p)),
  'file.mmap': (w, c) => {
    const x = procOf(w, c[1]);
    if (!x) return null;
    // Mostly, touch a file mapping that exists (faults the page in, dirties it).
    if (c[2] % 4 !== 0) {
      const t = touchObjectVma(w, c, 'file');
      if (t) return t;
    }
    const file = c[2] % FILES_PER_GUEST;
    const pgoff = c[3] % 3 === 0 ? c[3] % FILE_PAGES : 0;
    const pages = c[3] % 2 === 0 ? FILE_PAGES - pgoff : 1 + ((c[3] >> 1) % (FILE_PAGES - pgoff));
    return { kind: 'file.mmap', args: { guest: x.g.id, pid: x.p.pid, file, pgoff, vpn: FILE_VPN_BASE + (c[2] % 32) * FILE_PAGES, pages, write: c[2] % 4 !== 3 } };
  },
  'file.fsync': (w, c) => {
    const g = guestOf(w, c[1]);
    const dirty = [...cacheOf(g).pages.values()].filter((p) => isDirty(w, g, p));
    const file = c[2] % 3 !== 2 && dirty.length > 0 ? pick(dirty, c[3])!.file : c[3] % FILES_PER_GUEST;
    return { kind: 'file.fsync', args: { guest: g.id, file } };
  },
  'file.writeback': (w, c) => filePageOp(w, c, 'file.writeback', (w, g, p) => !p.writeback && isDirty(w, g, p), 'file.write'),
  'file.evict': (w, c) => filePageOp(w, c, 'file.evict', (w, g, p) => isMapped(g, p) || isDirty(w, g, p), 'file.read'),
  'io.complete': (w, c) => {
    const g = guestWith(w, c[1], (x) => cacheOf(x).io.length > 0);
    if (g) return { kind: 'io.complete', args: { guest: g.id } };
    // Nothing in flight: start a writeback (or a swap-out) for a later completion.
    return c[2] % 2 === 0 ? filePageOp(w, c, 'file.writeback', (w, g, p) => !p.writeback && isDirty(w, g, p), 'file.write') : pressureGenerators['swap.out']!(w, c);
  },
  'guest.crash': (w, c): Operation | null => {
    // A crash tests durability: mostly crash the guest with the most cached data at stake
    // (dirty pages, those dirtied through mappings included); a third of the time make
    // something durable first (fsync one of its files).
    const atStake = (g: Guest) => [...cacheOf(g).pages.values()].filter((p) => isDirty(w, g, p) || isMapped(g, p));
    const ranked = [...w.guests].sort((a, b) => atStake(b).length - atStake(a).length);
    const g = c[2] % 4 === 0 ? guestOf(w, c[1]) : ranked[0]!;
    const dirty = atStake(g).filter((p) => isDirty(w, g, p));
    if (dirty.length > 0 && c[2] % 3 === 1) return { kind: 'file.fsync', args: { guest: g.id, file: pick(dirty, c[3])!.file } };
    return { kind: 'guest.crash', args: { guest: g.id } };
  },
  'host.pagecache.writeback': (w, c) => hostBlock(w, c, 'host.pagecache.writeback', (dirty) => dirty),
  'host.pagecache.evict': (w, c) => hostBlock(w, c, 'host.pagecache.evict', (dirty, dc) => !dirty && (dc || c[3] % 2 === 0)),
  'upc.reclaim': (w, c): Operation | null => {
    const g = guestOf(w, c[1]);
    // Under the limit: cache one more unmapped page first (the pass has nothing to do until then).
    if (upcLimit(w) >= 0 && unmappedCount(g) <= upcLimit(w) && c[2] % 2 === 0) {
      const free = [...Array(FILES_PER_GUEST * FILE_PAGES).keys()].find((k) => !cacheOf(g).pages.has((k + c[3]) % (FILES_PER_GUEST * FILE_PAGES)));
      if (free !== undefined) {
        const key = (free + c[3]) % (FILES_PER_GUEST * FILE_PAGES);
        return { kind: 'file.read', args: { guest: g.id, file: Math.floor(key / FILE_PAGES), index: key % FILE_PAGES } };
      }
    }
    return { kind: 'upc.reclaim', args: { guest: g.id } };
  },
  // ---- shared page cache ----
  'dax.grant': (w, c) => ({ kind: 'dax.grant', args: { guest: guestOf(w, c[1]).id, file: c[2] % SHARED_FILES, write: c[3] % 3 === 0 } }),
  'dax.revoke': (w, c) => {
    const s = daxWorld(w);
    const keys = [...s.grants.keys()];
    const k = pick(keys, c[1]);
    if (!k) return pressureGenerators['dax.grant']!(w, c);
    const [guest, file] = k.split(':').map(Number);
    return { kind: 'dax.revoke', args: { guest: guest!, file: file! } };
  },
  'dax.mmap': (w, c) => {
    const x = procOf(w, c[1]);
    if (!x) return null;
    if (c[2] % 2 === 1) {
      const t = touchObjectVma(w, c, 'dax');
      if (t) return t;
    }
    return { kind: 'dax.mmap', args: { guest: x.g.id, pid: x.p.pid, file: c[2] % SHARED_FILES, vpn: DAX_VPN_BASE + (c[3] % 16) * SHARED_FILE_PAGES, write: c[2] % 3 !== 2 } };
  },
  'dax.host.write': (_w, c) => ({ kind: 'dax.host.write', args: { file: c[2] % SHARED_FILES, index: c[3] % 4 === 0 ? SHARED_FILE_PAGES - 1 : c[3] % SHARED_FILE_PAGES } }),
  'dax.host.evict': (w, c) => {
    const s = daxWorld(w);
    const keys = [...s.cache.keys()];
    const mapped = keys.filter((k) => w.guests.some((g) => g.backing.get(windowGfn(g, Math.floor(k / SHARED_FILE_PAGES), k % SHARED_FILE_PAGES)) !== undefined));
    const k = c[2] % 3 !== 2 && mapped.length > 0 ? pick(mapped, c[3]) : pick(keys, c[3]);
    return k === undefined ? touchObjectVma(w, c, 'dax') : { kind: 'dax.host.evict', args: { file: Math.floor(k / SHARED_FILE_PAGES), index: k % SHARED_FILE_PAGES } };
  },
  // ---- cleancache ----
  'cleancache.put': (w, c) => {
    // Mostly grow an inode the guest's pools already hold: a new index of it.
    const g = guestOf(w, c[1]);
    const own = allPools(w).filter((p) => p.use === 'api' && p.kind === 'ephemeral' && p.members.has(g.id) && p.pages.size > 0);
    const p = c[2] % 3 !== 2 ? pick(own, c[2]) : undefined;
    if (!p) return ccOp(w, c, 'cleancache.put');
    const keys = [...p.pages.keys()];
    const inode = Math.floor(pick(keys, c[3])! / TMEM_INDEX_SPAN);
    const index = [...Array(CC_INDEXES).keys()].find((i) => !p.pages.has(inode * TMEM_INDEX_SPAN + ((i + c[3]) % CC_INDEXES)));
    return { kind: 'cleancache.put', args: { guest: g.id, pool: p.id, inode, index: ((index ?? 0) + c[3]) % CC_INDEXES } };
  },
  'cleancache.get': (w, c) => {
    // Mostly a key the pool holds now (a hit, or one an invalidation should have removed);
    // with nothing held, a put first.
    const g = guestOf(w, c[1]);
    const pool = ccPool(w, g, c[2]);
    const held = pool === undefined ? [] : [...(allPools(w)[pool]?.pages.keys() ?? [])];
    if (held.length === 0 && c[3] % 2 === 0) return ccOp(w, c, 'cleancache.put');
    const key = c[3] % 3 !== 2 ? pick(held, c[3] >> 2) : undefined;
    if (pool !== undefined && key !== undefined) return { kind: 'cleancache.get', args: { guest: g.id, pool, inode: Math.floor(key / TMEM_INDEX_SPAN), index: key % TMEM_INDEX_SPAN } };
    return ccOp(w, c, 'cleancache.get');
  },
  'cleancache.invalidate': (w, c) => {
    // Invalidating an inode means most when it holds several pages: fill one first if none does.
    const g = guestOf(w, c[1]);
    const pool = ccPool(w, g, c[2]);
    const inodes = new Map<number, number>();
    for (const k of allPools(w)[pool ?? -1]?.pages.keys() ?? []) inodes.set(Math.floor(k / TMEM_INDEX_SPAN), (inodes.get(Math.floor(k / TMEM_INDEX_SPAN)) ?? 0) + 1);
    const full = [...inodes].filter(([, n]) => n >= 2).map(([i]) => i);
    if (pool !== undefined && full.length === 0 && c[3] % 3 !== 0) return ccOp(w, c, 'cleancache.put');
    const scope = pick(['inode', 'page', 'inode', 'fs'], c[2] >> 2)!;
    const op = ccOp(w, c, 'cleancache.invalidate', { scope });
    if (op && pool !== undefined && full.length > 0) return { kind: op.kind, args: { ...op.args, pool, inode: pick(full, c[3])! } };
    return op;
  },
  // Sometimes more than the ephemeral pages there are: the host must stop at the persistent ones.
  'tmem.host.reclaim': (w, c) => ({ kind: 'tmem.host.reclaim', args: { pages: Math.min(64, c[2] % 2 === 0 ? ephemeralPages(w) + 1 + (c[3] % 4) : 1 + (c[3] % 8)) } }),
  // ---- frontswap ----
  'frontswap.store': (w, c) => {
    // Often a duplicate: an offset that holds a page, and then half the time the host refuses it.
    const g = guestOf(w, c[1]);
    const held = fsHeld(w, g);
    const offset = held.length > 0 && c[2] % 2 === 0 ? pick(held, c[2] >> 1)! : c[2] % 3;
    return { kind: 'frontswap.store', args: { guest: g.id, offset, refused: held.includes(offset) ? c[3] % 2 === 0 : c[3] % 4 === 0 } };
  },
  'frontswap.load': (w, c) => {
    const g = guestOf(w, c[1]);
    const held = fsHeld(w, g);
    return { kind: 'frontswap.load', args: { guest: g.id, offset: held.length > 0 && c[2] % 3 !== 2 ? pick(held, c[2])! : c[2] % 3 } };
  },
  'frontswap.invalidate': (w, c) => ({ kind: 'frontswap.invalidate', args: { guest: guestOf(w, c[1]).id, offset: c[2] % 3, area: c[3] % 5 === 0 } }),
  // ---- swap ----
  'swap.out': (w, c) => {
    const g = guestOf(w, c[1]);
    const a = pick(swappableAnon(g), c[2]);
    if (a) return { kind: 'swap.out', args: { guest: g.id, pid: a.pid, vpn: a.vpn } };
    // No anonymous page yet: touch the swapped-out pages back in, or make some.
    const swapped = [...guestSwapOf(w, g).ptes.values()];
    const e = pick(swapped, c[3]);
    if (e && c[2] % 2 === 0) return { kind: 'guest.read', args: { guest: g.id, pid: e.pid, vpn: e.vpn } };
    return pressureGenerators['mm.populate']!(w, c);
  },
  // ---- reclaim and OOM ----
  'mm.populate': (w, c) => {
    const x = procOf(w, c[1]);
    if (!x) return null;
    // Anonymous pages for reclaim to swap: small regions (the hogs make the pressure).
    const pages = c[2] % 4 === 0 ? POPULATE_GEN_MAX : 1 + (c[3] % 32);
    return { kind: 'mm.populate', args: { guest: x.g.id, pid: x.p.pid, vpn: POPULATE_VPN_BASE + (c[3] % 64) * POPULATE_PAGES_MAX, pages } };
  },
  'mm.hog': (w, c) => {
    const g = guestOf(w, c[1]);
    const free = g.buddy.freePages();
    // Small; just below the low watermark (kswapd's cue); or more than is free (OOM).
    const pages = c[2] % 3 === 0 ? 1 + (c[3] % 64) : c[2] % 3 === 1 ? free - g.buddy.watermarks().low + 8 : free + 8;
    return { kind: 'mm.hog', args: { guest: g.id, pages: Math.max(1, Math.min(HOG_GEN_MAX, pages)) } };
  },
  'mm.unhog': (w, c) => {
    const g = guestWith(w, c[1], (x) => hogsOf(x).held.size > 0);
    const id = g && nthKey(hogsOf(g).held, c[2]);
    return g && id !== undefined ? { kind: 'mm.unhog', args: { guest: g.id, hog: id } } : pressureGenerators['mm.hog']!(w, c);
  },
  'reclaim.kswapd': (w, c): Operation | null => {
    const low = guestWith(w, c[1], (x) => x.buddy.freePages() < x.buddy.watermarks().low);
    if (low) return { kind: 'reclaim.kswapd', args: { guest: low.id } };
    // Nobody below low: take a guest there first (kswapd's wakeup condition).
    const g = guestOf(w, c[1]);
    if (c[2] % 3 === 0) return { kind: 'reclaim.kswapd', args: { guest: g.id } };
    return { kind: 'mm.hog', args: { guest: g.id, pages: Math.max(1, Math.min(HOG_GEN_MAX, g.buddy.freePages() - g.buddy.watermarks().low + 8)) } };
  },
  'reclaim.shrink': (w, c) => ({ kind: 'reclaim.shrink', args: { guest: guestOf(w, c[1]).id, pages: c[2] % 3 === 0 ? 4096 : 1 + (c[3] % 64) } }),
  'oom.adj': (w, c) => {
    const x = procOf(w, c[1]);
    if (!x) return null;
    // Half the time: the process the OOM killer would pick, made unkillable.
    if (c[2] % 2 === 0) {
      const top = [...x.g.processes.values()].map((p) => ({ p, b: oomBadness(w, x.g, p) })).sort((a, b) => b.b - a.b)[0];
      if (top) return { kind: 'oom.adj', args: { guest: x.g.id, pid: top.p.pid, adj: -1000 } };
    }
    return { kind: 'oom.adj', args: { guest: x.g.id, pid: x.p.pid, adj: pick([-1000, 0, 1000, -500, 500], c[2] >> 1)! } };
  },
  'oom.kill': (w, c): Operation | null => {
    const g = guestWith(w, c[1], (x) => reclaimOf(x).oomPending !== null);
    if (g) return { kind: 'oom.kill', args: { guest: g.id } };
    // No OOM yet: exhaust a guest that has processes to kill.
    const x = procOf(w, c[1]);
    return x ? { kind: 'mm.hog', args: { guest: x.g.id, pages: Math.max(1, Math.min(HOG_GEN_MAX, x.g.buddy.freePages() + 8)) } } : null;
  },
  // Mostly a few pages (enough to prove the notifier chain ran), sometimes more than one notifier call returns.
  'cmm.alloc': (w, c) => ({ kind: 'cmm.alloc', args: { guest: guestOf(w, c[1]).id, pages: c[2] % 4 === 0 ? 257 + (c[3] % 64) : 1 + (c[3] % 32) } }),
  'cmm.free': (w, c) => {
    const g = guestWith(w, c[1], (x) => cmmPages(x).length > 0);
    return g ? { kind: 'cmm.free', args: { guest: g.id, pages: 1 + (c[2] % 300) } } : pressureGenerators['cmm.alloc']!(w, c);
  },
};

/** Ephemeral tmem pages the host holds (cleancache). */
function ephemeralPages(w: World): number {
  return allPools(w).filter((p) => p.kind === 'ephemeral').reduce((n, p) => n + p.pages.size, 0);
}

/** Offsets of g's frontswap API area that hold a page. */
function fsHeld(w: World, g: Guest): number[] {
  const p = allPools(w).find((x) => x.kind === 'persistent' && x.use === 'api' && x.owner === g.id);
  return p ? [...p.pages.keys()] : [];
}

/** A host page-cache block of some guest's disk that `want` accepts (dirty, double cached). */
function hostBlock(w: World, c: Choice, kind: string, want: (dirty: boolean, doubleCached: boolean) => boolean): Operation | null {
  const pc = pcWorld(w);
  const all: { guest: number; disk: number; block: number }[] = [];
  for (const row of pc.disks)
    for (const d of row)
      for (const [block, h] of d.hostCache) if (want(h.dirty, pc.doubleCached.has(blockKey(d.guest, d.disk, block)))) all.push({ guest: d.guest, disk: d.disk, block });
  const b = pick(all, c[2]);
  // No such block: read a page of a writeback-cached disk so the host caches it.
  if (!b) return { kind: 'file.read', args: { guest: guestOf(w, c[1]).id, file: c[3] % FILES_PER_DISK, index: fileIndex(c[3]) } };
  return { kind, args: b };
}

/** Swarm options of issue 4's mechanisms. */
export const pressureOptionArbs: Readonly<Record<string, fc.Arbitrary<number | boolean | string>>> = {
  'page-cache.cacheModes': fc.constantFrom('mixed', 'writeback', 'none'),
  'unmapped-page-control.limit': fc.constantFrom(-1, 0, 4, 16),
  'shared-page-cache.grants': fc.constantFrom('ro', 'mixed', 'none'),
  'cleancache.enabled': fc.boolean(),
  'frontswap.enabled': fc.boolean(),
  'tmem.frames': fc.constantFrom(8, 64),
  'swap.slots': fc.constantFrom(0, 16, 64, 256),
  'reclaim.bootOfflinePercent': fc.constantFrom(0, 75, 90, 90),
};
