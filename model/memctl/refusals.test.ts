/**
 * memctl's refusals, each with the error the guest driver would see: mmap of a 1 GiB region
 * the device does not have, at a misaligned address, beyond the user half or over page tables
 * left linked (the pt-page-freed-while-linked hazard); DONTNEED of mlocked memory (madvise -EINVAL on VM_LOCKED). A
 * refused request changes nothing and every property still holds.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { FRAMES_PER_1G } from '../constants';
import { gigaRegionGfn, memctlOf } from './memctl';
import { compactionState } from '../compaction/state';
import { findSlot } from '../guest/page-tables';

function runner(region: 'ram' | 'giga', faults: string[] = []): { r: Runner; errors: (string | undefined)[] } {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = {
    hostFrames: 2 ** 14,
    guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }],
    faults,
    options: { 'memctl.enabled': true, 'memctl.region': region, 'virtio-balloon.present': false },
  };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  errors.length = 0;
  return { r, errors };
}

test('memctl mmap: no 1 GiB region (ram mode), misaligned, beyond the user half; a gigabyte unmapped whole maps', () => {
  const ram = runner('ram');
  ram.r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, write: true } });
  expect(ram.errors).toEqual(['invalid']);

  const { r, errors } = runner('giga');
  const p = r.world.guests[0]!.processes.get(1)!;
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 512, write: true } });
  // 4-level guest: the user half ends at 2^47 bytes, 2^35 frames.
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: 2 ** 35, write: true } });
  // An ordinary mapping in that gigabyte, touched (tables built), then unmapped: its tables go
  // with it (free_pgtables), and the gigabyte maps.
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G, pages: 4, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G } });
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G, pages: 4 } });
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G, write: true } });
  expect(errors).toEqual(['misaligned', 'out-of-range', undefined, undefined, undefined, undefined]);
  expect(p.vmaAt(2 * FRAMES_PER_1G)?.pageFrames).toBe(FRAMES_PER_1G);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('memctl mmap over page tables left linked (munmap freeing them without unlinking, pt-page-freed-while-linked): refused as busy, the table entry kept', () => {
  const { r, errors } = runner('giga', ['pt-page-freed-while-linked']);
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G, pages: 4, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G } });
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G, pages: 4 } });
  const linked = findSlot(r.world, g, p, 2 * FRAMES_PER_1G, 3);
  expect(linked).toMatchObject({ level: 3, entry: { pfn: expect.any(Number) } });
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: 2 * FRAMES_PER_1G, write: true } });
  expect(errors.slice(-1)).toEqual(['busy']);
  expect(p.vmaAt(2 * FRAMES_PER_1G)).toBeUndefined();
  expect(findSlot(r.world, g, p, 2 * FRAMES_PER_1G, 3)).toEqual(linked);
});

test('DONTNEED, REMOVE and FREE of mlocked memctl memory are refused; after MUNLOCK DONTNEED goes through', () => {
  const { r, errors } = runner('giga');
  const g = r.world.guests[0]!;
  const base = gigaRegionGfn(g);
  r.apply({ kind: 'memctl.write', args: { guest: 0, gfn: base + 3 } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MLOCK', gfn: base, pages: 8 } });
  for (const func of ['DONTNEED', 'REMOVE', 'FREE']) r.apply({ kind: 'memctl.request', args: { guest: 0, func, gfn: base + 2, pages: 2 } });
  expect(errors).toEqual([undefined, undefined, 'invalid', 'invalid', 'invalid']);
  expect(g.backing.has(base + 3)).toBe(true);
  expect(memctlOf(g)!.mlocked.has(base + 3)).toBe(true);
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MUNLOCK', gfn: base, pages: 8 } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'DONTNEED', gfn: base + 2, pages: 2 } });
  expect(errors.slice(-2)).toEqual([undefined, undefined]);
  expect(g.backing.has(base + 3)).toBe(false);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("the host's reclaim of MADV_FREE memory with none pending is refused; after FREE it reclaims the page not written since", () => {
  const { r, errors } = runner('giga');
  const g = r.world.guests[0]!;
  const base = gigaRegionGfn(g);
  r.apply({ kind: 'memctl.host.reclaim', args: { guest: 0 } });
  r.apply({ kind: 'memctl.write', args: { guest: 0, gfn: base } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'FREE', gfn: base, pages: 1 } });
  r.apply({ kind: 'memctl.host.reclaim', args: { guest: 0 } });
  expect(errors).toEqual(['invalid', undefined, undefined, undefined]);
  expect(g.backing.has(base)).toBe(false);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("a process's store to memctl memory the host made read-only (MPROTECT_R) is a SIGBUS; its loads still work; MPROTECT_RW lets the store through", () => {
  const { r, errors } = runner('giga');
  const g = r.world.guests[0]!;
  const base = gigaRegionGfn(g);
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, write: true } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 5 } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MPROTECT_R', gfn: base, pages: 8 } });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 5 } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 5 } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MPROTECT_RW', gfn: base, pages: 8 } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 5 } });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 5 } });
  expect(errors).toEqual([undefined, undefined, undefined, undefined, 'sigbus', undefined, undefined, undefined]);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('MLOCK of a range the host is reclaiming a page of is refused (mlock EAGAIN) and locks nothing; once the reclaim ends it goes through', () => {
  // 'ram': the region is guest RAM, which host reclaim reaches (the 1 GiB memslot is above it).
  const { r, errors } = runner('ram');
  const g = r.world.guests[0]!;
  const base = memctlOf(g)!.region.gfn;
  r.apply({ kind: 'memctl.write', args: { guest: 0, gfn: base + 5 } });
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn: base + 5 } });
  expect(errors).toEqual([undefined, undefined]);
  expect(g.pendingReclaim).toBeTruthy();
  // A range clear of the reclaimed page locks; one that holds it does not.
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MLOCK', gfn: base + 8, pages: 8 } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MLOCK', gfn: base, pages: 8 } });
  expect(errors).toEqual([undefined, undefined, undefined, 'busy']);
  expect(memctlOf(g)!.mlocked.has(base + 8)).toBe(true);
  expect([...memctlOf(g)!.mlocked].some((x) => x < base + 8)).toBe(false);
  r.apply({ kind: 'host.reclaim.end', args: { guest: 0 } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MLOCK', gfn: base, pages: 8 } });
  expect(errors[errors.length - 1]).toBeUndefined();
  expect(memctlOf(g)!.mlocked.has(base + 5)).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('memctl mmap while the host migrates the page-table page it must look into refuses (retry), adds no VMA, and maps once the migration is done', () => {
  const { r, errors } = runner('giga');
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const vpn = 3 * FRAMES_PER_1G;
  // A page in another gigabyte of the same 512 GiB builds the level-3 table that covers vpn.
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 5 * FRAMES_PER_1G, pages: 1, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 5 * FRAMES_PER_1G } });
  errors.length = 0;
  const pud = [...g.tables.entries()].find(([, t]) => t.pid === 1 && t.level === 3)![0];
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn: pud } });
  const id = [...compactionState(r.world).active.keys()][0]!;
  r.apply({ kind: 'compaction.migrate.step', args: { id } });
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn, write: true } });
  expect(errors).toEqual([undefined, undefined, 'retry']);
  expect(p.vmaAt(vpn)).toBeUndefined();
  for (let i = 0; i < 3 && compactionState(r.world).active.has(id); i++) r.apply({ kind: 'compaction.migrate.step', args: { id } });
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn, write: true } });
  expect(errors[errors.length - 1]).toBeUndefined();
  expect(p.vmaAt(vpn)?.pageFrames).toBe(FRAMES_PER_1G);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
