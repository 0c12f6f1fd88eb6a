/**
 * fsync(2), the guest's block-I/O queue and a guest crash, on small deterministic traces:
 * - fsync writes back exactly the dirty pages of its own file (FILE_PAGES of them at most,
 *   never a neighbour's) and returns how many; it waits only for its own file's writeback in
 *   flight (mm/filemap.c file_write_and_wait_range -> __filemap_fdatawait_range on the file's
 *   mapping), and its FLUSH makes the host's dirty pages of the image clean on the medium;
 * - io.complete completes the oldest request and is refused when nothing is in flight;
 * - a crash is refused while the host is invalidating part of the guest's memory (a host
 *   reclaim, a host migration or a fault in flight: the vCPUs cannot run to panic), goes
 *   through once that ends, and reports the processes it killed.
 */
import { pageCacheStepper, type Stepper } from '../../fuzz/testing/scenario';
import { compactionState } from '../compaction/state';
import { lookupPage } from './cache';
import { cacheOf, pcWorld } from './state';

const V = 1 << 22;


/** The version a successful write returned. */
function write(s: Stepper, file: number, index: number): number {
  const r = s.apply('file.write', { guest: 0, file, index });
  if (!r.ok || r.value === undefined) throw new Error(`file.write ${file}/${index}: ${String(r.error)}`);
  return r.value;
}

const edges = (s: Stepper, k: string): number => s.world.transitions.get('page-cache')?.get(k) ?? 0;

describe('fsync writes back the dirty pages of its file, and only those', () => {
  it('returns the count of its own dirty pages (first and last index included); the next file\'s page 0 stays dirty', () => {
    // Files 0 and 1 sit on disk 0 (cache=writeback in the mixed mode), blocks 0..15 and 16..31:
    // page 16 of file 0 would be page 0 of file 1.
    const s = pageCacheStepper();
    write(s, 0, 0);
    write(s, 0, 15);
    write(s, 0, 7);
    write(s, 1, 0);
    const g = s.world.guests[0]!;
    expect(s.apply('file.fsync', { guest: 0, file: 0 })).toEqual({ ok: true, value: 3 });
    expect([0, 7, 15].map((i) => lookupPage(g, 0, i)?.dirty)).toEqual([false, false, false]);
    expect(lookupPage(g, 1, 0)?.dirty).toBe(true);
    const d = pcWorld(s.world).disks[0]![0]!;
    expect([d.medium.has(0), d.medium.has(7), d.medium.has(15), d.medium.has(16)]).toEqual([true, true, true, false]);
    // Nothing dirty left: a second fsync writes nothing.
    expect(s.apply('file.fsync', { guest: 0, file: 0 })).toEqual({ ok: true, value: 0 });
    expect(s.apply('file.fsync', { guest: 0, file: 1 })).toEqual({ ok: true, value: 1 });
    expect(s.broke()).toEqual([]);
  });

  it('a page dirtied only through a shared mapping is found (page_mkclean) and counted', () => {
    const s = pageCacheStepper();
    expect(s.apply('guest.spawn', { guest: 0 }).ok).toBe(true);
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V, pages: 4, write: true }).ok).toBe(true);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 1 }).ok).toBe(true);
    write(s, 0, 3);
    expect(s.apply('file.fsync', { guest: 0, file: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.broke()).toEqual([]);
  });

  it("waits for its own file's writeback in flight, not for another file's", () => {
    const s = pageCacheStepper();
    write(s, 0, 1);
    write(s, 1, 2);
    expect(s.apply('file.writeback', { guest: 0, file: 1, index: 2 })).toEqual({ ok: true });
    expect(s.apply('file.writeback', { guest: 0, file: 0, index: 1 })).toEqual({ ok: true });
    const g = s.world.guests[0]!;
    expect(cacheOf(g).io.map((r) => r.kind === 'writeback' && [r.file, r.index])).toEqual([[1, 2], [0, 1]]);
    // Clean in the cache, under writeback: nothing left to write, one request to wait for.
    expect(s.apply('file.fsync', { guest: 0, file: 0 })).toEqual({ ok: true, value: 0 });
    expect(lookupPage(g, 0, 1)?.writeback).toBe(false);
    expect(lookupPage(g, 1, 2)?.writeback).toBe(true);
    expect(cacheOf(g).io.map((r) => r.kind === 'writeback' && [r.file, r.index])).toEqual([[1, 2]]);
    expect(s.broke()).toEqual([]);
  });
});

describe("fsync's FLUSH of a cache=writeback image (bdrv_co_flush -> fdatasync)", () => {
  it('writes the dirty host pages to the medium and leaves them clean; a clean host page causes no write', () => {
    const s = pageCacheStepper();
    // Block 1: read only, a clean host page of a sparse block (never on the medium).
    expect(s.apply('file.read', { guest: 0, file: 0, index: 1 })).toEqual({ ok: true, value: 0 });
    // Block 0: written back by the guest, dirty in the host cache, not yet on the medium.
    const v = write(s, 0, 0);
    expect(s.apply('file.writeback', { guest: 0, file: 0, index: 0 })).toEqual({ ok: true });
    expect(s.apply('io.complete', { guest: 0 })).toEqual({ ok: true });
    const d = pcWorld(s.world).disks[0]![0]!;
    expect([d.hostCache.get(0)?.dirty, d.hostCache.get(1)?.dirty, d.medium.has(0), d.medium.has(1)]).toEqual([true, false, false, false]);
    const flushed = edges(s, 'host-dirty->host-clean');
    expect(s.apply('file.fsync', { guest: 0, file: 0 })).toEqual({ ok: true, value: 0 });
    expect(edges(s, 'host-dirty->host-clean')).toBe(flushed + 1);
    expect(d.medium.get(0)).toEqual({ kind: 'data', writer: 0, version: v });
    expect(d.medium.has(1)).toBe(false);
    expect([d.hostCache.get(0)?.dirty, d.hostCache.get(1)?.dirty]).toEqual([false, false]);
    // Clean after the FLUSH: the host's flusher has nothing to write, its reclaim may drop it.
    expect(s.apply('host.pagecache.writeback', { guest: 0, disk: 0, block: 0 })).toEqual({ ok: false, error: 'invalid' });
    expect(s.apply('host.pagecache.evict', { guest: 0, disk: 0, block: 0 })).toEqual({ ok: true });
    expect(s.broke()).toEqual([]);
  });
});

describe('io.complete', () => {
  it('completes the oldest request; with nothing in flight it is refused', () => {
    const s = pageCacheStepper();
    expect(s.apply('io.complete', { guest: 0 })).toEqual({ ok: false, error: 'no-such-mapping' });
    write(s, 2, 0);
    expect(s.apply('file.writeback', { guest: 0, file: 2, index: 0 })).toEqual({ ok: true });
    expect(s.apply('io.complete', { guest: 0 })).toEqual({ ok: true });
    expect(lookupPage(s.world.guests[0]!, 2, 0)?.writeback).toBe(false);
    expect(s.apply('io.complete', { guest: 0 })).toEqual({ ok: false, error: 'no-such-mapping' });
    expect(s.broke()).toEqual([]);
  });
});

describe('a guest crash', () => {
  it('kills every process and reports how many', () => {
    const s = pageCacheStepper();
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.world.guests[0]!.processes.size).toBe(0);
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: true, value: 0 });
    expect(s.broke()).toEqual([]);
  });

  /** A guest frame the host backs: the page-cache frame of file 0 page 0, once read. */
  function backedGfn(s: Stepper): number {
    expect(s.apply('file.read', { guest: 0, file: 0, index: 0 }).ok).toBe(true);
    const g = s.world.guests[0]!;
    const gfn = lookupPage(g, 0, 0)!.gfn;
    expect(g.backing.has(gfn)).toBe(true);
    return gfn;
  }

  it('waits for a host reclaim in flight (pendingReclaim and an invalidation), then goes through', () => {
    const s = pageCacheStepper();
    const gfn = backedGfn(s);
    const g = s.world.guests[0]!;
    expect(s.apply('host.reclaim.begin', { guest: 0, gfn })).toEqual({ ok: true });
    expect([g.pendingReclaim !== null, g.invalidation.inProgress]).toEqual([true, 1]);
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
    expect(lookupPage(g, 0, 0)).toBeDefined(); // refused: nothing dropped
    expect(s.apply('host.reclaim.end', { guest: 0 })).toEqual({ ok: true });
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: true, value: 0 });
    expect(lookupPage(g, 0, 0)).toBeUndefined();
    expect(s.broke()).toEqual([]);
  });

  it('waits for a host migration between its unmap and its end (an invalidation without a reclaim)', () => {
    const s = pageCacheStepper();
    const gfn = backedGfn(s);
    const g = s.world.guests[0]!;
    expect(s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn }).ok).toBe(true);
    const id = [...compactionState(s.world).active.values()].find((m) => m.side === 'host')!.id;
    // Locked, not yet unmapped: no invalidation yet.
    expect(g.invalidation.inProgress).toBe(0);
    expect(s.apply('compaction.migrate.step', { id })).toEqual({ ok: true });
    expect(compactionState(s.world).active.get(id)?.stage).toBe('unmapped');
    expect([g.pendingReclaim, g.pendingFault, g.invalidation.inProgress]).toEqual([null, null, 1]);
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
    expect(lookupPage(g, 0, 0)).toBeDefined();
    for (let i = 0; i < 3 && compactionState(s.world).active.has(id); i++) expect(s.apply('compaction.migrate.step', { id }).ok).toBe(true);
    expect(g.invalidation.inProgress).toBe(0);
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: true, value: 0 });
    expect(lookupPage(g, 0, 0)).toBeUndefined();
    expect(s.broke()).toEqual([]);
  });

  it('waits for an EPT fault in flight (between its resolve and its install)', () => {
    const s = pageCacheStepper();
    const g = s.world.guests[0]!;
    const gfn = g.config.frames - 1;
    expect(g.ept.lookup(s.world, gfn).kind).not.toBe('leaf');
    expect(s.apply('host.fault.begin', { guest: 0, gfn })).toEqual({ ok: true });
    expect([g.pendingReclaim, g.pendingFault !== null, g.invalidation.inProgress]).toEqual([null, true, 0]);
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
    expect(s.apply('host.fault.finish', { guest: 0 })).toEqual({ ok: true });
    expect(s.apply('guest.crash', { guest: 0 })).toEqual({ ok: true, value: 0 });
    expect(s.broke()).toEqual([]);
  });
});
