/**
 * The two-dimensional walk's reference counts against the published figures (Bhargava et al.,
 * ASPLOS 2008): (g+1)(h+1)-1 = 24 for 4/4 levels, 29 for 4/5, 35 for 5/5; a 2 MiB host page
 * shortens every EPT walk by one level, a 2 MiB guest page the guest walk by one.
 */
import { createWorld } from '../registry';
import { isRefusal } from '../result';
import type { World } from '../world';
import { access } from './access';
import { expectedWalkRefs, nestedWalk, uniformWalkRefs } from './walk';
import { spawn, mmap } from '../guest/kernel';
import { EPT_EXEC, EPT_READ, PTE_ACCESSED, PTE_DIRTY, PTE_PS, PTE_RW, PTE_USER } from '../constants';
import { data, ZERO } from '../content';
import { PageTable } from '../paging/table';
import { peekGuestPhysical } from './peek';

function machine(guestLevels: 4 | 5, eptLevels: 4 | 5, hugePages: boolean): World {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels, eptLevels, hugePages }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

function walkOfFirstTouch(w: World, huge: boolean): ReturnType<typeof nestedWalk> {
  const g = w.guests[0]!;
  const pid = spawn(w, g);
  if (!pid.ok) throw new Error(pid.detail);
  const p = g.processes.get(pid.value!)!;
  expect(mmap(w, g, p, 1024, 512, { write: true, exec: false }, huge).ok).toBe(true);
  expect(access(w, g, p, 1024, 'write').ok).toBe(true);
  return nestedWalk(w, g, p.cr3, 1024, 'read', false);
}

function refsOfFirstTouch(w: World, huge: boolean): number {
  const walk = walkOfFirstTouch(w, huge);
  if (walk.kind !== 'ok') throw new Error(walk.kind);
  return walk.refs;
}

describe('nested walk references', () => {
  it.each([
    [4, 4, 24],
    [4, 5, 29],
    [5, 4, 29],
    [5, 5, 35],
  ] as const)('%i guest levels over %i EPT levels with 4 KiB pages: %i', (gl, hl, expected) => {
    expect(uniformWalkRefs(gl, hl)).toBe(expected);
    // Without huge pages on either side every EPT walk is h levels.
    expect(refsOfFirstTouch(machine(gl, hl, false), false)).toBe(expected);
  });

  it('2 MiB pages on both sides: (3+1)(3+1)-1 = 15 for 4/4', () => {
    expect(refsOfFirstTouch(machine(4, 4, true), true)).toBe(uniformWalkRefs(3, 3));
  });

  it('2 MiB host pages under a 4 KiB guest page: (4+1)(3+1)-1 = 19 for 4/4', () => {
    expect(refsOfFirstTouch(machine(4, 4, true), false)).toBe(uniformWalkRefs(4, 3));
  });

  it('the formula gives 8 for 1 GiB on both sides (operations map at most 2 MiB, so only the formula is checked)', () => {
    expect(uniformWalkRefs(2, 2)).toBe(8);
  });

  it('a read hit in the TLB costs no walk and returns the written data', () => {
    const w = machine(4, 4, false);
    const g = w.guests[0]!;
    const pid = spawn(w, g);
    const p = g.processes.get(pid.ok ? pid.value! : -1)!;
    mmap(w, g, p, 1024, 4, { write: true, exec: false }, false);
    const wr = access(w, g, p, 1025, 'write');
    w.journal.clear();
    const rd = access(w, g, p, 1025, 'read');
    expect(rd.ok && wr.ok && rd.content).toEqual(wr.ok && wr.content);
    expect(w.journal.walks).toHaveLength(0);
    expect(w.journal.tlbHits).toHaveLength(1);
  });

  it.each([
    [4, 4, false, false, [4, 4, 4, 4, 4], 4],
    [4, 5, false, false, [5, 5, 5, 5, 5], 4],
    [5, 4, false, false, [4, 4, 4, 4, 4, 4], 5],
    [4, 4, true, true, [3, 3, 3, 3], 3],
    [4, 4, true, false, [3, 3, 3, 3, 3], 4],
  ] as const)('%i/%i levels (huge host %s, huge guest %s): EPT references per step %j, %i guest entries, and the total is their sum', (gl, hl, hugeHost, hugeGuest, perStep, guestEntries) => {
    const walk = walkOfFirstTouch(machine(gl, hl, hugeHost), hugeGuest);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    // One EPT walk per guest table read plus one for the final gfn, then one reference per guest entry.
    expect(walk.eptRefs).toEqual(perStep);
    expect(walk.guestLevelsWalked).toBe(guestEntries);
    expect(walk.gfns).toHaveLength(guestEntries);
    expect(expectedWalkRefs(walk.guestLevelsWalked, walk.eptRefs)).toBe(walk.refs);
    expect(walk.refs).toBe(perStep.reduce((a, b) => a + b, 0) + guestEntries);
  });

  it('expectedWalkRefs adds the EPT references of every step to one reference per guest level walked', () => {
    expect(expectedWalkRefs(4, [4, 4, 4, 4, 4])).toBe(24);
    expect(expectedWalkRefs(3, [3, 3, 3, 3])).toBe(15);
    expect(expectedWalkRefs(0, [])).toBe(0);
  });
});

/** A 4/4 machine with one process whose page 1024 is mapped and written; its walk's table gfns. */
function mapped(): { w: World; walk: () => ReturnType<typeof nestedWalk>; tables: number[]; finalGfn: number; table: (i: number) => PageTable } {
  const w = machine(4, 4, false);
  const g = w.guests[0]!;
  const pid = spawn(w, g);
  if (!pid.ok) throw new Error(pid.detail);
  const p = g.processes.get(pid.value!)!;
  expect(mmap(w, g, p, 1024, 4, { write: true, exec: false }, false).ok).toBe(true);
  expect(access(w, g, p, 1024, 'write').ok).toBe(true);
  const first = nestedWalk(w, g, p.cr3, 1024, 'read', false);
  if (first.kind !== 'ok') throw new Error(first.kind);
  const tables = first.gfns.slice(0, 4);
  const table = (i: number): PageTable => {
    const c = peekGuestPhysical(w, g, tables[i]!);
    if (c.kind !== 'table') throw new Error(c.kind);
    return c.table;
  };
  return { w, walk: () => nestedWalk(w, g, p.cr3, 1024, 'read', false), tables, finalGfn: first.gfn, table };
}

/** Index of vpn 1024 in the guest table of each level (L4, L3, L2, L1). */
const IDX = [0, 0, 2, 0];

describe('nested walk outcomes', () => {
  test('a missing guest entry is a guest fault at its level, after the references made so far', () => {
    const { walk, table } = mapped();
    expect(walk().kind).toBe('ok');
    table(2).set(IDX[2]!, undefined);
    // L4 and L3 read (5 refs each), then the L2 table: its EPT walk and its entry.
    expect(walk()).toEqual({ kind: 'guest-fault', refs: 15, level: 2, reason: 'not present' });
  });

  test('PS in a PML4 entry is reserved: a guest fault at level 4', () => {
    const { walk, table } = mapped();
    const e = table(0).get(IDX[0]!)!;
    table(0).set(IDX[0]!, { ...e, flags: e.flags | PTE_PS });
    expect(walk()).toEqual({ kind: 'guest-fault', refs: 5, level: 4, reason: 'reserved bit (PS)' });
  });

  test('a guest table gfn the EPT does not map is an EPT violation on that gfn; so is the final gfn', () => {
    const m = mapped();
    const g = m.w.guests[0]!;
    expect(g.ept.zap(m.w, m.tables[3]!)).not.toBeNull();
    expect(m.walk()).toEqual({ kind: 'ept-violation', refs: 3 * 5 + 4, gfn: m.tables[3] });
    const n = mapped();
    expect(n.w.guests[0]!.ept.zap(n.w, n.finalGfn)).not.toBeNull();
    expect(n.walk()).toEqual({ kind: 'ept-violation', refs: 4 * 5 + 4, gfn: n.finalGfn });
  });

  test('a guest table frame that holds data, or a table of another level, is a bad table; a zeroed one reads as empty', () => {
    const m = mapped();
    const g = m.w.guests[0]!;
    const hfn = g.backing.get(m.tables[1]!)!;
    m.w.frames.write(hfn, data(0, 1));
    expect(m.walk()).toEqual({ kind: 'bad-table', refs: 10, gfn: m.tables[1], level: 3 });
    m.w.frames.write(hfn, { kind: 'table', writer: 0, table: new PageTable('guest', 2) });
    expect(m.walk()).toEqual({ kind: 'bad-table', refs: 10, gfn: m.tables[1], level: 3 });
    m.w.frames.write(hfn, { kind: 'table', writer: 0, table: new PageTable('ept', 3) });
    expect(m.walk()).toEqual({ kind: 'bad-table', refs: 10, gfn: m.tables[1], level: 3 });
    m.w.frames.write(hfn, ZERO);
    expect(m.walk()).toEqual({ kind: 'guest-fault', refs: 10, level: 3, reason: 'not present' });
  });

  test('an EPT table frame that holds no EPT table is a bad table at the guest level whose gfn was being translated (level 0 for the final gfn)', () => {
    const m = mapped();
    const ept = m.w.guests[0]!.ept;
    const l1Over = (gfn: number): number => [...ept.tables].find(([, i]) => i.level === 1 && gfn >= i.gfnBase && gfn < i.gfnBase + 512)![0];
    // Point the guest leaf at a gfn above guest RAM whose EPT L1 table serves nothing else.
    const far = 8192;
    const l1 = m.table(3).get(IDX[3]!)!;
    m.table(3).set(IDX[3]!, { ...l1, pfn: far });
    expect(ept.mapLeaf(m.w, far, 9000, 1)).toBe(true);
    expect(m.walk()).toMatchObject({ kind: 'ok', gfn: far, hfn: 9000, refs: 24 });
    m.w.frames.write(l1Over(far), data(0, 1));
    expect(m.walk()).toEqual({ kind: 'bad-table', refs: 24, gfn: far, level: 0 });
    // The root table's gfn is the first one translated.
    m.w.frames.write(l1Over(m.tables[0]!), data(0, 1));
    expect(m.walk()).toEqual({ kind: 'bad-table', refs: 4, gfn: m.tables[0], level: 4 });
  });

  test('permissions combine over the levels: W and U only if every entry has them, NX if any has it', () => {
    const { walk, table } = mapped();
    const ok = walk();
    expect(ok).toMatchObject({ kind: 'ok', writable: true, user: true, nx: true });
    const l4 = table(0).get(IDX[0]!)!;
    table(0).set(IDX[0]!, { ...l4, flags: l4.flags & ~PTE_USER });
    expect(walk()).toMatchObject({ kind: 'ok', writable: true, user: false, nx: true });
    table(0).set(IDX[0]!, l4);
    const l3 = table(1).get(IDX[1]!)!;
    table(1).set(IDX[1]!, { ...l3, flags: l3.flags & ~PTE_RW });
    expect(walk()).toMatchObject({ kind: 'ok', writable: false, user: true });
    table(1).set(IDX[1]!, l3);
    // NX on a table entry only, the leaf executable.
    const l1 = table(3).get(IDX[3]!)!;
    table(3).set(IDX[3]!, { ...l1, nx: false });
    expect(walk()).toMatchObject({ kind: 'ok', nx: false });
    const l2 = table(2).get(IDX[2]!)!;
    table(2).set(IDX[2]!, { ...l2, nx: true });
    expect(walk()).toMatchObject({ kind: 'ok', nx: true, writable: true, user: true });
  });

  test('the walk sets accessed bits on every entry it uses and dirty on the leaf of a write, journaling only tables it changed', () => {
    const m = mapped();
    const g = m.w.guests[0]!;
    const p = g.processes.get(1)!;
    for (let i = 0; i < 4; i++) {
      const e = m.table(i).get(IDX[i]!)!;
      m.table(i).set(IDX[i]!, { ...e, flags: e.flags & ~(PTE_ACCESSED | PTE_DIRTY) });
    }
    // A check's walk leaves the bits alone; a read without setBits reports the leaf's dirty bit.
    expect(nestedWalk(m.w, g, p.cr3, 1024, 'read', false)).toMatchObject({ kind: 'ok', dirty: false });
    expect(m.table(3).get(IDX[3]!)!.flags & PTE_ACCESSED).toBe(0);
    m.w.journal.clear();
    expect(nestedWalk(m.w, g, p.cr3, 1024, 'read', true)).toMatchObject({ kind: 'ok', dirty: false });
    for (let i = 0; i < 4; i++) {
      expect(m.table(i).get(IDX[i]!)!.flags & (PTE_ACCESSED | PTE_DIRTY)).toBe(PTE_ACCESSED);
    }
    expect(m.w.journal.guestTables.get(g.id)).toEqual(new Set(m.tables));
    m.w.journal.clear();
    expect(nestedWalk(m.w, g, p.cr3, 1024, 'read', true).kind).toBe('ok');
    expect(m.w.journal.guestTables.size).toBe(0);
    expect(nestedWalk(m.w, g, p.cr3, 1024, 'write', true)).toMatchObject({ kind: 'ok', dirty: true });
    for (let i = 0; i < 3; i++) expect(m.table(i).get(IDX[i]!)!.flags & PTE_DIRTY).toBe(0);
    expect(m.table(3).get(IDX[3]!)!.flags & PTE_DIRTY).toBe(PTE_DIRTY);
    expect(m.w.journal.guestTables.get(g.id)).toEqual(new Set([m.tables[3]]));
    // Now dirty: a read reports it.
    expect(nestedWalk(m.w, g, p.cr3, 1024, 'read', false)).toMatchObject({ kind: 'ok', dirty: true });
    // A write through a read-only leaf sets no dirty bit and reports the write as not dirty.
    const l1 = m.table(3).get(IDX[3]!)!;
    m.table(3).set(IDX[3]!, { ...l1, flags: l1.flags & ~(PTE_RW | PTE_DIRTY) });
    expect(nestedWalk(m.w, g, p.cr3, 1024, 'write', true)).toMatchObject({ kind: 'ok', writable: false, dirty: false });
    expect(m.table(3).get(IDX[3]!)!.flags & PTE_DIRTY).toBe(0);
  });

  test('the final EPT leaf gives the walk its host frame, level and R/W/X', () => {
    const m = mapped();
    const g = m.w.guests[0]!;
    const before = m.walk();
    if (before.kind !== 'ok') throw new Error(before.kind);
    expect(before).toMatchObject({ eptLeafLevel: 1, eptRead: true, eptWrite: true, eptExec: true, guestLeafLevel: 1 });
    expect(before.hfn).toBe(g.backing.get(m.finalGfn));
    expect(g.ept.zap(m.w, m.finalGfn)).not.toBeNull();
    expect(g.ept.mapLeaf(m.w, m.finalGfn, before.hfn, 1, EPT_READ)).toBe(true);
    expect(m.walk()).toMatchObject({ kind: 'ok', hfn: before.hfn, eptRead: true, eptWrite: false, eptExec: false });
    // Execute-only (SDM 29.3.3.1, where supported): reported as it is.
    expect(g.ept.zap(m.w, m.finalGfn)).not.toBeNull();
    expect(g.ept.mapLeaf(m.w, m.finalGfn, before.hfn, 1, EPT_EXEC)).toBe(true);
    expect(m.walk()).toMatchObject({ kind: 'ok', eptRead: false, eptWrite: false, eptExec: true });
  });
});

