/**
 * The side-effect-free views: what a guest would read at a gfn (its frame, its swapped copy,
 * or zero if never backed), and the guest translation of a page as the walk would find it
 * (permissions combined over the levels, a huge leaf's offset, a migration entry followed to
 * the page being migrated), for one page or every mapped page of a range.
 */
import { PTE_RW } from '../constants';
import { ZERO, data } from '../content';
import { oneProcess } from '../../fuzz/testing/scenario';
import { guestEntry, migrationEntry } from '../paging/entries';
import { PageTable as PageTableClass, type PageTable } from '../paging/table';
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import type { World } from '../world';
import { mmap, mprotect } from '../guest/kernel';
import { access } from './access';
import { forEachLeaf, peekGuestPhysical, peekLeaf } from './peek';
import { nestedWalk } from './walk';

const setup = oneProcess;

/** The guest L1 table that maps vpn (the process's tables are all resident here). */
function l1Table(w: World, g: Guest, p: Process, vpn: number): PageTable {
  const walk = nestedWalk(w, g, p.cr3, vpn, 'read', false);
  if (walk.kind !== 'ok') throw new Error(walk.kind);
  const c = peekGuestPhysical(w, g, walk.gfns[walk.guestLevelsWalked - 1]!);
  if (c.kind !== 'table') throw new Error(c.kind);
  return c.table;
}

const touch = (w: World, g: Guest, p: Process, vpn: number): void => {
  expect(access(w, g, p, vpn, 'write').ok).toBe(true);
};

describe('peek', () => {
  test('a gfn reads as its frame, else its swapped copy, else zero', () => {
    const { w, g, p } = setup();
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: false }, false).ok).toBe(true);
    const wr = access(w, g, p, 1024, 'write');
    const leaf = peekLeaf(w, g, p, 1024)!;
    expect(wr.ok && peekGuestPhysical(w, g, leaf.gfn)).toEqual(wr.ok && wr.content);
    const free = 4000;
    expect(g.backing.has(free)).toBe(false);
    expect(peekGuestPhysical(w, g, free)).toBe(ZERO);
    g.hostSwap.set(free, data(0, 77));
    expect(peekGuestPhysical(w, g, free)).toEqual(data(0, 77));
  });

  test('peekLeaf gives the gfn the walk finds and the permissions of the leaf, without faulting', () => {
    const { w, g, p } = setup();
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: false }, false).ok).toBe(true);
    expect(peekLeaf(w, g, p, 1024)).toBeNull();
    touch(w, g, p, 1025);
    // Still not mapped: peek faults nothing in.
    expect(peekLeaf(w, g, p, 1024)).toBeNull();
    const walk = nestedWalk(w, g, p.cr3, 1025, 'read', false);
    expect(walk.kind).toBe('ok');
    expect(peekLeaf(w, g, p, 1025)).toMatchObject({ level: 1, gfn: walk.kind === 'ok' ? walk.gfn : -1, writable: true, nx: true });
    expect(mprotect(w, g, p, 1024, 4, { write: false, exec: true }).ok).toBe(true);
    // mprotect rewrites the present PTE in place (change_pte_range).
    expect(peekLeaf(w, g, p, 1025)).toMatchObject({ level: 1, gfn: walk.kind === 'ok' ? walk.gfn : -1, writable: false, nx: false });
  });

  test('a table entry without RW or with NX restricts every page below it', () => {
    const { w, g, p } = setup();
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: true }, false).ok).toBe(true);
    touch(w, g, p, 1024);
    expect(peekLeaf(w, g, p, 1024)).toMatchObject({ writable: true, nx: false });
    const t = l1Table(w, g, p, 1024);
    const e = t.get(1024 % 512)!;
    t.set(1024 % 512, guestEntry(e.pfn, { writable: false, user: true, nx: true }));
    expect(peekLeaf(w, g, p, 1024)).toMatchObject({ writable: false, nx: true, gfn: e.pfn });
  });

  test('a 2 MiB guest leaf translates each page by its offset', () => {
    const { w, g, p } = setup(true);
    expect(mmap(w, g, p, 1536, 512, { write: true, exec: false }, true).ok).toBe(true);
    touch(w, g, p, 1536 + 5);
    const leaf = peekLeaf(w, g, p, 1536 + 5)!;
    expect(leaf.level).toBe(2);
    expect(leaf.gfn).toBe(leaf.entry.pfn + 5);
    expect(peekLeaf(w, g, p, 1536 + 300)!.gfn).toBe(leaf.entry.pfn + 300);
  });

  test('a migration entry still names its page: both views follow it, with the entry\'s write permission', () => {
    const { w, g, p } = setup();
    expect(mmap(w, g, p, 1024, 8, { write: true, exec: false }, false).ok).toBe(true);
    touch(w, g, p, 1024);
    touch(w, g, p, 1026);
    const t = l1Table(w, g, p, 1024);
    const gfn = t.get(1026 % 512)!.pfn;
    t.set(1026 % 512, migrationEntry(gfn, false, true));
    expect(peekLeaf(w, g, p, 1026)).toMatchObject({ level: 1, gfn, writable: false, nx: true });
    t.set(1026 % 512, migrationEntry(gfn, true, false));
    expect(peekLeaf(w, g, p, 1026)).toMatchObject({ level: 1, gfn, writable: true, nx: false });
    const seen: [number, number, boolean][] = [];
    forEachLeaf(w, g, p, 1024, 1032, (v, l) => seen.push([v, l.gfn, l.writable]));
    expect(seen.map(([v]) => v)).toEqual([1024, 1026]);
    expect(seen[1]).toEqual([1026, gfn, true]);
    // Out of the range, it is not visited.
    const after: number[] = [];
    forEachLeaf(w, g, p, 1027, 1032, (v) => after.push(v));
    forEachLeaf(w, g, p, 1020, 1026, (v) => after.push(v));
    expect(after).toEqual([1024]);
    // A read-only migration entry gives a read-only view.
    t.set(1026 % 512, migrationEntry(gfn, false, false));
    const ro: boolean[] = [];
    forEachLeaf(w, g, p, 1026, 1027, (_v, l) => ro.push(l.writable));
    expect(ro).toEqual([false]);
  });

  test('a table frame that holds no guest table ends the translation', () => {
    const { w, g, p } = setup();
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: false }, false).ok).toBe(true);
    touch(w, g, p, 1024);
    const walk = nestedWalk(w, g, p.cr3, 1024, 'read', false);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    const l1 = walk.gfns[3]!;
    w.frames.write(g.backing.get(l1)!, data(0, 1));
    expect(peekLeaf(w, g, p, 1024)).toBeNull();
    // Nor does an EPT table there.
    const ept = new PageTableClass('ept', 1);
    ept.set(1024 % 512, { pfn: 5, flags: 7, nx: false }); // RWX: it would read as a present guest PTE
    w.frames.write(g.backing.get(l1)!, { kind: 'table', writer: 0, table: ept });
    expect(peekLeaf(w, g, p, 1024)).toBeNull();
    const seen: number[] = [];
    forEachLeaf(w, g, p, 0, 2 ** 20, (v) => seen.push(v));
    expect(seen).toEqual([]);
  });

  test('forEachLeaf visits exactly the mapped pages of the range, however many the table holds', () => {
    const { w, g, p } = setup();
    expect(mmap(w, g, p, 1024, 64, { write: true, exec: false }, false).ok).toBe(true);
    const mapped = [1024, 1025, 1027, 1030, 1040, 1050, 1060, 1087];
    for (const v of mapped) touch(w, g, p, v);
    // Part of it read-only: each page's view has its own permissions.
    expect(mprotect(w, g, p, 1024, 8, { write: false, exec: false }).ok).toBe(true);
    expect(peekLeaf(w, g, p, 1027)).toMatchObject({ writable: false });
    expect(peekLeaf(w, g, p, 1040)).toMatchObject({ writable: true });
    const visit = (start: number, end: number): number[] => {
      const out: number[] = [];
      forEachLeaf(w, g, p, start, end, (v, l) => {
        expect(l).toEqual(peekLeaf(w, g, p, v));
        out.push(v);
      });
      return out.sort((a, b) => a - b);
    };
    // Ranges narrower and wider than the eight entries of the L1 table.
    expect(visit(1026, 1031)).toEqual([1027, 1030]);
    expect(visit(1025, 1027)).toEqual([1025]);
    expect(visit(1027, 1028)).toEqual([1027]);
    expect(visit(1000, 1100)).toEqual(mapped);
    expect(visit(1025, 1088)).toEqual(mapped.slice(1));
    expect(visit(1024, 1087)).toEqual(mapped.slice(0, -1));
    expect(visit(0, 2 ** 27)).toEqual(mapped);
    expect(visit(1031, 1031)).toEqual([]);
    expect(visit(2000, 3000)).toEqual([]);
  });

  test('forEachLeaf visits a huge leaf page by page, or once from its first page in range when asked', () => {
    const { w, g, p } = setup(true);
    expect(mmap(w, g, p, 1536, 512, { write: true, exec: false }, true).ok).toBe(true);
    touch(w, g, p, 1536);
    const base = peekLeaf(w, g, p, 1536)!.entry.pfn;
    const each: [number, number][] = [];
    forEachLeaf(w, g, p, 1536 + 10, 1536 + 13, (v, l) => each.push([v, l.gfn]));
    expect(each).toEqual([[1546, base + 10], [1547, base + 11], [1548, base + 12]]);
    const asked: [number, number][] = [];
    const once: [number, number, number][] = [];
    forEachLeaf(w, g, p, 1536 + 10, 1536 + 13, (v, l) => once.push([v, l.gfn, l.level]), (level, v) => (asked.push([level, v]), true));
    expect(asked).toEqual([[2, 1546]]);
    expect(once).toEqual([[1546, base + 10, 2]]);
    // A range past the leaf's end stops at it.
    const tail: number[] = [];
    forEachLeaf(w, g, p, 1536 + 510, 1536 + 600, (v) => tail.push(v));
    expect(tail).toEqual([2046, 2047]);
  });

  test('forEachLeaf reports every page as peekLeaf does: its gfn, level, and the permissions of every level combined', () => {
    const { w, g, p } = setup();
    expect(mmap(w, g, p, 1024, 8, { write: true, exec: false }, false).ok).toBe(true);
    expect(mmap(w, g, p, 2048, 4, { write: true, exec: true }, false).ok).toBe(true);
    for (const v of [1024, 1025, 1026, 2048, 2049]) touch(w, g, p, v);
    const t = l1Table(w, g, p, 1024);
    t.set(1025 % 512, migrationEntry(t.get(1025 % 512)!.pfn, true, false));
    t.set(1026 % 512, migrationEntry(t.get(1026 % 512)!.pfn, false, true));
    const views = (): [number, boolean, boolean][] => {
      const seen: [number, boolean, boolean][] = [];
      forEachLeaf(w, g, p, 0, 4096, (v, l) => {
        expect(l).toEqual(peekLeaf(w, g, p, v));
        seen.push([v, l.writable, l.nx]);
      });
      return seen;
    };
    expect(views()).toEqual([[1024, true, true], [1025, true, false], [1026, false, true], [2048, true, false], [2049, true, false]]);
    // The PDE over 1024..1535 made read-only: its pages are read-only in both views, the others not.
    const walk = nestedWalk(w, g, p.cr3, 1024, 'read', false);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    const l2 = peekGuestPhysical(w, g, walk.gfns[walk.guestLevelsWalked - 2]!);
    if (l2.kind !== 'table') throw new Error(l2.kind);
    const pde = l2.table.get(2)!;
    l2.table.set(2, { ...pde, flags: pde.flags & ~PTE_RW });
    expect(views()).toEqual([[1024, false, true], [1025, false, false], [1026, false, true], [2048, true, false], [2049, true, false]]);
  });
});

