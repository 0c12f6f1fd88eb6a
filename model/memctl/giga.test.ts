/**
 * memctl's 1 GiB mode (memctl.region 'giga', issue 3): guest memory mapped with a 1 GiB guest
 * page (one level-3 PS leaf) over the region's own memslot above guest RAM, backed by 2 MiB or
 * 4 KiB host pages, partially freed through DONTNEED/REMOVE. Every frame is zeroed exactly once
 * per hand-out (by the host, when it faults it in), TLB entries are sized min(guest, host page),
 * the walk stops at the guest's level 3, and teardown returns every frame.
 */
import { FRAMES_PER_1G, FRAMES_PER_2M } from '../constants';
import type { ModelConfig } from '../config';
import { ZERO } from '../content';
import { Runner } from '../../fuzz/run';
import type { Operation } from '../../fuzz/contract';
import { nestedWalk } from '../mmu/walk';
import { peekGuestPhysical } from '../mmu/peek';
import { gigaRegionGfn, memctlOf } from './memctl';
import { operationNamed } from '../registry';
import { mprotect, munmap } from '../guest/kernel';

const VPN = FRAMES_PER_1G; // va 1 GiB: a 1 GiB-aligned address
const o = (kind: string, args: Operation['args']): Operation => ({ kind, args });

function runner(huge: boolean, faults: string[] = []): Runner {
  const c: ModelConfig = {
    hostFrames: 2 ** 14,
    guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: huge }],
    faults,
    options: { 'memctl.enabled': true, 'memctl.region': 'giga', 'virtio-balloon.present': false },
  };
  return new Runner(c, { check: 'incremental' });
}

function apply(r: Runner, op: Operation): boolean {
  const v = r.apply(op);
  expect(v).toEqual([]);
  return r.outcomes[r.outcomes.length - 1]!;
}

describe.each([
  ['4 KiB', false, 1, 14],
  // Guest tables and the region 2 MiB-backed: each EPT walk stops at level 2 (3 references).
  ['2 MiB', true, FRAMES_PER_2M, 11],
])('a 1 GiB guest page over %s host pages', (_name, huge, hostFrames, refs) => {
  it('zeroes each frame once per hand-out, sizes TLB entries by the host page, frees everything', () => {
    const r = runner(huge);
    const w = r.world;
    const g = w.guests[0]!;
    const m = memctlOf(g)!;
    const base = gigaRegionGfn(g);
    expect(m.region).toEqual({ gfn: base, frames: FRAMES_PER_1G });
    expect(base % FRAMES_PER_1G).toBe(0);
    expect(base).toBeGreaterThanOrEqual(g.config.frames);
    const freeBefore = g.buddy.freePages();

    expect(apply(r, o('guest.spawn', { guest: 0 }))).toBe(true);
    expect(apply(r, o('memctl.mmap', { guest: 0, pid: 1, vpn: VPN, write: true }))).toBe(true);
    // Touch pages in three host pages: the first, the next 2 MiB unit, the last.
    const touched = [0, 1, FRAMES_PER_2M + 7, FRAMES_PER_1G - 1];
    for (const i of touched) expect(apply(r, o('guest.write', { guest: 0, pid: 1, vpn: VPN + i }))).toBe(true);

    const p = g.processes.get(1)!;
    for (const i of touched) {
      const walk = nestedWalk(w, g, p.cr3, VPN + i, 'read', false);
      expect(walk).toMatchObject({ kind: 'ok', gfn: base + i, guestLeafLevel: 3, eptLeafLevel: huge ? 2 : 1, guestLevelsWalked: 2, refs });
      const e = w.tlb.lookup(g.vpid, 1, g.ept.root, VPN + i)!;
      expect(e.frames).toBe(hostFrames);
      expect(e.gfnBase).toBe(base + i - (i % hostFrames));
    }
    // The host backed only the host pages touched; the guest allocator gave nothing but tables.
    expect([...g.backing.keys()].filter((x) => x >= base).length).toBe(huge ? 3 * FRAMES_PER_2M : touched.length);
    expect(g.zeroings).toBe(g.tables.size);

    // DONTNEED the first host page, REMOVE the last: the host drops them (EPT zapped, frames freed).
    expect(apply(r, o('memctl.request', { guest: 0, func: 'DONTNEED', gfn: base, pages: hostFrames }))).toBe(true);
    expect(apply(r, o('memctl.request', { guest: 0, func: 'REMOVE', gfn: base + FRAMES_PER_1G - hostFrames, pages: hostFrames }))).toBe(true);
    expect(g.backing.has(base)).toBe(false);
    expect(g.backing.has(base + FRAMES_PER_1G - 1)).toBe(false);
    expect(g.ept.lookup(w, base).kind).not.toBe('leaf');
    expect(peekGuestPhysical(w, g, base + FRAMES_PER_2M + 7)).not.toEqual(ZERO); // kept
    // Touch again: fresh zeroed frames.
    expect(apply(r, o('guest.read', { guest: 0, pid: 1, vpn: VPN }))).toBe(true);
    expect(w.frames.read(g.backing.get(base)!)).toEqual(ZERO);
    for (const i of touched) expect(apply(r, o('guest.write', { guest: 0, pid: 1, vpn: VPN + i }))).toBe(true);

    // First touches: the four, then the frames handed again by the discards: 0 (the read) and
    // the last; with 2 MiB host pages 1 too (it shares the first host page, discarded whole).
    const handedAgain = huge ? [0, 1, FRAMES_PER_1G - 1] : [0, FRAMES_PER_1G - 1];
    expect(m.firstTouches.map((t) => t.gfn - base)).toEqual([...touched, ...handedAgain]);
    for (const t of m.firstTouches) expect({ host: t.host, guest: t.guest }).toEqual({ host: 1, guest: 0 });

    // Part of the 1 GiB page cannot be unmapped; the whole of it can, and frees no guest frame.
    expect(apply(r, o('guest.munmap', { guest: 0, pid: 1, vpn: VPN, pages: FRAMES_PER_2M }))).toBe(false);
    expect(apply(r, o('guest.munmap', { guest: 0, pid: 1, vpn: VPN, pages: FRAMES_PER_1G }))).toBe(true);
    expect(w.tlb.lookup(g.vpid, 1, g.ept.root, VPN)).toBeUndefined();
    // Mapped again: the same memory, contents kept.
    expect(apply(r, o('memctl.mmap', { guest: 0, pid: 1, vpn: VPN, write: false }))).toBe(true);
    expect(apply(r, o('guest.read', { guest: 0, pid: 1, vpn: VPN + FRAMES_PER_2M + 7 }))).toBe(true);
    expect(apply(r, o('guest.write', { guest: 0, pid: 1, vpn: VPN + 3 }))).toBe(false); // read-only VMA
    expect(apply(r, o('guest.exit', { guest: 0, pid: 1 }))).toBe(true);
    expect(g.buddy.freePages()).toBe(freeBefore);
    expect(r.finish()).toBeNull();
    expect(w.frames.zeroings).toBeGreaterThan(0);
  });
});

test('memctl-discard-main-ramblock: DONTNEED leaves the 1 GiB region backed, memctl-zeroed-once catches it', () => {
  const r = runner(false, ['memctl-discard-main-ramblock']);
  const base = gigaRegionGfn(r.world.guests[0]!);
  const ops = [
    o('guest.spawn', { guest: 0 }),
    o('memctl.mmap', { guest: 0, pid: 1, vpn: VPN, write: true }),
    o('guest.write', { guest: 0, pid: 1, vpn: VPN + 5 }),
    o('memctl.request', { guest: 0, func: 'DONTNEED', gfn: base + 5, pages: 1 }),
    o('guest.read', { guest: 0, pid: 1, vpn: VPN + 5 }),
  ];
  for (const op of ops) r.apply(op);
  expect(r.outcomes).toEqual([true, true, true, true, true]);
  expect(r.violation).toMatchObject({ property: 'memctl-zeroed-once', kind: 'never-zeroed', step: 4 });
});

test("THP's split and khugepaged leave the 1 GiB leaf alone: it is no 2 MiB huge page", () => {
  const r = runner(true);
  const g = r.world.guests[0]!;
  expect(apply(r, o('guest.spawn', { guest: 0 }))).toBe(true);
  expect(apply(r, o('memctl.mmap', { guest: 0, pid: 1, vpn: VPN, write: true }))).toBe(true);
  expect(apply(r, o('guest.write', { guest: 0, pid: 1, vpn: VPN + 3 }))).toBe(true);
  expect(operationNamed('thp.split')!.apply(r.world, { guest: 0, pid: 1, vpn: VPN + 3 })).toMatchObject({ ok: false, error: 'no-such-mapping' });
  expect(operationNamed('thp.khugepaged.scan')!.apply(r.world, { guest: 0, pid: 1, vpn: VPN + 3 })).toMatchObject({ ok: false, error: 'busy', detail: expect.stringContaining('no VM_HUGEPAGE VMA') });
  expect(nestedWalk(r.world, g, g.processes.get(1)!.cr3, VPN + 3, 'read', false)).toMatchObject({ kind: 'ok', guestLeafLevel: 3, gfn: gigaRegionGfn(g) + 3 });
});

test('munmap and mprotect refuse a range with its start inside the 1 GiB page; a range that only touches it from outside is not refused for it', () => {
  const r = runner(true);
  const g = r.world.guests[0]!;
  expect(apply(r, o('guest.spawn', { guest: 0 }))).toBe(true);
  expect(apply(r, o('memctl.mmap', { guest: 0, pid: 1, vpn: VPN, write: true }))).toBe(true);
  const p = g.processes.get(1)!;
  expect(munmap(r.world, g, p, VPN + 1, FRAMES_PER_1G - 1)).toMatchObject({ ok: false, error: 'misaligned' });
  expect(mprotect(r.world, g, p, VPN + 1, FRAMES_PER_1G - 1, { write: false, exec: false })).toMatchObject({ ok: false, error: 'misaligned' });
  for (const [start, pages] of [[VPN - 3, 3], [VPN + FRAMES_PER_1G, 3]] as const) expect(munmap(r.world, g, p, start, pages).ok).toBe(true);
  expect(p.vmaAt(VPN)).toMatchObject({ start: VPN, end: VPN + FRAMES_PER_1G });
});
