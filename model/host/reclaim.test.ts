/**
 * Host swap-out and migration of guest memory (mm/vmscan.c shrink_folio_list, mm/migrate.c),
 * both inside the invalidation protocol: what each refuses and leaves unchanged, a slot for
 * every frame before anything is unmapped, the frame kept until the write to the slot ends and
 * the slot given the contents as they are then, a whole 2 MiB unit moved as one, and a vCPU
 * that faults inside the range waiting for the end.
 */
import { data } from '../content';
import { createWorld } from '../registry';
import { isRefusal } from '../result';
import type { World } from '../world';
import { eptFault } from './ept-fault';
import { migrate, reclaimBegin, reclaimEnd, waitForInvalidation } from './reclaim';

function world(hugePages = false): World {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

function backed(w: World, gfn: number, write = true): number {
  const g = w.guests[0]!;
  expect(eptFault(w, g, gfn, write)).toBe(true);
  return g.backing.get(gfn)!;
}

describe('host reclaim', () => {
  test('a 4 KiB swap-out: begin reserves the slot and zaps, the frame stays until end, which writes the slot as the frame is then and frees it', () => {
    const w = world();
    const g = w.guests[0]!;
    const hfn = backed(w, 20);
    w.frames.write(hfn, data(0, 1));
    const free = w.hostBuddy.freePages();
    expect(reclaimBegin(w, g, 20)).toEqual({ ok: true });
    expect(g.hostSwap.slot(20)).toBeDefined();
    expect(g.hostSwap.get(20)).toBeUndefined();
    expect(g.ept.lookup(w, 20).kind).toBe('violation');
    expect(g.invalidation).toMatchObject({ inProgress: 1, rangeStart: 20, rangeEnd: 21 });
    expect(w.frames.owner(hfn)).toEqual({ kind: 'guest-memory', guest: 0, gfn: 20 });
    expect(w.hostBuddy.freePages()).toBe(free);
    // Written while the swap-out is in flight: the slot gets this.
    w.frames.write(hfn, data(0, 2));
    expect(reclaimBegin(w, g, 21)).toMatchObject({ ok: false, error: 'busy' });
    // The begin flushed; the end has nothing more to flush (invalidate_range_end flushes nothing).
    const flushes = w.tlb.stats.inveptSingle;
    expect(reclaimEnd(w, g)).toEqual({ ok: true });
    expect(w.tlb.stats.inveptSingle).toBe(flushes);
    expect(g.hostSwap.get(20)).toEqual(data(0, 2));
    expect(g.backing.has(20)).toBe(false);
    expect(w.frames.owner(hfn)).toBeUndefined();
    expect(w.hostBuddy.freePages()).toBe(free + 1);
    expect(g.invalidation).toMatchObject({ inProgress: 0, seq: 1 });
    expect(g.pendingReclaim).toBeNull();
    expect(reclaimEnd(w, g)).toMatchObject({ ok: false, error: 'no-such-mapping' });
    // The next fault reads it back.
    expect(eptFault(w, g, 20, false)).toBe(true);
    expect(w.frames.read(g.backing.get(20)!)).toEqual(data(0, 2));
  });

  test('a 2 MiB unit is swapped out whole: a slot per frame, one order-9 block freed', () => {
    const w = world(true);
    const g = w.guests[0]!;
    const first = backed(w, 1024 + 5) - 5;
    expect(g.hugeBacked.has(2)).toBe(true);
    const free = w.hostBuddy.freePages();
    const used = w.hostSwapDevice.used;
    expect(reclaimBegin(w, g, 1024 + 300)).toEqual({ ok: true });
    expect(w.hostSwapDevice.used).toBe(used + 512);
    expect(g.invalidation).toMatchObject({ rangeStart: 1024, rangeEnd: 1536 });
    expect(g.ept.lookup(w, 1024 + 5).kind).toBe('violation');
    expect(reclaimEnd(w, g)).toEqual({ ok: true });
    expect(g.hugeBacked.has(2)).toBe(false);
    expect(g.backing.has(1024) || g.backing.has(1535)).toBe(false);
    expect(g.hostSwap.size).toBe(512);
    expect(w.hostBuddy.freePages()).toBe(free + 512);
    expect(w.frames.owner(first + 511)).toBeUndefined();
  });

  test('host-swap-frees-before-writeback: the begin frees the frame (a 4 KiB one, or a 2 MiB unit\'s block) while its write is in flight; the end frees nothing more', () => {
    const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }], faults: ['host-swap-frees-before-writeback'] });
    if (isRefusal(w)) throw new Error(w.detail);
    const g = w.guests[0]!;
    // A swapped frame in the first unit: gfn 3 is backed 4 KiB; the unit at 1024 whole.
    g.hostSwap.set(2, data(0, 1));
    const small = backed(w, 3);
    const huge = backed(w, 1024);
    expect(g.hugeBacked.has(2)).toBe(true);
    for (const [gfn, hfn, frames] of [[3, small, 1], [1024, huge, 512]] as const) {
      const free = w.hostBuddy.freePages();
      expect(reclaimBegin(w, g, gfn)).toEqual({ ok: true });
      expect(w.frames.owner(hfn)).toBeUndefined();
      expect(w.hostBuddy.freePages()).toBe(free + frames);
      expect(reclaimEnd(w, g)).toEqual({ ok: true });
      expect(w.hostBuddy.freePages()).toBe(free + frames);
    }
    // No double free (hostFree records one as an ownership anomaly).
    expect(w.anomalies).toEqual([]);
  });

  test('reclaim-copies-before-zap and ept-kept-after-free on a 2 MiB unit: the begin marks the unit invalidating and leaves its EPT leaf; the first copies every frame then (the slots miss the later writes) and zaps at the end, the second never zaps', () => {
    for (const fault of ['reclaim-copies-before-zap', 'ept-kept-after-free']) {
      const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }], faults: [fault] });
      if (isRefusal(w)) throw new Error(w.detail);
      const g = w.guests[0]!;
      const first = backed(w, 1024);
      const frames = [0, 5, 511];
      for (const i of frames) w.frames.write(first + i, data(0, 10 + i));
      expect(reclaimBegin(w, g, 1024 + 5)).toEqual({ ok: true });
      expect(g.invalidation).toMatchObject({ inProgress: 1, rangeStart: 1024, rangeEnd: 1536 });
      expect(g.ept.lookup(w, 1024 + 5).kind).toBe('leaf');
      for (const i of frames) w.frames.write(first + i, data(0, 20 + i));
      expect(reclaimEnd(w, g)).toEqual({ ok: true });
      const early = fault === 'reclaim-copies-before-zap';
      for (const i of frames) expect(g.hostSwap.get(1024 + i)).toEqual(data(0, (early ? 10 : 20) + i));
      expect(g.ept.lookup(w, 1024 + 5).kind).toBe(early ? 'violation' : 'leaf');
      expect(g.invalidation).toMatchObject({ inProgress: 0, seq: 1 });
    }
  });

  test('a gfn dropped while its swap-out is in flight gets no slot: its reservation goes back unwritten', () => {
    const w = world();
    const g = w.guests[0]!;
    backed(w, 30);
    const used = w.hostSwapDevice.used;
    expect(reclaimBegin(w, g, 30)).toEqual({ ok: true });
    expect(w.hostSwapDevice.used).toBe(used + 1);
    g.setBacking(30, undefined);
    expect(reclaimEnd(w, g)).toEqual({ ok: true });
    expect(g.hostSwap.has(30)).toBe(false);
    expect(w.hostSwapDevice.used).toBe(used);
  });

  test('refusals change nothing: not backed, held by a mechanism, mlocked, not guest memory, swap device full', () => {
    const w = world(true);
    const g = w.guests[0]!;
    expect(reclaimBegin(w, g, 7)).toMatchObject({ ok: false, error: 'no-such-mapping' });
    expect(migrate(w, g, 7)).toMatchObject({ ok: false, error: 'no-such-mapping' });
    backed(w, 5);
    backed(w, 1024 + 5);
    g.backingHooks.push({ busy: (_w, _g, gfn) => (gfn === 1024 + 200 ? 'under migration' : null) });
    expect(reclaimBegin(w, g, 1024 + 5)).toMatchObject({ ok: false, error: 'busy' });
    expect(migrate(w, g, 1024 + 5)).toMatchObject({ ok: false, error: 'busy' });
    g.reclaimVetoes.push((_g, gfn) => gfn === 5);
    expect(reclaimBegin(w, g, 5)).toMatchObject({ ok: false, error: 'busy' });
    expect(g.invalidation.inProgress).toBe(0);
    expect(g.hostSwap.size).toBe(0);
    // A frame the guest's gfn maps that is not its anonymous memory (a KSM page, say).
    const rec = { site: 's', reason: 'r', step: 0, order: 0 };
    const other = backed(w, 40);
    w.frames.setOwner(other, { kind: 'ksm', node: 1 }, rec);
    expect(reclaimBegin(w, g, 40)).toMatchObject({ ok: false, error: 'invalid' });
    expect(migrate(w, g, 40)).toMatchObject({ ok: false, error: 'invalid' });
    expect(g.backing.get(40)).toBe(other);
    expect(g.ept.lookup(w, 40).kind).toBe('leaf');
  });

  test('a hold or an mlock on the next gfn leaves a 4 KiB swap-out of this one alone', () => {
    const w = world();
    const g = w.guests[0]!;
    backed(w, 60);
    backed(w, 61);
    g.backingHooks.push({ busy: (_w, _g, gfn) => (gfn === 61 ? 'under migration' : null) });
    g.reclaimVetoes.push((_g, gfn) => gfn === 61);
    expect(reclaimBegin(w, g, 61)).toMatchObject({ ok: false, error: 'busy' });
    expect(reclaimBegin(w, g, 60)).toEqual({ ok: true });
    expect(reclaimEnd(w, g)).toEqual({ ok: true });
    expect(g.backing.has(60)).toBe(false);
    expect(g.backing.has(61)).toBe(true);
  });

  test('with the swap device short of slots for a whole unit, the slots already reserved go back and nothing is unmapped', () => {
    const w = world(true);
    const g = w.guests[0]!;
    backed(w, 1024);
    const dev = w.hostSwapDevice;
    // One frame of the unit already has its slot: that one is not the refusal's to give back.
    expect(g.hostSwap.reserve(1024 + 1)).toBe(true);
    let gfn = 3000;
    while (dev.available > 100) expect(g.hostSwap.reserve(gfn++)).toBe(true);
    const used = dev.used;
    expect(reclaimBegin(w, g, 1024)).toMatchObject({ ok: false, error: 'limit' });
    expect(dev.used).toBe(used);
    expect(g.hostSwap.has(1024)).toBe(false);
    expect(g.hostSwap.has(1024 + 1)).toBe(true);
    expect(g.ept.lookup(w, 1024).kind).toBe('leaf');
    expect(g.invalidation.inProgress).toBe(0);
    expect(g.pendingReclaim).toBeNull();
  });

  test('a unit whose gfn already has its slot keeps it and swaps out', () => {
    const w = world();
    const g = w.guests[0]!;
    backed(w, 50);
    expect(g.hostSwap.reserve(50)).toBe(true);
    const slot = g.hostSwap.slot(50);
    expect(reclaimBegin(w, g, 50)).toEqual({ ok: true });
    expect(reclaimEnd(w, g)).toEqual({ ok: true });
    expect(g.hostSwap.slot(50)).toBe(slot);
  });

  test('a vCPU faulting inside the range being reclaimed waits for its end; outside it, it does not', () => {
    const w = world();
    const g = w.guests[0]!;
    backed(w, 60);
    expect(waitForInvalidation(w, g, 60)).toBe(false);
    expect(reclaimBegin(w, g, 60)).toEqual({ ok: true });
    expect(waitForInvalidation(w, g, 59)).toBe(false);
    expect(waitForInvalidation(w, g, 61)).toBe(false);
    expect(g.pendingReclaim).not.toBeNull();
    expect(waitForInvalidation(w, g, 60)).toBe(true);
    expect(g.pendingReclaim).toBeNull();
    expect(g.hostSwap.has(60)).toBe(true);
  });

  test('migration copies to a new block, remaps, frees the old one and bumps the sequence; a 2 MiB unit moves as one', () => {
    const w = world(true);
    const g = w.guests[0]!;
    const old = backed(w, 3);
    w.frames.write(old, data(0, 9));
    const seq = g.invalidation.seq;
    expect(migrate(w, g, 3)).toEqual({ ok: true });
    const now = g.backing.get(3)!;
    expect(now).not.toBe(old);
    expect(w.frames.read(now)).toEqual(data(0, 9));
    expect(w.frames.owner(now)).toEqual({ kind: 'guest-memory', guest: 0, gfn: 3 });
    expect(w.frames.owner(old)).toBeUndefined();
    expect(g.ept.lookup(w, 3).kind).toBe('violation');
    expect(g.invalidation).toMatchObject({ seq: seq + 1, inProgress: 0 });
    const first = backed(w, 1024 + 5) - 5;
    w.frames.write(first + 511, data(0, 10));
    expect(migrate(w, g, 1024 + 9)).toEqual({ ok: true });
    const moved = g.backing.get(1024)!;
    expect(moved % 512).toBe(0);
    expect(moved).not.toBe(first);
    expect(g.backing.get(1024 + 511)).toBe(moved + 511);
    expect(w.frames.read(moved + 511)).toEqual(data(0, 10));
    expect(w.hostBuddy.allocatedAt(moved)?.order).toBe(9);
    expect(w.frames.owner(first)).toBeUndefined();
    expect(g.hugeBacked.has(2)).toBe(true);
    // Not while a reclaim is in flight.
    expect(reclaimBegin(w, g, 3)).toEqual({ ok: true });
    expect(migrate(w, g, 1024)).toMatchObject({ ok: false, error: 'busy' });
    expect(reclaimEnd(w, g)).toEqual({ ok: true });
  });

  test('migration with the host out of frames is refused and leaves the frame where it was', () => {
    const w = world();
    const g = w.guests[0]!;
    const old = backed(w, 3);
    while (typeof w.hostBuddy.alloc(0, 'MOVABLE') === 'number');
    expect(migrate(w, g, 3)).toMatchObject({ ok: false, error: 'host-oom' });
    expect(g.backing.get(3)).toBe(old);
    expect(g.ept.lookup(w, 3).kind).toBe('leaf');
    expect(g.invalidation.inProgress).toBe(0);
  });
});
