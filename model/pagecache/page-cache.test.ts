/**
 * The page caches: behaviour on small deterministic traces, and the scenario of every injected
 * fault of page-cache and unmapped-page-control: the property fails with the fault and holds
 * without it.
 */
import type { OpResult } from '../result';
import { kinds, machine, op, scenario, PAGE_CACHE_ONLY as BASE } from '../../fuzz/testing/scenario';
import { isDirty, lookupPage, takeReferenced } from './cache';
import { PTE_ACCESSED } from '../constants';
import { findSlot } from '../guest/page-tables';
import { diskPeek } from './disk';
import { blockKey, HOST_CACHE_PAGES_MAX } from './layout';
import { cacheOf, pcWorld } from './state';
import { unmappedCount } from './unmapped-control';

const V = 1 << 22;

const spawn = op('guest.spawn', { guest: 0 });
const mmapFile = (file: number, pages: number, write = true) => op('file.mmap', { guest: 0, pid: 1, file, pgoff: 0, vpn: V, pages, write });
/** Each step's outcome: 'ok' or its refusal code. */
const outcomes = (r: { results: readonly OpResult[] }) => r.results.map((x) => (x.ok ? 'ok' : x.error));

describe('page cache behaviour', () => {
  it('a write then a read returns the write; eviction writes a dirty page back first', () => {
    const r = scenario(machine(BASE), [op('file.write', { guest: 0, file: 1, index: 3 }), op('file.read', { guest: 0, file: 1, index: 3 }), op('file.evict', { guest: 0, file: 1, index: 3 }), op('file.read', { guest: 0, file: 1, index: 3 })]);
    expect(kinds(r)).toEqual([]);
    const v = r.results[0]!.ok && r.results[0]!.value;
    expect(v).toBeGreaterThan(0);
    expect(r.results[1]).toEqual({ ok: true, value: v });
    expect(r.results[3]).toEqual({ ok: true, value: v });
    const g = r.world.guests[0]!;
    expect(diskPeek(r.world, 0, 0, 16 + 3)).toEqual({ kind: 'data', writer: 0, version: v });
    expect(lookupPage(g, 1, 3)?.dirty).toBe(false);
  });

  it('a write through a shared mapping dirties only the PTE until mkclean or unmap moves it to the page', () => {
    const r = scenario(machine(BASE), [spawn, mmapFile(0, 4), op('guest.write', { guest: 0, pid: 1, vpn: V + 2 })]);
    expect(kinds(r)).toEqual([]);
    const g = r.world.guests[0]!;
    const page = lookupPage(g, 0, 2)!;
    expect(page.dirty).toBe(false);
    expect(isDirty(r.world, g, page)).toBe(true);
    const after = scenario(machine(BASE), [spawn, mmapFile(0, 4), op('guest.write', { guest: 0, pid: 1, vpn: V + 2 }), op('guest.munmap', { guest: 0, pid: 1, vpn: V, pages: 4 })]);
    expect(lookupPage(after.world.guests[0]!, 0, 2)?.dirty).toBe(true);
  });

  it('fsync makes the write durable: after a crash the fsynced write reads back, a later unsynced one may not', () => {
    const r = scenario(machine({ ...BASE, 'page-cache.cacheModes': 'none' }), [
      op('file.write', { guest: 0, file: 0, index: 0 }),
      op('file.fsync', { guest: 0, file: 0 }),
      op('file.write', { guest: 0, file: 0, index: 0 }),
      op('guest.crash', { guest: 0 }),
      op('file.read', { guest: 0, file: 0, index: 0 }),
    ]);
    expect(kinds(r)).toEqual([]);
    // cache=none, nothing written back since the fsync: the fsynced version comes back.
    expect(r.results[4]).toEqual({ ok: true, value: (r.results[0] as { value: number }).value });
  });

  it('counts double caching: a cache=writeback disk keeps a host copy, a cache=none disk does not', () => {
    const r = scenario(machine(BASE), [op('file.read', { guest: 0, file: 0, index: 0 }), op('file.read', { guest: 0, file: 4, index: 0 })]);
    const pc = pcWorld(r.world);
    expect([...pc.doubleCached]).toEqual([blockKey(0, 0, 0)]);
    expect(pc.disks[0]![1]!.hostCache.size).toBe(0);
  });

  it('unmapped page-cache control drops clean unmapped pages down to the limit, and nothing else', () => {
    const r = scenario(machine({ ...BASE, 'unmapped-page-control.limit': 1 }), [
      spawn,
      mmapFile(0, 1),
      op('guest.read', { guest: 0, pid: 1, vpn: V }),
      op('file.read', { guest: 0, file: 1, index: 0 }),
      op('file.read', { guest: 0, file: 1, index: 1 }),
      op('file.write', { guest: 0, file: 1, index: 2 }),
      op('upc.reclaim', { guest: 0 }),
    ]);
    expect(kinds(r)).toEqual([]);
    const g = r.world.guests[0]!;
    expect(r.results[6]).toEqual({ ok: true, value: 2 }); // the two clean unmapped pages
    expect(unmappedCount(g)).toBe(1); // the dirty one stays (may_writepage = 0)
    expect(lookupPage(g, 1, 2)?.dirty).toBe(true);
    expect(lookupPage(g, 0, 0)).toBeDefined(); // the mapped page stays (may_unmap = 0)
    expect(cacheOf(g).pages.size).toBe(2);
  });
});

describe('folio_referenced: the accessed bits of the mappings', () => {
  it('a page used only through a mapping is referenced once: the harvest clears the PTE accessed bit', () => {
    const r = scenario(machine(BASE), [spawn, mmapFile(0, 4, false), op('guest.read', { guest: 0, pid: 1, vpn: V + 1 })]);
    expect(kinds(r)).toEqual([]);
    const g = r.world.guests[0]!;
    const page = lookupPage(g, 0, 1)!;
    // Whatever read(2)-style mark the fault left, harvest it first; the accessed bit remains.
    cacheOf(g).referenced.clear();
    const accessed = (): number => {
      const slot = findSlot(r.world, g, g.processes.get(1)!, V + 1, 1);
      if (slot === null || 'ok' in slot) throw new Error('no PTE for the mapped page');
      return (slot.entry?.flags ?? 0) & PTE_ACCESSED;
    };
    expect(accessed()).not.toBe(0);
    expect(takeReferenced(r.world, g, page)).toBe(true);
    expect(accessed()).toBe(0);
    expect(takeReferenced(r.world, g, page)).toBe(false);
  });
});

describe('page-cache fault scenarios', () => {
  it('unmap-drops-pte-dirty: evicting a page written only through a mapping drops the write', () => {
    const steps = [spawn, mmapFile(0, 4), op('guest.write', { guest: 0, pid: 1, vpn: V }), op('file.evict', { guest: 0, file: 0, index: 0 })];
    expect(kinds(scenario(machine(BASE, ['unmap-drops-pte-dirty']), steps))).toContain('dirty-page-never-dropped|dropped-dirty-page');
    expect(kinds(scenario(machine(BASE), steps))).toEqual([]);
  });

  it('unmap-drops-pte-dirty: a later read returns the stale contents', () => {
    const steps = [spawn, mmapFile(0, 4), op('guest.write', { guest: 0, pid: 1, vpn: V }), op('file.evict', { guest: 0, file: 0, index: 0 }), op('file.read', { guest: 0, file: 0, index: 0 })];
    expect(kinds(scenario(machine(BASE, ['unmap-drops-pte-dirty']), steps))).toContain('file-read-returns-last-write|stale-read');
  });

  it('fsync-skips-mapped-dirty: fsync returns without the mapped write on the medium; the crash loses it', () => {
    const steps = [spawn, mmapFile(0, 4), op('guest.write', { guest: 0, pid: 1, vpn: V }), op('file.fsync', { guest: 0, file: 0 }), op('guest.crash', { guest: 0 })];
    const bad = kinds(scenario(machine(BASE, ['fsync-skips-mapped-dirty']), steps));
    expect(bad).toContain('file-read-returns-last-write|fsync-not-durable');
    expect(bad).toContain('dirty-page-never-dropped|dropped-dirty-page');
    expect(kinds(scenario(machine(BASE), steps))).toEqual([]);
  });

  it('double-cache-count-misses-host-evict: the figure keeps a block the host evicted', () => {
    const steps = [op('file.read', { guest: 0, file: 0, index: 0 }), op('host.pagecache.evict', { guest: 0, disk: 0, block: 0 })];
    expect(kinds(scenario(machine(BASE, ['double-cache-count-misses-host-evict']), steps))).toEqual(['double-caching-exact|counted-single-copy']);
    expect(kinds(scenario(machine(BASE), steps))).toEqual([]);
  });

  it('upc-drops-dirty: unmapped page-cache control drops a dirty page', () => {
    const o = { ...BASE, 'unmapped-page-control.limit': 0 };
    const steps = [op('file.write', { guest: 0, file: 2, index: 1 }), op('upc.reclaim', { guest: 0 })];
    const bad = kinds(scenario(machine(o, ['upc-drops-dirty']), steps));
    expect(bad).toContain('unmapped-control-safe|dropped-a-dirty-page');
    expect(bad).toContain('dirty-page-never-dropped|dropped-dirty-page');
    expect(kinds(scenario(machine(o), steps))).toEqual([]);
  });

  it('upc-unmaps-mapped: unmapped page-cache control unmaps a page a process maps', () => {
    const o = { ...BASE, 'unmapped-page-control.limit': 0 };
    const steps = [spawn, mmapFile(0, 1), op('guest.read', { guest: 0, pid: 1, vpn: V }), op('file.read', { guest: 0, file: 0, index: 5 }), op('upc.reclaim', { guest: 0 })];
    expect(kinds(scenario(machine(o, ['upc-unmaps-mapped']), steps))).toContain('unmapped-control-safe|unmapped-a-mapped-page');
    expect(kinds(scenario(machine(o), steps))).toEqual([]);
  });
});

describe("the host's page cache of a cache=writeback image", () => {
  it('the flusher refuses a clean block; reclaim refuses a dirty one until it is written back; then both go through', () => {
    const r = scenario(machine(BASE), [
      op('file.read', { guest: 0, file: 0, index: 0 }),
      op('host.pagecache.writeback', { guest: 0, disk: 0, block: 0 }),
      op('file.write', { guest: 0, file: 0, index: 0 }),
      op('file.writeback', { guest: 0, file: 0, index: 0 }),
      op('io.complete', { guest: 0 }),
      op('host.pagecache.evict', { guest: 0, disk: 0, block: 0 }),
      op('host.pagecache.writeback', { guest: 0, disk: 0, block: 0 }),
      op('host.pagecache.evict', { guest: 0, disk: 0, block: 0 }),
      op('file.read', { guest: 0, file: 0, index: 0 }),
    ]);
    expect(kinds(r)).toEqual([]);
    expect(outcomes(r)).toEqual(['ok', 'invalid', 'ok', 'ok', 'ok', 'busy', 'ok', 'ok', 'ok']);
    // The write reached the medium before the host dropped its copy: the read returns it.
    expect(r.results[8]).toEqual({ ok: true, value: (r.results[2] as { value: number }).value });
    expect(pcWorld(r.world).disks[0]![0]!.hostCache.has(0)).toBe(false);
  });
});

describe('reclaim of a page under writeback', () => {
  it('file.evict keeps a page whose writeback is in flight (busy) and frees it once the write completed', () => {
    const r = scenario(machine(BASE), [
      op('file.write', { guest: 0, file: 1, index: 3 }),
      op('file.writeback', { guest: 0, file: 1, index: 3 }),
      op('file.evict', { guest: 0, file: 1, index: 3 }),
      op('io.complete', { guest: 0 }),
      op('file.evict', { guest: 0, file: 1, index: 3 }),
      op('file.read', { guest: 0, file: 1, index: 3 }),
    ]);
    expect(kinds(r)).toEqual([]);
    expect(outcomes(r)).toEqual(['ok', 'ok', 'busy', 'ok', 'ok', 'ok']);
    // Read back from the disk after the eviction: the written version.
    expect(r.results[5]).toEqual({ ok: true, value: (r.results[0] as { value: number }).value });
  });
});

describe("the host page cache's own eviction (makeRoom)", () => {
  it('with all 32 pages dirty, the next block writes the oldest back to the medium and drops it; nothing is lost', () => {
    const steps = [];
    // 33 blocks of disk 0 (files 0 and 2, cache=writeback in the mixed mode), each written back by the guest: dirty in the host cache.
    for (let i = 0; i <= HOST_CACHE_PAGES_MAX; i++) {
      const [file, index] = [i < 16 ? 0 : 2, i % 16];
      steps.push(op('file.write', { guest: 0, file, index }), op('file.writeback', { guest: 0, file, index }), op('io.complete', { guest: 0 }));
    }
    const r = scenario(machine(BASE), [...steps, op('file.evict', { guest: 0, file: 0, index: 0 }), op('file.read', { guest: 0, file: 0, index: 0 })]);
    expect(kinds(r)).toEqual([]);
    expect(r.results.every((x) => x.ok)).toBe(true);
    const d = pcWorld(r.world).disks[0]![0]!;
    expect(d.hostCache.size).toBe(HOST_CACHE_PAGES_MAX);
    // The oldest block went to the medium when the 33rd came: the read after the guest's
    // eviction returns the first write.
    expect(r.results[r.results.length - 1]).toEqual({ ok: true, value: (r.results[0] as { value: number }).value });
  });
});

describe("the host page cache's LRU: a hit makes a block the youngest", () => {
  // Blocks 0..31 of disk 0 are files 0 and 1; file 2 index 0 is block 32, the 33rd.
  const fill = (write: boolean) =>
    Array.from({ length: HOST_CACHE_PAGES_MAX }, (_, i) => {
      const at = { guest: 0, file: Math.floor(i / 16), index: i % 16 };
      return write ? [op('file.write', at), op('file.writeback', at), op('io.complete', { guest: 0 })] : [op('file.read', at)];
    }).flat();

  it('a read served from the host cache saves its block from the next eviction; the next oldest clean block goes', () => {
    const first = { guest: 0, file: 0, index: 0 };
    const r = scenario(machine(BASE), [...fill(false), op('file.evict', first), op('file.read', first), op('file.read', { guest: 0, file: 2, index: 0 })]);
    expect(kinds(r)).toEqual([]);
    expect(r.results.every((x) => x.ok)).toBe(true);
    const d = pcWorld(r.world).disks[0]![0]!;
    expect([d.hostCache.size, d.hostCache.has(0), d.hostCache.has(1), d.hostCache.has(32)]).toEqual([HOST_CACHE_PAGES_MAX, true, false, true]);
  });

  it('a write to a cached block does too: with every page dirty, the oldest other block is written back and dropped', () => {
    const first = { guest: 0, file: 0, index: 0 };
    const r = scenario(machine(BASE), [
      ...fill(true),
      op('file.write', first),
      op('file.writeback', first),
      op('io.complete', { guest: 0 }),
      op('file.write', { guest: 0, file: 2, index: 0 }),
      op('file.writeback', { guest: 0, file: 2, index: 0 }),
      op('io.complete', { guest: 0 }),
    ]);
    expect(kinds(r)).toEqual([]);
    expect(r.results.every((x) => x.ok)).toBe(true);
    const d = pcWorld(r.world).disks[0]![0]!;
    expect([d.hostCache.size, d.hostCache.has(0), d.hostCache.has(1), d.hostCache.has(32)]).toEqual([HOST_CACHE_PAGES_MAX, true, false, true]);
    // Block 1 reached the medium before it was dropped.
    expect(d.medium.has(1)).toBe(true);
    expect(d.medium.has(0)).toBe(false);
  });
});

describe('mmap of a file', () => {
  it('a range past the end of the file (pgoff + pages > FILE_PAGES) is refused; the last pages map', () => {
    const r = scenario(machine(BASE), [spawn, op('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 10, vpn: V, pages: 7, write: true }), op('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 10, vpn: V, pages: 6, write: true })]);
    expect(kinds(r)).toEqual([]);
    expect(outcomes(r)).toEqual(['ok', 'out-of-range', 'ok']);
    expect(r.world.guests[0]!.processes.get(1)!.vmaAt(V)?.end).toBe(V + 6);
  });
});
