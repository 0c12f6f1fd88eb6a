/**
 * munmap's and mprotect's walks (kernel.ts), rule by rule: munmap zaps the leaves of its range
 * and nothing beyond, frees every page table the range leaves empty and each table above that
 * this empties in turn, up to but not including the root (free_pgtables), flushes by pages up to
 * tlb_single_page_flush_ceiling whether tables went or not (flush_tlb_mm_range), and skips a
 * missing table's whole span from any page inside it; mprotect rewrites leaves and migration
 * entries only, never an empty slot.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { PTE_RW } from '../constants';
import { compactionState } from '../compaction/state';
import { peekLeaf } from '../mmu/peek';
import { isMigrationEntry } from '../paging/entries';
import { freeUserFrames, guestFree, mmap as kernelMmap } from './kernel';
import { findSlot } from './page-tables';

const V = 1 << 24;
const L4 = 512 ** 3;
const SWAP = { 'swap.slots': 16, 'frontswap.enabled': false, 'cleancache.enabled': false };

function started(options: Record<string, number | boolean | string> = {}, hugePages = false, faults: string[] = []): Stepper {
  const s = stepper(machine(options, faults, 1, hugePages));
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  return s;
}

const mmap = (s: Stepper, vpn: number, pages: number, huge = false) => s.apply('guest.mmap', { guest: 0, pid: 1, vpn, pages, write: true, exec: false, huge });
const write = (s: Stepper, vpn: number) => s.apply('guest.write', { guest: 0, pid: 1, vpn });
const munmap = (s: Stepper, vpn: number, pages: number) => s.apply('guest.munmap', { guest: 0, pid: 1, vpn, pages });
const mprotect = (s: Stepper, vpn: number, pages: number, w: boolean, exec = false) => s.apply('guest.mprotect', { guest: 0, pid: 1, vpn, pages, write: w, exec });

function parts(s: Stepper) {
  const g = s.world.guests[0]!;
  const p = g.processes.get(1)!;
  const tablesOf = (level: number) => [...g.tables].filter(([, t]) => t.pid === 1 && t.level === level).map(([gfn]) => gfn);
  return { g, p, tablesOf, gfnAt: (vpn: number) => peekLeaf(s.world, g, p, vpn)?.gfn };
}

describe('munmap', () => {
  test('part of a page table: the leaves of the range go and are freed, the others keep their frames and data, the table stays', () => {
    const s = started();
    const { g, tablesOf, gfnAt } = parts(s);
    mmap(s, V, 4);
    for (let v = V; v < V + 4; v++) write(s, v);
    const [a, b, c] = [gfnAt(V)!, gfnAt(V + 1)!, gfnAt(V + 2)!];
    const pte = tablesOf(1);
    expect(munmap(s, V + 1, 1)).toEqual({ ok: true });
    expect(gfnAt(V + 1)).toBeUndefined();
    expect([g.owners.has(b), !!g.buddy.allocatedAt(b)]).toEqual([false, false]);
    expect([gfnAt(V), gfnAt(V + 2)]).toEqual([a, c]);
    expect(tablesOf(1)).toEqual(pte);
    expect(write(s, V)).toMatchObject({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 2 })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });

  test('the last page of a process: its PTE, PMD and PUD tables go, the root stays, and the process maps again', () => {
    const s = started();
    const { g, p, tablesOf } = parts(s);
    mmap(s, V, 1);
    write(s, V);
    expect([1, 2, 3, 4].map((l) => tablesOf(l).length)).toEqual([1, 1, 1, 1]);
    const free = g.buddy.freePages();
    expect(munmap(s, V, 1)).toEqual({ ok: true });
    expect([...g.tables.keys()]).toEqual([p.cr3]);
    // The page and the three tables are back in the allocator, unowned.
    expect(g.buddy.freePages()).toBe(free + 4);
    expect([...g.owners.values()].filter((o) => o.kind === 'page-table')).toEqual([{ kind: 'page-table', pid: 1, level: 4 }]);
    expect(findSlot(s.world, g, p, V, 1)).toBeNull();
    mmap(s, V, 1);
    expect(write(s, V)).toMatchObject({ ok: true });
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });

  test('the freeing goes up only while the parent is left empty: a PTE table beside another under one PMD table goes alone', () => {
    const s = started();
    const { tablesOf, gfnAt } = parts(s);
    mmap(s, V, 1024);
    write(s, V);
    write(s, V + 512);
    const [pmd] = tablesOf(2);
    const kept = gfnAt(V + 512);
    expect(tablesOf(1)).toHaveLength(2);
    expect(munmap(s, V, 512)).toEqual({ ok: true });
    expect(tablesOf(1)).toHaveLength(1);
    expect(tablesOf(2)).toEqual([pmd]);
    expect(gfnAt(V + 512)).toBe(kept);
    expect(s.r.violation).toBeNull();
  });

  test('a PTE table emptied before the munmap (its only page swapped out) goes with the range that covers it', () => {
    const s = started(SWAP);
    const { p, g } = parts(s);
    mmap(s, V, 2);
    write(s, V);
    expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toMatchObject({ ok: true });
    s.apply('io.complete', { guest: 0 });
    expect(findSlot(s.world, g, p, V, 1)).toMatchObject({ level: 1, entry: undefined });
    expect(munmap(s, V, 2)).toEqual({ ok: true });
    expect([...g.tables.keys()]).toEqual([p.cr3]);
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });

  test('a PMD table emptied before the munmap (its 2 MiB page dropped by MADV_DONTNEED) goes with the range that covers it', () => {
    const s = started({}, true);
    const { p, g, tablesOf } = parts(s);
    expect(mmap(s, V, 512, true)).toEqual({ ok: true });
    write(s, V);
    expect(peekLeaf(s.world, g, p, V)?.level).toBe(2);
    expect(s.apply('thp.dontneed', { guest: 0, pid: 1, vpn: V, pages: 512 })).toEqual({ ok: true });
    expect(tablesOf(2)).toHaveLength(1);
    expect(munmap(s, V, 512)).toEqual({ ok: true });
    expect([...g.tables.keys()]).toEqual([p.cr3]);
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });

  test('the huge zero page mapped read-only is unmapped, not freed; every leaf counts as an unmapping', () => {
    const s = started({ 'thp.use-zero-page': true }, true);
    const { g, gfnAt } = parts(s);
    mmap(s, V, 512, true);
    mmap(s, V + 512, 2);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    write(s, V + 512);
    const zero = gfnAt(V)!;
    expect(g.owners.get(zero)).toMatchObject({ kind: 'zero-page', huge: true });
    const unmapped = () => s.world.transitions.get('nested-mmu')?.get('mapped->unmapped') ?? 0;
    const before = unmapped();
    expect(munmap(s, V, 1024)).toEqual({ ok: true });
    expect(unmapped() - before).toBe(2);
    expect(g.owners.get(zero)).toMatchObject({ kind: 'zero-page' });
    expect(g.buddy.allocatedAt(zero)).toBeTruthy();
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });

  test('one page whose table goes with it: still one INVLPG, not a flush of the whole address space; other pages stay cached', () => {
    const s = started();
    const { g } = parts(s);
    mmap(s, V, 1);
    mmap(s, V + 4 * 512, 1);
    write(s, V);
    write(s, V + 4 * 512);
    const cached = (vpn: number) => s.world.tlb.overlapping(g.vpid, 1, vpn, vpn + 1).length > 0;
    expect(cached(V + 4 * 512)).toBe(true);
    const before = s.world.tlb.stats.invlpg;
    expect(munmap(s, V, 1)).toEqual({ ok: true });
    expect(s.world.tlb.stats.invlpg - before).toBe(1);
    expect(cached(V)).toBe(false);
    expect(cached(V + 4 * 512)).toBe(true);
    expect(s.r.violation).toBeNull();
  });

  test('under the injected tlb-no-flush-on-unmap the unmapped page stays cached in the TLB (CVE-2018-18281); without it, it goes', () => {
    for (const faults of [['tlb-no-flush-on-unmap'], []]) {
      const s = started({}, false, faults);
      const { g } = parts(s);
      mmap(s, V, 1);
      write(s, V);
      expect(s.world.tlb.overlapping(g.vpid, 1, V, V + 1)).toHaveLength(1);
      expect(munmap(s, V, 1)).toEqual({ ok: true });
      expect(s.world.tlb.overlapping(g.vpid, 1, V, V + 1)).toHaveLength(faults.length);
    }
  });

  test('a range starting inside a missing table skips to the end of that table only: the page just past it is unmapped', () => {
    const s = started();
    const { g, gfnAt } = parts(s);
    // One VMA from page 1 across the first 512 GiB boundary (one root entry); only the page just
    // past the boundary is touched, so the walk starts in a hole one root entry wide.
    mmap(s, 1, L4 + 8);
    write(s, L4 + 1);
    const gfn = gfnAt(L4 + 1)!;
    expect(munmap(s, 1, L4 + 8)).toEqual({ ok: true });
    expect(gfnAt(L4 + 1)).toBeUndefined();
    expect(g.owners.has(gfn)).toBe(false);
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });
});

test('freeUserFrames frees an anonymous page unless some holder keeps it (one that does not hold it does not stop it); with no holder, nothing keeps it', () => {
  const s = started();
  const { g, gfnAt } = parts(s);
  mmap(s, V, 2);
  write(s, V);
  write(s, V + 1);
  const [a, b] = [gfnAt(V)!, gfnAt(V + 1)!];
  const live = (gfn: number) => [g.owners.has(gfn), !!g.buddy.allocatedAt(gfn)];
  g.heldOnFree.length = 0;
  g.heldOnFree.push(() => false, (_w, _g, gfn) => gfn === a);
  freeUserFrames(s.world, g, a, 0);
  freeUserFrames(s.world, g, b, 0);
  expect([live(a), live(b)]).toEqual([
    [true, true],
    [false, false],
  ]);
  g.heldOnFree.length = 0;
  freeUserFrames(s.world, g, a, 0);
  expect(live(a)).toEqual([false, false]);
});

test("guestFree of a block the buddy refuses records the anomaly (the model's own bug) and runs no freed hook", () => {
  const s = started();
  const { g, gfnAt } = parts(s);
  mmap(s, V, 1);
  write(s, V);
  const gfn = gfnAt(V)!;
  const freed: number[] = [];
  g.freeHooks.push({ freed: (_w, _g, x) => void freed.push(x) });
  guestFree(s.world, g, gfn, 0);
  expect(freed).toEqual([gfn]);
  expect(s.world.anomalies).toEqual([]);
  guestFree(s.world, g, gfn, 0);
  expect(freed).toEqual([gfn]);
  expect(s.world.anomalies).toEqual([
    { property: 'guest-ownership', kind: 'bad-free', subject: `g0 gfn 0x${gfn.toString(16)} order 0`, expected: 'an allocated block', actual: expect.stringMatching(/./) },
  ]);
});

test('mmap journals exactly its range for the incremental checkers, and nothing else', () => {
  const s = started();
  const { g, p } = parts(s);
  s.world.journal.clear();
  expect(kernelMmap(s.world, g, p, V + 3, 5, { write: true, exec: false }, false)).toEqual({ ok: true });
  expect(s.world.journal.ranges).toEqual([{ guest: 0, pid: 1, vpnStart: V + 3, vpnEnd: V + 8 }]);
});

describe('mprotect', () => {
  test('an empty slot of an existing table stays empty', () => {
    const s = started();
    const { g, p } = parts(s);
    mmap(s, V, 2);
    write(s, V);
    expect(mprotect(s, V, 2, false)).toEqual({ ok: true });
    expect(findSlot(s.world, g, p, V + 1, 1)).toMatchObject({ level: 1, entry: undefined });
    expect(write(s, V + 1)).toEqual({ ok: false, error: 'segv' });
    expect(s.r.violation).toBeNull();
  });

  test('a range starting inside a missing table skips to the end of that table only: the page just past it is protected', () => {
    const s = started();
    const { g, p } = parts(s);
    mmap(s, 1, L4 + 8);
    write(s, L4 + 1);
    expect(mprotect(s, 1, L4 + 8, false)).toEqual({ ok: true });
    expect(peekLeaf(s.world, g, p, L4 + 1)).toMatchObject({ writable: false });
    expect(s.r.violation).toBeNull();
  });

  describe('a migration entry (the page caught between unmap and remap)', () => {
    function migrating(): { s: Stepper; entry: () => { flags: number; nx: boolean } } {
      const s = started();
      const { g, p, gfnAt } = parts(s);
      mmap(s, V, 1);
      write(s, V);
      expect(s.apply('compaction.migrate.begin', { side: 'guest', guest: 0, gfn: gfnAt(V)! })).toMatchObject({ ok: true });
      const [id] = [...compactionState(s.world).active.keys()];
      s.apply('compaction.migrate.step', { id: id! });
      const entry = () => {
        const slot = findSlot(s.world, g, p, V, 1);
        if (slot === null || 'ok' in slot || !isMigrationEntry(slot.entry)) throw new Error('no migration entry at V');
        return slot.entry;
      };
      return { s, entry };
    }

    test('stays writable under a writable mprotect, and NX follows exec', () => {
      const { s, entry } = migrating();
      expect(entry().flags & PTE_RW).toBe(PTE_RW);
      expect(mprotect(s, V, 1, true, true)).toEqual({ ok: true });
      expect(entry().flags & PTE_RW).toBe(PTE_RW);
      expect(entry().nx).toBe(false);
      expect(s.r.violation).toBeNull();
    });

    test('made read-only stays read-only when the VMA is made writable again (the write fault decides)', () => {
      const { s, entry } = migrating();
      expect(mprotect(s, V, 1, false)).toEqual({ ok: true });
      expect(entry().flags & PTE_RW).toBe(0);
      expect(mprotect(s, V, 1, true)).toEqual({ ok: true });
      expect(entry().flags & PTE_RW).toBe(0);
      expect(entry().nx).toBe(true);
      expect(s.r.violation).toBeNull();
    });
  });
});
