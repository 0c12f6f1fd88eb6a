/**
 * The virtual disks as the host serves them (disk.ts) and where files sit on them (layout.ts):
 * - cache=none (O_DIRECT, QEMU BDRV_O_NOCACHE): a completed guest write is on the medium and
 *   the host caches nothing; cache=writeback: it sits dirty in the host page cache;
 * - the host page-cache states of a block: a write to a clean host page is one clean -> dirty
 *   edge, a rewrite of a dirty page none;
 * - the host's own eviction of a full image cache takes the oldest clean page before any dirty
 *   one (mm/vmscan.c shrink_folio_list: a dirty file folio is not written from reclaim while
 *   clean ones can be freed; it is rotated with PG_reclaim);
 * - the injected double-cache-count-misses-host-evict skips the ledger update of the explicit
 *   host eviction only: the LRU's drop and teardown's still make it;
 * - teardown closes each image (block.c bdrv_close -> bdrv_flush): dirty host pages reach the
 *   medium, clean ones cause no write, every host page-cache frame goes back;
 * - hostCacheHolds (the ownership check) answers for exactly one hfn, and false for a
 *   (guest, disk) that does not exist;
 * - fileAt inverts (diskOf, blockOf) on every disk; the double-caching ledger counts a block of
 *   the second disk under the right key.
 */
import { machine, PAGE_CACHE_ONLY as BASE, pageCacheStepper, scenario, type Stepper } from '../../fuzz/testing/scenario';
import { dropHostCaches, hostCacheHolds } from './disk';
import { blockKey, blockOf, DISKS_PER_GUEST, diskOf, FILE_PAGES, fileAt, FILES_PER_GUEST, HOST_CACHE_PAGES_MAX } from './layout';
import { pcWorld } from './state';



/** file.write, file.writeback, io.complete: the write reaches the device. Returns the version. */
function writeThrough(s: Stepper, file: number, index: number): number {
  const w = s.apply('file.write', { guest: 0, file, index });
  if (!w.ok || w.value === undefined) throw new Error(`file.write ${file}/${index}: ${String(w.error)}`);
  expect(s.apply('file.writeback', { guest: 0, file, index })).toEqual({ ok: true });
  expect(s.apply('io.complete', { guest: 0 })).toEqual({ ok: true });
  return w.value;
}

const edges = (s: Stepper, k: string): number => s.world.transitions.get('page-cache')?.get(k) ?? 0;

describe('a completed guest write, by cache mode', () => {
  it('cache=none: on the medium, nothing in the host cache; cache=writeback: dirty in the host cache, not yet on the medium', () => {
    // Mixed mode: disk 0 (files 0..3) writeback, disk 1 (files 4..7) none.
    const s = pageCacheStepper();
    const v4 = writeThrough(s, 4, 3);
    const v0 = writeThrough(s, 0, 3);
    const [d0, d1] = pcWorld(s.world).disks[0]!;
    expect([d1!.mode, d1!.hostCache.size, d1!.medium.get(3)]).toEqual(['none', 0, { kind: 'data', writer: 0, version: v4 }]);
    expect([d0!.mode, d0!.hostCache.get(3)?.dirty, d0!.medium.has(3)]).toEqual(['writeback', true, false]);
    expect(v0).toBeGreaterThan(v4);
    expect(s.broke()).toEqual([]);
  });
});

describe('the host page-cache states of a block', () => {
  it('a write to a clean host page is one host-clean -> host-dirty edge; a rewrite of the dirty page adds none', () => {
    const s = pageCacheStepper();
    writeThrough(s, 0, 5);
    expect(pcWorld(s.world).disks[0]![0]!.hostCache.get(5)?.dirty).toBe(true);
    expect(s.apply('host.pagecache.writeback', { guest: 0, disk: 0, block: 5 })).toEqual({ ok: true });
    expect(pcWorld(s.world).disks[0]![0]!.hostCache.get(5)?.dirty).toBe(false);
    const before = edges(s, 'host-clean->host-dirty');
    writeThrough(s, 0, 5);
    expect(edges(s, 'host-clean->host-dirty')).toBe(before + 1);
    writeThrough(s, 0, 5);
    expect(edges(s, 'host-clean->host-dirty')).toBe(before + 1);
    expect(pcWorld(s.world).disks[0]![0]!.hostCache.get(5)?.dirty).toBe(true);
    expect(s.broke()).toEqual([]);
  });
});

describe("the host's eviction of a full image cache", () => {
  it('takes the oldest clean page even when an older dirty one exists; the dirty page stays, unwritten', () => {
    const s = pageCacheStepper();
    // Block 0 first and dirty, then blocks 1..31 read (clean): the cache is full.
    const v = writeThrough(s, 0, 0);
    for (let b = 1; b < HOST_CACHE_PAGES_MAX; b++) expect(s.apply('file.read', { guest: 0, file: Math.floor(b / FILE_PAGES), index: b % FILE_PAGES }).ok).toBe(true);
    const d = pcWorld(s.world).disks[0]![0]!;
    expect([d.hostCache.size, [...d.hostCache.keys()][0], d.hostCache.get(0)?.dirty]).toEqual([HOST_CACHE_PAGES_MAX, 0, true]);
    // Block 32 (file 2 page 0) needs room.
    expect(s.apply('file.read', { guest: 0, file: 2, index: 0 }).ok).toBe(true);
    expect([d.hostCache.size, d.hostCache.has(0), d.hostCache.get(0)?.dirty, d.hostCache.has(1), d.hostCache.has(2), d.hostCache.has(32)]).toEqual([HOST_CACHE_PAGES_MAX, true, true, false, true, true]);
    // Nothing was written: block 0 is still only in the host cache, block 1 was clean.
    expect([d.medium.has(0), d.medium.has(1)]).toEqual([false, false]);
    expect(s.apply('host.pagecache.writeback', { guest: 0, disk: 0, block: 0 })).toEqual({ ok: true });
    expect(d.medium.get(0)).toEqual({ kind: 'data', writer: 0, version: v });
    expect(s.broke()).toEqual([]);
  });
});

describe('the injected double-cache-count-misses-host-evict loses the ledger update of the explicit host eviction only', () => {
  it("the LRU eviction of a full image cache and teardown still keep the ledger exact; host.pagecache.evict leaves a stale entry", () => {
    const s = pageCacheStepper({ 'page-cache.cacheModes': 'writeback' }, ['double-cache-count-misses-host-evict']);
    // Blocks 0..32 read: the 33rd read makes room by dropping block 0, the oldest clean page ('lru').
    for (let b = 0; b <= HOST_CACHE_PAGES_MAX; b++) expect(s.apply('file.read', { guest: 0, file: Math.floor(b / FILE_PAGES), index: b % FILE_PAGES }).ok).toBe(true);
    const d = pcWorld(s.world).disks[0]![0]!;
    expect([d.hostCache.size, d.hostCache.has(0), pcWorld(s.world).doubleCached.has(blockKey(0, 0, 0))]).toEqual([HOST_CACHE_PAGES_MAX, false, false]);
    expect(s.r.violation).toBeNull();
    expect(s.apply('host.pagecache.evict', { guest: 0, disk: 0, block: 1 })).toEqual({ ok: true });
    expect(s.broke()).toEqual(['double-caching-exact|counted-single-copy']);
    // Teardown ('close') still clears the entry of every block it drops; only the stale one stays.
    dropHostCaches(s.world);
    expect([...pcWorld(s.world).doubleCached]).toEqual([blockKey(0, 0, 1)]);
  });
});

describe('teardown: QEMU closes each image (bdrv_close flushes it) and the host drops its pages', () => {
  it('a dirty host page reaches the medium, a clean one causes no write; every frame and ledger entry goes', () => {
    const s = pageCacheStepper({ 'page-cache.cacheModes': 'writeback' });
    const v = writeThrough(s, 0, 0);
    expect(s.apply('file.read', { guest: 0, file: 0, index: 1 })).toEqual({ ok: true, value: 0 });
    expect(s.apply('file.read', { guest: 0, file: 4, index: 2 })).toEqual({ ok: true, value: 0 });
    const [d0, d1] = pcWorld(s.world).disks[0]!;
    expect([d0!.hostCache.size, d1!.hostCache.size, pcWorld(s.world).doubleCached.size]).toEqual([2, 1, 3]);
    const free = s.world.hostBuddy.freePages();
    dropHostCaches(s.world);
    expect([d0!.hostCache.size, d1!.hostCache.size, pcWorld(s.world).doubleCached.size]).toEqual([0, 0, 0]);
    expect(s.world.hostBuddy.freePages()).toBe(free + 3);
    expect(d0!.medium.get(0)).toEqual({ kind: 'data', writer: 0, version: v });
    expect([d0!.medium.has(1), d1!.medium.has(2)]).toEqual([false, false]);
  });
});

describe('hostCacheHolds (the ownership check of a host page-cache frame)', () => {
  it('true for the frame of (guest, disk, block) only; false for another frame, block, disk or guest', () => {
    const r = scenario(machine({ ...BASE, 'page-cache.cacheModes': 'writeback' }), [{ kind: 'file.read', args: { guest: 0, file: 0, index: 0 } }]);
    const hfn = pcWorld(r.world).disks[0]![0]!.hostCache.get(0)!.hfn;
    expect(hostCacheHolds(r.world, 0, 0, 0, hfn)).toBe(true);
    expect(hostCacheHolds(r.world, 0, 0, 0, hfn + 1)).toBe(false);
    expect(hostCacheHolds(r.world, 0, 0, 1, hfn)).toBe(false);
    expect(hostCacheHolds(r.world, 0, 1, 0, hfn)).toBe(false);
    expect(hostCacheHolds(r.world, 0, DISKS_PER_GUEST, 0, hfn)).toBe(false);
    expect(hostCacheHolds(r.world, 1, 0, 0, hfn)).toBe(false);
  });
});

describe('the layout', () => {
  it('fileAt(diskOf(f), blockOf(f, i)) is (f, i) for every page of every file', () => {
    const wrong: string[] = [];
    for (let file = 0; file < FILES_PER_GUEST; file++)
      for (let index = 0; index < FILE_PAGES; index++) {
        const at = fileAt(diskOf(file), blockOf(file, index));
        if (at.file !== file || at.index !== index) wrong.push(`${file}/${index} -> ${at.file}/${at.index}`);
      }
    expect(wrong).toEqual([]);
    expect(fileAt(1, 0)).toEqual({ file: 4, index: 0 });
  });

  it('a page of the second disk, cached by both, is counted double cached under its own block', () => {
    const s = pageCacheStepper({ 'page-cache.cacheModes': 'writeback' });
    expect(s.apply('file.read', { guest: 0, file: 5, index: 3 }).ok).toBe(true);
    expect([...pcWorld(s.world).doubleCached]).toEqual([blockKey(0, 1, blockOf(5, 3))]);
    expect(s.apply('file.evict', { guest: 0, file: 5, index: 3 })).toEqual({ ok: true });
    expect([...pcWorld(s.world).doubleCached]).toEqual([]);
    expect(s.broke()).toEqual([]);
  });
});
