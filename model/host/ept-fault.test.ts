/**
 * The host's EPT violation handler (kvm_tdp_page_fault): which memslot a gfn is in, how its
 * frame is found or made (an existing frame, a swap-in, a fresh cleared frame, a whole 2 MiB
 * block for an untouched unit of a huge-page guest), the permissions the host mapping allows
 * (PROT_NONE and read-only give SIGBUS or a read-only leaf), a write to a read-only leaf
 * replaced inside an invalidation, and a fault that raced an invalidation retried.
 */
import { EPT_EXEC, EPT_READ, EPT_RWX, EPT_WRITE } from '../constants';
import { data, ZERO } from '../content';
import { createWorld } from '../registry';
import { isRefusal } from '../result';
import type { World } from '../world';
import { eptFault, hostAllows, installResolved, memslotEnd, ramLike, resolveBacking, windowAt } from './ept-fault';
import { zapAndFlush } from '../mmu/notifier';

function world(hugePages = false): World {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

const leafFlags = (w: World, gfn: number): number => {
  const l = w.guests[0]!.ept.lookup(w, gfn);
  return l.kind === 'leaf' ? l.entry.flags & EPT_RWX : -1;
};

describe('host EPT fault', () => {
  test('memslots: guest RAM, then windows by their half-open ranges', () => {
    const w = world();
    const g = w.guests[0]!;
    const dev = { start: 5000, end: 5010, ram: false };
    const mem = { start: 6000, end: 7024, ram: true };
    g.windows.push(dev, mem);
    expect(windowAt(g, 4999)).toBeUndefined();
    expect(windowAt(g, 5000)).toBe(dev);
    expect(windowAt(g, 5009)).toBe(dev);
    expect(windowAt(g, 5010)).toBeUndefined();
    expect(windowAt(g, 6500)).toBe(mem);
    expect(ramLike(g, 4095)).toBe(true);
    expect(ramLike(g, 4096)).toBe(false);
    expect(ramLike(g, 5005)).toBe(false);
    expect(ramLike(g, 6000)).toBe(true);
    expect(memslotEnd(g, 0)).toBe(4096);
    expect(memslotEnd(g, 4095)).toBe(4096);
    // The first gfn above RAM is in the device window every guest has (4096..4112).
    expect(memslotEnd(g, 4096)).toBe(4112);
    expect(memslotEnd(g, 6001)).toBe(7024);
    expect(memslotEnd(g, 4500)).toBe(4500);
  });

  test('a gfn in no memslot, or in a device window with no handler, is invalid; a device window\'s handler serves its own', () => {
    const w = world();
    const g = w.guests[0]!;
    // (4096..4112 is a device window every guest has.)
    expect(eptFault(w, g, 4200, false)).toMatchObject({ ok: false, error: 'invalid' });
    // The first gfn above RAM is that window's, not RAM: its handler serves it
    expect(eptFault(w, g, 4096, false)).toBe(true);
    // (a DAX window: the frame behind it is the host file's page, shared, not guest memory).
    expect(w.frames.owner(g.backing.get(4096)!)?.kind).toBe('shared-page-cache');
    expect(w.frames.ledgerFrameOf(0, 4096)).toBeUndefined();
    const calls: [number, boolean][] = [];
    g.windows.push({ start: 5000, end: 5010, ram: false, fault: (_w, _g, gfn, write) => (calls.push([gfn, write]), true) });
    g.windows.push({ start: 5010, end: 5020, ram: false });
    expect(eptFault(w, g, 5003, true)).toBe(true);
    expect(calls).toEqual([[5003, true]]);
    expect(eptFault(w, g, 5011, false)).toMatchObject({ ok: false, error: 'invalid' });
    expect(g.backing.has(5003) || g.backing.has(5011)).toBe(false);
  });

  test('a ram memslot above guest RAM is backed like RAM', () => {
    const w = world();
    const g = w.guests[0]!;
    g.windows.push({ start: 8192, end: 8192 + 512, ram: true });
    expect(eptFault(w, g, 8200, true)).toBe(true);
    const hfn = g.backing.get(8200)!;
    expect(w.frames.owner(hfn)).toEqual({ kind: 'guest-memory', guest: 0, gfn: 8200 });
    expect(w.guests[0]!.ept.lookup(w, 8200)).toMatchObject({ kind: 'leaf', level: 1, hfn });
  });

  test('a first touch gets a cleared 4 KiB frame mapped RWX', () => {
    const w = world();
    const g = w.guests[0]!;
    expect(eptFault(w, g, 5, false)).toBe(true);
    const hfn = g.backing.get(5)!;
    expect(w.frames.read(hfn)).toBe(ZERO);
    expect(w.frames.clearsOf(0, 5)).toBe(1);
    expect(w.frames.record(hfn)!.alloc).toMatchObject({ site: 'ept-fault', reason: 'zero-fill', order: 0 });
    expect(g.ept.lookup(w, 5)).toMatchObject({ kind: 'leaf', level: 1, hfn });
    expect(leafFlags(w, 5)).toBe(EPT_RWX);
    expect(w.transitions.get('nested-mmu')!.get('unbacked->backed')).toBe(1);
    expect(w.transitions.get('nested-mmu')!.get('fault->installed')).toBe(1);
  });

  test('a swapped gfn is read back from its slot, which is freed', () => {
    const w = world();
    const g = w.guests[0]!;
    g.hostSwap.set(9, data(0, 42));
    const used = w.hostSwapDevice.used;
    expect(eptFault(w, g, 9, false)).toBe(true);
    const hfn = g.backing.get(9)!;
    expect(w.frames.read(hfn)).toEqual(data(0, 42));
    expect(w.frames.clearsOf(0, 9)).toBe(0);
    expect(g.hostSwap.has(9)).toBe(false);
    expect(w.hostSwapDevice.used).toBe(used - 1);
    expect(w.frames.record(hfn)!.alloc.reason).toBe('swap-in');
    expect(w.transitions.get('nested-mmu')!.get('swapped->backed')).toBe(1);
  });

  test('with huge pages an untouched 2 MiB unit, the last of RAM included, gets one order-9 block and a 2 MiB leaf', () => {
    const w = world(true);
    const g = w.guests[0]!;
    const base = 4096 - 512;
    expect(eptFault(w, g, base + 7, true)).toBe(true);
    expect(g.hugeBacked.has(base / 512)).toBe(true);
    const first = g.backing.get(base)!;
    expect(first % 512).toBe(0);
    for (const i of [0, 7, 511]) {
      expect(g.backing.get(base + i)).toBe(first + i);
      expect(w.frames.read(first + i)).toBe(ZERO);
      expect(w.frames.owner(first + i)).toEqual({ kind: 'guest-memory', guest: 0, gfn: base + i });
    }
    expect(w.frames.record(first)!.alloc).toMatchObject({ reason: 'zero-fill 2M', order: 9 });
    expect(g.ept.lookup(w, base + 300)).toMatchObject({ kind: 'leaf', level: 2, hfn: first + 300 });
    expect(resolveBacking(w, g, base + 3)).toEqual({ hfn: first + 3, frames: 512 });
    // Zapped and faulted again: the same block, mapped 2 MiB again.
    zapAndFlush(w, g, base, base + 512);
    expect(eptFault(w, g, base + 100, false)).toBe(true);
    expect(g.ept.lookup(w, base + 100)).toMatchObject({ kind: 'leaf', level: 2, hfn: first + 100 });
  });

  test('a unit with a frame already backed or swapped, or one past the end of its memslot, is served 4 KiB at a time', () => {
    const w = world(true);
    const g = w.guests[0]!;
    g.hostSwap.set(1, data(0, 1));
    expect(eptFault(w, g, 3, false)).toBe(true);
    expect(g.hugeBacked.size).toBe(0);
    expect(g.ept.lookup(w, 3)).toMatchObject({ kind: 'leaf', level: 1 });
    expect(resolveBacking(w, g, 3)).toEqual({ hfn: g.backing.get(3), frames: 1 });
    // The next unit is untouched; a slot on the first frame of the unit after it is not its.
    g.hostSwap.set(1024, data(0, 2));
    expect(eptFault(w, g, 512 + 4, false)).toBe(true);
    expect(g.hugeBacked.has(1)).toBe(true);
    // The last unit of a ram memslot 511 frames long.
    g.windows.push({ start: 8192, end: 8192 + 511, ram: true });
    expect(eptFault(w, g, 8192, false)).toBe(true);
    expect(g.ept.lookup(w, 8192)).toMatchObject({ kind: 'leaf', level: 1 });
    expect(g.hugeBacked.has(16)).toBe(false);
  });

  test('with no free order-9 block a huge-page guest falls back to a 4 KiB frame', () => {
    const w = world(true);
    const g = w.guests[0]!;
    while (w.hostBuddy.freePages() > 100) expect(typeof w.hostBuddy.alloc(0, 'MOVABLE')).toBe('number');
    expect(eptFault(w, g, 1024, true)).toBe(true);
    expect(g.hugeBacked.size).toBe(0);
    expect(g.ept.lookup(w, 1024)).toMatchObject({ kind: 'leaf', level: 1 });
    expect(g.backing.has(1025)).toBe(false);
  });

  test('the host mapping\'s protection: PROT_NONE gives SIGBUS, read-only gives SIGBUS on write and a read-only leaf on read', () => {
    const w = world();
    const g = w.guests[0]!;
    expect(hostAllows(g, 5)).toBe(EPT_RWX);
    g.hostProtection = (gfn) => (gfn < 10 ? 0 : EPT_READ | EPT_EXEC);
    expect(hostAllows(g, 5)).toBe(0);
    expect(eptFault(w, g, 5, false)).toMatchObject({ ok: false, error: 'sigbus' });
    expect(eptFault(w, g, 20, true)).toMatchObject({ ok: false, error: 'sigbus' });
    expect(g.backing.has(5) || g.backing.has(20)).toBe(false);
    expect(eptFault(w, g, 20, false)).toBe(true);
    expect(leafFlags(w, 20)).toBe(EPT_READ | EPT_EXEC);
    // Write-only without read is no access either.
    g.hostProtection = () => EPT_WRITE;
    expect(eptFault(w, g, 30, true)).toMatchObject({ ok: false, error: 'sigbus' });
  });

  test('a backing hook that write-protects the primary mapping gets a leaf without W', () => {
    const w = world();
    const g = w.guests[0]!;
    g.backingHooks.push({ readOnly: (_w, _g, gfn) => gfn === 7 });
    expect(eptFault(w, g, 7, false)).toBe(true);
    expect(eptFault(w, g, 8, false)).toBe(true);
    expect(leafFlags(w, 7)).toBe(EPT_READ | EPT_EXEC);
    expect(leafFlags(w, 8)).toBe(EPT_RWX);
  });

  test('a write to a read-only leaf the host now allows to write replaces the leaf inside an invalidation', () => {
    const w = world();
    const g = w.guests[0]!;
    g.hostProtection = () => EPT_READ | EPT_EXEC;
    expect(eptFault(w, g, 20, false)).toBe(true);
    const hfn = g.backing.get(20)!;
    expect(leafFlags(w, 20)).toBe(EPT_READ | EPT_EXEC);
    g.hostProtection = null;
    const seq = g.invalidation.seq;
    expect(eptFault(w, g, 20, true)).toBe(true);
    expect(g.invalidation).toMatchObject({ seq: seq + 1, inProgress: 0 });
    expect(leafFlags(w, 20)).toBe(EPT_RWX);
    expect(g.backing.get(20)).toBe(hfn);
    // A read fault on a present leaf (a spurious one) runs no invalidation.
    expect(eptFault(w, g, 20, false)).toMatchObject({ ok: false, error: 'overlap' });
    expect(g.invalidation.seq).toBe(seq + 1);
  });

  test('a write fault a backing hook serves (KSM breaking copy-on-write) is its answer, with no invalidation here', () => {
    const w = world();
    const g = w.guests[0]!;
    expect(eptFault(w, g, 20, false)).toBe(true);
    const served: number[] = [];
    g.backingHooks.push({ writeFault: (_w, _g, gfn) => (gfn === 20 ? (served.push(gfn), true) : null) });
    const seq = g.invalidation.seq;
    expect(eptFault(w, g, 20, true)).toBe(true);
    expect(served).toEqual([20]);
    expect(g.invalidation.seq).toBe(seq);
  });

  test('a fault whose frame was resolved before an invalidation is stale: retry, and nothing is installed', () => {
    const w = world();
    const g = w.guests[0]!;
    const seq = g.invalidation.seq;
    const r = resolveBacking(w, g, 40);
    if (isRefusal(r)) throw new Error(r.detail);
    g.invalidation.seq++;
    expect(installResolved(w, g, 40, r, seq)).toMatchObject({ ok: false, error: 'retry' });
    expect(g.ept.lookup(w, 40).kind).toBe('violation');
    expect(w.transitions.get('nested-mmu')!.get('fault->retry')).toBe(1);
    expect(installResolved(w, g, 40, r, g.invalidation.seq)).toBe(true);
    expect(g.ept.lookup(w, 40)).toMatchObject({ kind: 'leaf', hfn: r.hfn });
    // PROT_NONE by the time of the install: no leaf at all.
    const r2 = resolveBacking(w, g, 41);
    if (isRefusal(r2)) throw new Error(r2.detail);
    g.hostProtection = () => 0;
    expect(installResolved(w, g, 41, r2, g.invalidation.seq)).toMatchObject({ ok: false, error: 'sigbus' });
    expect(g.ept.lookup(w, 41).kind).toBe('violation');
  });

  test('a guard hook holds the fault off before any frame is made', () => {
    const w = world();
    const g = w.guests[0]!;
    g.backingHooks.push({ guard: (_w, _g, gfn) => (gfn === 50 ? { ok: false, error: 'busy', detail: 'held' } : null) });
    expect(eptFault(w, g, 50, false)).toMatchObject({ ok: false, error: 'busy' });
    expect(g.backing.has(50)).toBe(false);
    expect(eptFault(w, g, 51, false)).toBe(true);
  });
});
