/**
 * The host's bounded resources other than frames, met through the operations:
 *
 * - the host swap device full: reclaim of a guest's memory (the host pages out QEMU's
 *   anonymous guest RAM) needs a slot for every frame first (mm/vmscan.c shrink_folio_list ->
 *   add_to_swap -> folio_alloc_swap), and with none left the folio stays where it is
 *   (AOP_WRITEPAGE_ACTIVATE: activate_locked), so the reclaim refuses with nothing changed;
 * - a disk image's host page cache full of dirty pages: the host's LRU cannot drop a dirty
 *   page, so it writes the oldest back first (shrink_folio_list -> pageout) and then frees it.
 */
import { machine, SMALL_GUEST, stepper } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { HOST_SWAP_SLOTS } from '../world';
import { diskState } from '../pagecache/state';
import { blockOf, diskOf, FILE_PAGES, HOST_CACHE_PAGES_MAX } from '../pagecache/layout';

test('a host reclaim with the host swap device full refuses limit: no slot is reserved, the unit stays backed and readable', () => {
  // 2 MiB host pages: each reclaim of a backed unit takes FRAMES_PER_2M slots at once.
  const { r, apply } = stepper({ hostFrames: 2 ** 15, guests: [{ ...SMALL_GUEST, frames: 2 ** 14, hugePages: true }], faults: [], options: {} });
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  const units = HOST_SWAP_SLOTS / FRAMES_PER_2M + 1;
  const heads: number[] = [];
  for (let i = 0; heads.length < units && i < 4 * units; i++) {
    const a = apply('guest.kalloc', { guest: 0, order: 9, mt: 'UNMOVABLE' });
    expect(a.ok).toBe(true);
    const k = g.kernelAllocs.get(a.value!)!;
    expect(apply('guest.kwrite', { guest: 0, alloc: a.value! }).ok).toBe(true);
    if (g.hugeBacked.has(Math.floor(k.gfn / FRAMES_PER_2M))) heads.push(k.gfn);
  }
  expect(heads.length).toBe(units);
  // One unit split to 4 KiB host pages first (split_huge_page), and one of its frames paged
  // out: the last unit then finds FRAMES_PER_2M - 1 slots, reserves them, and must give them
  // back when the next one fails.
  const split = heads.shift()!;
  expect(apply('thp.host.split', { guest: 0, gfn: split }).ok).toBe(true);
  expect(g.hugeBacked.has(Math.floor(split / FRAMES_PER_2M))).toBe(false);
  expect(apply('host.reclaim.begin', { guest: 0, gfn: split }).ok).toBe(true);
  expect(apply('host.reclaim.end', { guest: 0 }).ok).toBe(true);
  expect(g.hostSwap.size).toBe(1);
  for (const gfn of heads.slice(0, -1)) {
    expect(apply('host.reclaim.begin', { guest: 0, gfn }).ok).toBe(true);
    expect(apply('host.reclaim.end', { guest: 0 }).ok).toBe(true);
    expect(g.backing.has(gfn)).toBe(false);
  }
  expect(r.world.hostSwapDevice.capacity).toBe(HOST_SWAP_SLOTS);
  expect(g.hostSwap.size).toBe(HOST_SWAP_SLOTS - FRAMES_PER_2M + 1);
  const last = heads[heads.length - 1]!;
  expect(apply('host.reclaim.begin', { guest: 0, gfn: last })).toEqual({ ok: false, error: 'limit' });
  expect(g.pendingReclaim).toBeFalsy();
  expect(g.hostSwap.size).toBe(HOST_SWAP_SLOTS - FRAMES_PER_2M + 1);
  for (let i = 0; i < FRAMES_PER_2M; i++) expect(g.hostSwap.has(last + i)).toBe(false);
  expect(g.backing.has(last)).toBe(true);
  expect(apply('guest.kread', { guest: 0, alloc: [...g.kernelAllocs].find(([, k]) => k.gfn === last)![0] }).ok).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a guest writeback into a host page cache full of dirty pages writes the oldest back to the medium and drops it', () => {
  const { r, apply } = stepper(machine({}));
  apply('guest.spawn', { guest: 0 });
  // Files 0..3 live on disk 0; HOST_CACHE_PAGES_MAX + 1 distinct blocks of it, each written
  // back (the write reaches the device and dirties the host's cached copy).
  const pages = Array.from({ length: HOST_CACHE_PAGES_MAX + 1 }, (_, i) => ({ file: Math.floor(i / FILE_PAGES), index: i % FILE_PAGES }));
  expect(pages.every((p) => diskOf(p.file) === 0)).toBe(true);
  const d = diskState(r.world, 0, 0);
  expect(d.mode).toBe('writeback');
  for (const [i, p] of pages.entries()) {
    expect(apply('file.write', { guest: 0, ...p }).ok).toBe(true);
    expect(apply('file.writeback', { guest: 0, ...p }).ok).toBe(true);
    expect(apply('io.complete', { guest: 0 }).ok).toBe(true);
    if (i < HOST_CACHE_PAGES_MAX) expect(d.hostCache.get(blockOf(p.file, p.index))?.dirty).toBe(true);
  }
  const oldest = blockOf(pages[0]!.file, pages[0]!.index);
  const newest = blockOf(pages[HOST_CACHE_PAGES_MAX]!.file, pages[HOST_CACHE_PAGES_MAX]!.index);
  expect(d.hostCache.size).toBe(HOST_CACHE_PAGES_MAX);
  expect(d.hostCache.has(oldest)).toBe(false);
  expect(d.hostCache.get(newest)?.dirty).toBe(true);
  expect(d.medium.get(oldest)?.kind).toBe('data');
  expect(d.medium.has(newest)).toBe(false);
  // The written-back page reads back from the medium.
  expect(apply('file.evict', { guest: 0, ...pages[0]! }).ok).toBe(true);
  const back = apply('file.read', { guest: 0, ...pages[0]! });
  expect(back.ok).toBe(true);
  expect(back.value).toBeGreaterThan(0);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
