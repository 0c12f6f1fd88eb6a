/**
 * The host frame table and its ownership ledger (mm/page_owner.c's record per allocation):
 * hostAlloc gives every frame of a block its owner and one shared record, hostFree takes them
 * back and reports a double free as an anomaly instead of throwing; clears are counted per
 * (guest, gfn) the frame backed; the ledger's own index (guest, gfn) -> frame follows the
 * newer frame while a migration has two; and the host swap view frees its slot on delete.
 */
import { data, HOST_BOOT_DATA, ZERO } from '../content';
import { createWorld } from '../registry';
import { isRefusal } from '../result';
import type { World } from '../world';
import { hostAlloc, hostFree } from './alloc';
import { describeOwner, type HostOwner } from './frames';

function world(): World {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

describe('host frames', () => {
  test('hostAlloc gives every frame of the block its own owner and the block\'s record', () => {
    const w = world();
    const free = w.hostBuddy.freePages();
    const hfn = hostAlloc(w, 2, 'MOVABLE', (i) => ({ kind: 'guest-memory', guest: 0, gfn: 100 + i }), 'test-site', 'test-reason');
    if (typeof hfn !== 'number') throw new Error(hfn.detail);
    expect(w.hostBuddy.freePages()).toBe(free - 4);
    for (let i = 0; i < 4; i++) {
      expect(w.frames.owner(hfn + i)).toEqual({ kind: 'guest-memory', guest: 0, gfn: 100 + i });
      expect(w.frames.record(hfn + i)!.alloc).toEqual({ site: 'test-site', reason: 'test-reason', step: w.step, order: 2 });
      expect(w.frames.ledgerFrameOf(0, 100 + i)).toBe(hfn + i);
    }
    expect(w.frames.owner(hfn + 4)).toBeUndefined();
    // A record right after the block (a frame the buddy gave someone else) is not the block's to clear.
    const next = { kind: 'host-kernel', tag: 'next' } as const;
    w.frames.setOwner(hfn + 4, next, { site: 's', reason: 'r', step: 0, order: 0 });
    const owned = w.frames.owned;
    hostFree(w, hfn, 2);
    expect(w.frames.owner(hfn + 4)).toEqual(next);
    expect(w.frames.owned).toBe(owned - 4);
    expect(w.hostBuddy.freePages()).toBe(free);
    for (let i = 0; i < 4; i++) {
      expect(w.frames.owner(hfn + i)).toBeUndefined();
      expect(w.frames.ledgerFrameOf(0, 100 + i)).toBeUndefined();
    }
    expect(w.anomalies).toEqual([]);
  });

  test('with the buddy empty hostAlloc refuses host-oom and records nothing', () => {
    const w = world();
    while (typeof w.hostBuddy.alloc(0, 'MOVABLE') === 'number');
    const owned = w.frames.owned;
    const r = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'host-kernel', tag: 't' }), 's', 'r');
    expect(r).toMatchObject({ ok: false, error: 'host-oom' });
    expect(w.frames.owned).toBe(owned);
  });

  test('freeing a block twice is an ownership anomaly, not a crash', () => {
    const w = world();
    const hfn = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'host-kernel', tag: 't' }), 's', 'r');
    if (typeof hfn !== 'number') throw new Error(hfn.detail);
    hostFree(w, hfn, 0);
    expect(w.anomalies).toEqual([]);
    hostFree(w, hfn, 0);
    expect(w.anomalies).toHaveLength(1);
    expect(w.anomalies[0]).toMatchObject({ property: 'ownership-partition', kind: 'bad-free', expected: 'an allocated block' });
    expect(w.anomalies[0]!.subject).toContain(`hfn ${hfn}`);
  });

  test('a frame reads as the host\'s boot data until written; clears are counted per (guest, gfn) it backed', () => {
    const w = world();
    const hfn = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'guest-memory', guest: 1, gfn: 7 }), 's', 'r');
    const other = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'host-kernel', tag: 't' }), 's', 'r');
    if (typeof hfn !== 'number' || typeof other !== 'number') throw new Error('alloc');
    expect(w.frames.read(hfn)).toBe(HOST_BOOT_DATA);
    const zeroings = w.frames.zeroings;
    w.journal.clear();
    w.frames.clear(hfn, ZERO);
    expect(w.frames.read(hfn)).toBe(ZERO);
    expect(w.journal.frames.has(hfn)).toBe(true);
    w.frames.clear(hfn, ZERO);
    w.frames.clear(other, ZERO);
    expect(w.frames.zeroings).toBe(zeroings + 3);
    expect(w.frames.clearsOf(1, 7)).toBe(2);
    expect(w.frames.clearsOf(0, 7)).toBe(0);
    expect(w.frames.clearsOf(1, 8)).toBe(0);
    // Only guest memory counts: a migration target for (1, 8) cleared is not (1, 8)'s memory yet.
    const target = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'migrate-target', guest: 1, gfn: 8 }), 's', 'r');
    if (typeof target !== 'number') throw new Error(target.detail);
    w.frames.clear(target, ZERO);
    expect(w.frames.clearsOf(1, 8)).toBe(0);
    w.frames.write(hfn, data(1, 3));
    expect(w.frames.read(hfn)).toEqual(data(1, 3));
  });

  test('inRange accepts the integer frame numbers below the count only', () => {
    const w = world();
    expect(w.frames.inRange(0)).toBe(true);
    expect(w.frames.inRange(2 ** 14 - 1)).toBe(true);
    expect(w.frames.inRange(2 ** 14)).toBe(false);
    expect(w.frames.inRange(-1)).toBe(false);
    expect(w.frames.inRange(1.5)).toBe(false);
  });

  test('during a migration two frames carry (guest, gfn): the index follows the newer, and freeing the older keeps it', () => {
    const w = world();
    const rec = { site: 's', reason: 'r', step: 0, order: 0 };
    const gm: HostOwner = { kind: 'guest-memory', guest: 0, gfn: 9 };
    w.frames.setOwner(500, gm, rec);
    expect(w.frames.ledgerFrameOf(0, 9)).toBe(500);
    // The migration's target names (guest, gfn) too, but is not the gfn's frame until it becomes guest memory.
    w.frames.setOwner(501, { kind: 'migrate-target', guest: 0, gfn: 9 }, rec);
    w.frames.setOwner(502, { kind: 'dax-private', guest: 0, gfn: 9 }, rec);
    expect(w.frames.ledgerFrameOf(0, 9)).toBe(500);
    w.frames.clearOwner(502);
    w.journal.clear();
    w.frames.setOwner(501, gm, rec);
    expect(w.frames.ledgerFrameOf(0, 9)).toBe(501);
    // Re-owning a frame that had an owner releases the old one.
    expect(w.journal.released.has(501)).toBe(true);
    w.journal.clear();
    w.frames.setOwner(503, { kind: 'host-kernel', tag: 't' }, rec);
    // A fresh owner record: journaled as an owner change, not a release.
    expect(w.journal.owners.has(503) && !w.journal.released.has(503)).toBe(true);
    w.journal.clear();
    w.frames.clearOwner(500);
    expect(w.frames.ledgerFrameOf(0, 9)).toBe(501);
    expect(w.journal.released.has(500)).toBe(true);
    expect(w.journal.gfns.size).toBe(0);
    w.frames.clearOwner(501);
    expect(w.frames.ledgerFrameOf(0, 9)).toBeUndefined();
    // The ledger no longer gives gfn 9 a frame: journaled so the per-gfn checks look at it.
    expect(w.journal.gfns.get(0)).toEqual(new Set([9]));
  });

  test('re-owning a guest frame drops its old (guest, gfn) from the index and journals a release', () => {
    const w = world();
    const rec = { site: 's', reason: 'r', step: 0, order: 0 };
    w.frames.setOwner(600, { kind: 'guest-memory', guest: 0, gfn: 3 }, rec);
    w.journal.clear();
    w.frames.setOwner(600, { kind: 'ksm', node: 1 }, rec);
    expect(w.frames.ledgerFrameOf(0, 3)).toBeUndefined();
    expect(w.journal.released.has(600)).toBe(true);
    expect(w.journal.gfns.get(0)).toEqual(new Set([3]));
    expect(w.frames.owner(600)).toEqual({ kind: 'ksm', node: 1 });
    w.frames.setOwner(600, { kind: 'guest-memory', guest: 1, gfn: 3 }, rec);
    expect(w.frames.ledgerFrameOf(1, 3)).toBe(600);
    expect(w.frames.ledgerFrameOf(0, 3)).toBeUndefined();
    expect([...w.frames.ownedFrames()].map(([h]) => h)).toContain(600);
  });

  test('describeOwner names each kind with the fields that tell two owners apart', () => {
    const cases: [HostOwner | undefined, string[]][] = [
      [undefined, ['free']],
      [{ kind: 'host-kernel', tag: 'slab' }, ['host-kernel', 'slab']],
      [{ kind: 'guest-memory', guest: 2, gfn: 0x1f }, ['g2', '0x1f']],
      [{ kind: 'ept-table', guest: 3, level: 2 }, ['g3', 'EPT', 'L2']],
      [{ kind: 'host-page-cache', guest: 1, disk: 4, block: 5 }, ['page cache', 'g1', 'disk 4', 'block 5']],
      [{ kind: 'shared-page-cache', file: 6, index: 7 }, ['shared page cache', 'file 6', 'page 7']],
      [{ kind: 'dax-private', guest: 1, gfn: 0x20 }, ['g1', 'DAX', '0x20']],
      [{ kind: 'tmem', pool: 8, key: 0x30 }, ['tmem', 'pool 8', '0x30']],
      [{ kind: 'migrate-target', guest: 5, gfn: 0x40 }, ['migration', 'g5', '0x40']],
      [{ kind: 'ksm', node: 9 }, ['KSM', 'node 9']],
    ];
    const seen = new Set<string>();
    for (const [o, parts] of cases) {
      const d = describeOwner(o);
      for (const part of parts) expect(d).toContain(part);
      seen.add(d);
    }
    expect(seen.size).toBe(cases.length);
  });

  test('the host swap view: a reserved slot reads as nothing until written, set reserves and writes, clear frees every slot', () => {
    const w = world();
    const g = w.guests[0]!;
    const dev = w.hostSwapDevice;
    const used = dev.used;
    expect(g.hostSwap.reserve(10)).toBe(true);
    expect(g.hostSwap.reserve(10)).toBe(true);
    expect(dev.used).toBe(used + 1);
    expect(g.hostSwap.has(10)).toBe(true);
    expect(g.hostSwap.get(10)).toBeUndefined();
    // Writing a gfn with no slot does nothing, and journals nothing.
    w.journal.clear();
    g.hostSwap.write(11, data(0, 1));
    expect(w.journal.gfns.size).toBe(0);
    expect(dev.used).toBe(used + 1);
    expect(g.hostSwap.has(11)).toBe(false);
    expect(g.hostSwap.get(11)).toBeUndefined();
    g.hostSwap.write(10, data(0, 2));
    expect(g.hostSwap.get(10)).toEqual(data(0, 2));
    expect(g.hostSwap.set(12, data(0, 3))).toBe(g.hostSwap);
    expect(g.hostSwap.get(12)).toEqual(data(0, 3));
    expect(g.hostSwap.size).toBe(2);
    expect([...g.hostSwap.keys()]).toEqual([10, 12]);
    expect([...g.hostSwap.entries()].map(([gfn, s]) => [gfn, dev.owner(s)])).toEqual([
      [10, { kind: 'guest-memory', guest: 0, gfn: 10 }],
      [12, { kind: 'guest-memory', guest: 0, gfn: 12 }],
    ]);
    g.hostSwap.clear();
    expect(g.hostSwap.size).toBe(0);
    expect(dev.used).toBe(used);
  });

  test('the host swap view refuses a reservation when the device is full, and set then stores nothing', () => {
    const w = world();
    const g = w.guests[0]!;
    const dev = w.hostSwapDevice;
    let gfn = 0;
    while (dev.available > 0) expect(g.hostSwap.reserve(gfn++)).toBe(true);
    expect(g.hostSwap.reserve(gfn)).toBe(false);
    expect(g.hostSwap.has(gfn)).toBe(false);
    g.hostSwap.set(gfn, data(0, 1));
    expect(g.hostSwap.has(gfn)).toBe(false);
    expect(g.hostSwap.get(gfn)).toBeUndefined();
    // A gfn that already has its slot keeps it.
    expect(g.hostSwap.reserve(0)).toBe(true);
  });
});
