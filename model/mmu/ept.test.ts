/**
 * The EPT radix tree on its own (SDM vol. 3C 29.3): one memory reference per level read, a
 * violation where the walk finds no entry, a misconfiguration where a table frame does not
 * hold a table; leaves at level 1 (4 KiB) or 2 (2 MiB) with the offset inside a huge page;
 * overlapping maps refused, an empty table replaced by a huge leaf freed (KVM frees such child
 * tables when it installs a huge SPTE), zaps that report the range the leaf covered, and the
 * reverse map and journal kept in step with every write.
 */
import { EPT_READ, EPT_RWX, EPT_WRITE } from '../constants';
import { contentOwner, data, HOST_DOMAIN } from '../content';
import { PageTable } from '../paging/table';
import { createWorld } from '../registry';
import { isRefusal } from '../result';
import type { World } from '../world';

function world(eptLevels: 4 | 5 = 4): World {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels, hugePages: false }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

/** The table frame of `level` the walk to gfn passes through (the root is eptLevels). */
function tableOf(w: World, gfn: number, level: number): number {
  const ept = w.guests[0]!.ept;
  for (const [hfn, info] of ept.tables) {
    const span = 512 ** info.level;
    if (info.level === level && gfn >= info.gfnBase && gfn < info.gfnBase + span) return hfn;
  }
  throw new Error(`no L${level} table over gfn ${gfn}`);
}

describe('EPT', () => {
  test('lookup reads one entry per level and stops at the first missing one', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.lookup(w, 5)).toEqual({ kind: 'violation', refs: 1, level: 4 });
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    const hit = ept.lookup(w, 5);
    expect(hit).toMatchObject({ kind: 'leaf', level: 1, refs: 4, hfn: 9000 });
    expect(hit.kind === 'leaf' && hit.entry.pfn).toBe(9000);
    expect(hit.kind === 'leaf' && hit.entry.flags & EPT_RWX).toBe(EPT_RWX);
    // Same L1 table, empty slot: all four levels read.
    expect(ept.lookup(w, 6)).toEqual({ kind: 'violation', refs: 4, level: 1 });
    // Next L2 slot: no L1 table there.
    expect(ept.lookup(w, 512)).toEqual({ kind: 'violation', refs: 3, level: 2 });
    // Next L3 slot (1 GiB further).
    expect(ept.lookup(w, 512 * 512)).toEqual({ kind: 'violation', refs: 2, level: 3 });
  });

  test('a 5-level EPT reads five entries to a 4 KiB leaf', () => {
    const w = world(5);
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 7, 9001, 1)).toBe(true);
    expect(ept.lookup(w, 7)).toMatchObject({ kind: 'leaf', level: 1, refs: 5, hfn: 9001 });
    expect(ept.tables.size).toBe(5);
  });

  test('a 2 MiB leaf ends the walk at level 2 and translates every frame of its range by offset', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 1024, 8192, 2, EPT_READ)).toBe(true);
    expect(ept.lookup(w, 1024)).toMatchObject({ kind: 'leaf', level: 2, refs: 3, hfn: 8192 });
    expect(ept.lookup(w, 1024 + 7)).toMatchObject({ kind: 'leaf', level: 2, refs: 3, hfn: 8199 });
    expect(ept.lookup(w, 1024 + 511)).toMatchObject({ kind: 'leaf', level: 2, refs: 3, hfn: 8192 + 511 });
    const l = ept.lookup(w, 1030);
    // The permissions asked for, and no more.
    expect(l.kind === 'leaf' && l.entry.flags & EPT_RWX).toBe(EPT_READ);
    expect(ept.lookup(w, 1024 + 512)).toEqual({ kind: 'violation', refs: 3, level: 2 });
    expect(ept.lookup(w, 1023)).toEqual({ kind: 'violation', refs: 3, level: 2 });
    // Root, L3 and L2 tables only: a huge leaf needs no L1 table.
    expect(ept.tables.size).toBe(3);
  });

  test('tables record their level, parent slot and the first gfn they cover', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    const gfn = 512 * 512 + 3 * 512 + 2; // L4 slot 0, L3 slot 1, L2 slot 3, L1 slot 2
    expect(ept.mapLeaf(w, gfn, 9000, 1)).toBe(true);
    expect(ept.tables.get(ept.root)).toEqual({ level: 4, parent: -1, index: 0, gfnBase: 0 });
    const l3 = tableOf(w, gfn, 3);
    const l2 = tableOf(w, gfn, 2);
    const l1 = tableOf(w, gfn, 1);
    expect(ept.tables.get(l3)).toEqual({ level: 3, parent: ept.root, index: 0, gfnBase: 0 });
    expect(ept.tables.get(l2)).toEqual({ level: 2, parent: l3, index: 1, gfnBase: 512 * 512 });
    expect(ept.tables.get(l1)).toEqual({ level: 1, parent: l2, index: 3, gfnBase: 512 * 512 + 3 * 512 });
    // Each table frame is owned by the EPT with its level, and was cleared before use.
    expect(w.frames.owner(l1)).toEqual({ kind: 'ept-table', guest: 0, level: 1 });
    expect(w.frames.owner(l2)).toEqual({ kind: 'ept-table', guest: 0, level: 2 });
    expect(w.frames.record(l1)?.alloc).toMatchObject({ site: 'ept-table', reason: 'L1', order: 0 });
    // Page-table pages cannot move (KVM's page-table caches allocate them unmovable).
    for (const t of [l1, l2, l3]) expect(w.hostBuddy.allocatedAt(t)?.mt).toBe('UNMOVABLE');
  });

  test('mapping allocates and clears only the missing tables', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    const free = w.hostBuddy.freePages();
    const zeroings = w.frames.zeroings;
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    expect(w.hostBuddy.freePages()).toBe(free - 3);
    expect(w.frames.zeroings).toBe(zeroings + 3);
    expect(ept.mapLeaf(w, 6, 9001, 1)).toBe(true);
    expect(w.hostBuddy.freePages()).toBe(free - 3);
    expect(ept.mapLeaf(w, 512, 9002, 1)).toBe(true);
    expect(w.hostBuddy.freePages()).toBe(free - 4);
    expect(ept.tables.size).toBe(5);
  });

  test('overlapping maps are refused and change nothing', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    expect(ept.mapLeaf(w, 1024, 8192, 2)).toBe(true);
    const tables = ept.tables.size;
    // Inside a 2 MiB leaf.
    expect(ept.mapLeaf(w, 1024 + 3, 9100, 1)).toMatchObject({ ok: false, error: 'overlap' });
    // The same 2 MiB leaf again.
    expect(ept.mapLeaf(w, 1024, 9216, 2)).toMatchObject({ ok: false, error: 'overlap' });
    // The same 4 KiB leaf again.
    expect(ept.mapLeaf(w, 5, 9100, 1)).toMatchObject({ ok: false, error: 'overlap' });
    // A 2 MiB leaf over an L1 table that still maps gfn 5.
    expect(ept.mapLeaf(w, 0, 8704, 2)).toMatchObject({ ok: false, error: 'overlap' });
    expect(ept.tables.size).toBe(tables);
    expect(ept.lookup(w, 5)).toMatchObject({ kind: 'leaf', level: 1, hfn: 9000 });
    expect(ept.lookup(w, 1024 + 3)).toMatchObject({ kind: 'leaf', level: 2, hfn: 8195 });
    expect(w.eptRmap.reaching(9100)).toEqual([]);
    expect(w.eptRmap.reaching(8704)).toEqual([]);
  });

  test('a 2 MiB leaf replaces an L1 table that zaps left empty, and the table frame is freed', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    const l1 = tableOf(w, 5, 1);
    expect(ept.zap(w, 5)).toEqual({ gfn: 5, frames: 1 });
    // Zap keeps the empty table (KVM frees it lazily).
    expect(ept.tables.has(l1)).toBe(true);
    expect(ept.lookup(w, 5)).toEqual({ kind: 'violation', refs: 4, level: 1 });
    const free = w.hostBuddy.freePages();
    expect(ept.mapLeaf(w, 0, 8704, 2)).toBe(true);
    expect(ept.tables.has(l1)).toBe(false);
    expect(w.frames.owner(l1)).toBeUndefined();
    expect(w.hostBuddy.freePages()).toBe(free + 1);
    expect(ept.lookup(w, 5)).toMatchObject({ kind: 'leaf', level: 2, refs: 3, hfn: 8709 });
  });

  test('zap removes the leaf covering a gfn and reports the whole range it covered', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.zap(w, 5)).toBeNull();
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    expect(ept.mapLeaf(w, 1024, 8192, 2)).toBe(true);
    expect(ept.zap(w, 6)).toBeNull();
    expect(ept.zap(w, 512)).toBeNull();
    w.journal.clear();
    expect(ept.zap(w, 1024 + 100)).toEqual({ gfn: 1024, frames: 512 });
    expect(ept.lookup(w, 1024 + 100)).toEqual({ kind: 'violation', refs: 3, level: 2 });
    expect(w.eptRmap.reaching(8192 + 100)).toEqual([]);
    // Every gfn of the range is journaled, and the table written.
    const gfns = w.journal.gfns.get(0)!;
    expect(gfns.size).toBe(512);
    expect(gfns.has(1024) && gfns.has(1024 + 511)).toBe(true);
    expect(w.journal.eptTables.get(0)).toEqual(new Set([tableOf(w, 1024, 2)]));
    expect(w.journal.frames.has(tableOf(w, 1024, 2))).toBe(true);
    // The 4 KiB leaf is still there.
    expect(ept.lookup(w, 5)).toMatchObject({ kind: 'leaf', hfn: 9000 });
    expect(ept.zap(w, 5)).toEqual({ gfn: 5, frames: 1 });
    expect(ept.zap(w, 5)).toBeNull();
    expect(ept.leaves(w)).toEqual([]);
  });

  test('mapping journals every gfn of the leaf, the table written, and adds the reverse map', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    w.journal.clear();
    expect(ept.mapLeaf(w, 2048, 8192, 2)).toBe(true);
    const gfns = w.journal.gfns.get(0)!;
    expect(gfns.size).toBe(512);
    expect(gfns.has(2048) && gfns.has(2048 + 511) && !gfns.has(2048 + 512)).toBe(true);
    expect(w.journal.eptTables.get(0)!.has(tableOf(w, 2048, 2))).toBe(true);
    expect(w.eptRmap.reaching(8192 + 9)).toEqual([{ owner: 0, source: 2048 + 9, level: 2 }]);
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    expect(w.eptRmap.reaching(9000)).toEqual([{ owner: 0, source: 5, level: 1 }]);
    expect(ept.zap(w, 5)).toEqual({ gfn: 5, frames: 1 });
    expect(w.eptRmap.reaching(9000)).toEqual([]);
  });

  test('leaves lists every present leaf with its first gfn and level, in tree order', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 512 * 512 + 1, 9001, 1)).toBe(true);
    expect(ept.mapLeaf(w, 1024, 8192, 2)).toBe(true);
    expect(ept.mapLeaf(w, 7, 9000, 1, EPT_READ | EPT_WRITE)).toBe(true);
    expect(ept.leaves(w).map(({ gfn, level, entry }) => [gfn, level, entry.pfn])).toEqual([
      [7, 1, 9000],
      [1024, 2, 8192],
      [512 * 512 + 1, 1, 9001],
    ]);
  });

  test('a table frame that does not hold an EPT table is a misconfiguration: lookup reports it, zap and leaves skip it', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    expect(ept.mapLeaf(w, 512 * 512, 9001, 1)).toBe(true);
    const l1 = tableOf(w, 5, 1);
    expect(ept.table(w, l1)).not.toBeNull();
    w.frames.write(l1, data(0, 1));
    expect(ept.table(w, l1)).toBeNull();
    expect(ept.lookup(w, 5)).toEqual({ kind: 'misconfig', refs: 4, level: 1, tableHfn: l1 });
    expect(ept.zap(w, 5)).toBeNull();
    expect(ept.leaves(w).map((l) => l.gfn)).toEqual([512 * 512]);
    // Nor is a frame holding a guest page table.
    const l1b = tableOf(w, 512 * 512, 1);
    w.frames.write(l1b, { kind: 'table', writer: 0, table: new PageTable('guest', 1) });
    expect(ept.table(w, l1b)).toBeNull();
    expect(ept.lookup(w, 512 * 512)).toEqual({ kind: 'misconfig', refs: 4, level: 1, tableHfn: l1b });
    expect(ept.leaves(w)).toEqual([]);
  });

  test('destroy frees every table frame', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    const free = w.hostBuddy.freePages();
    expect(ept.mapLeaf(w, 5, 9000, 1)).toBe(true);
    expect(ept.mapLeaf(w, 512 * 512, 9001, 1)).toBe(true);
    expect(ept.zap(w, 5)).not.toBeNull();
    expect(ept.zap(w, 512 * 512)).not.toBeNull();
    const frames = [...ept.tables.keys()];
    expect(frames).toHaveLength(6);
    ept.destroy(w);
    expect(ept.tables.size).toBe(0);
    // The root too.
    expect(w.hostBuddy.freePages()).toBe(free + 1);
    for (const hfn of frames) expect(w.frames.owner(hfn)).toBeUndefined();
  });

  test('with the host out of frames a map that needs a table is refused and writes nothing', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    while (typeof w.hostBuddy.alloc(0, 'MOVABLE') === 'number');
    expect(w.hostBuddy.freePages()).toBe(0);
    expect(ept.mapLeaf(w, 5, 9000, 1)).toMatchObject({ ok: false, error: 'host-oom' });
    expect(ept.lookup(w, 5)).toEqual({ kind: 'violation', refs: 1, level: 4 });
    expect(ept.tables.size).toBe(1);
    expect(w.eptRmap.reaching(9000)).toEqual([]);
  });

  test('a leaf must be aligned to its size on both sides; a misaligned map is refused and writes nothing', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 1024 + 1, 8192, 2)).toMatchObject({ ok: false, error: 'invalid' });
    expect(ept.mapLeaf(w, 1024, 8192 + 1, 2)).toMatchObject({ ok: false, error: 'invalid' });
    expect(ept.lookup(w, 1024)).toEqual({ kind: 'violation', refs: 1, level: 4 });
    expect(ept.tables.size).toBe(1);
    // Any 4 KiB frame is aligned.
    expect(ept.mapLeaf(w, 1025, 8193, 1)).toBe(true);
  });

  test('an entry with none of R, W, X is not present (SDM 29.3.2): lookup sees a violation and leaves skip it', () => {
    const w = world();
    const ept = w.guests[0]!.ept;
    expect(ept.mapLeaf(w, 5, 9000, 1, 0)).toBe(true);
    expect(ept.mapLeaf(w, 6, 9001, 1)).toBe(true);
    expect(ept.lookup(w, 5)).toEqual({ kind: 'violation', refs: 4, level: 1 });
    expect(ept.leaves(w).map((l) => l.gfn)).toEqual([6]);
    expect(ept.zap(w, 5)).toBeNull();
  });
});

test('every EPT table frame, the root and those mapLeaf allocates, holds a table written by the host', () => {
  const w = world();
  const g = w.guests[0]!;
  expect(g.ept.mapLeaf(w, 0x123, 0x2000, 1)).toBe(true);
  expect(g.ept.tables.size).toBe(4);
  for (const hfn of g.ept.tables.keys()) expect(contentOwner(w.frames.read(hfn))).toBe(HOST_DOMAIN);
});
