/**
 * Guest swap rule by rule (guest-swap.ts): which mapping swap.out takes, what each step
 * journals for the incremental checkers, the reverse map slot -> entries, the swap cache while
 * a write is in flight, swap-in (the table rebuilt, the mapping's permissions, a refused host
 * frame), which entries an unmap drops, and a crash.
 */
import { Runner } from '../../fuzz/run';
import { exhaustHost, machine, op, stepper, type Step, type Stepper } from '../../fuzz/testing/scenario';
import { PTE_PS, PTE_USER } from '../constants';
import { handlePageFault } from '../guest/fault';
import { slotFor, writeEntry } from '../guest/page-tables';
import type { RangeTouch } from '../journal';
import { peekLeaf } from '../mmu/peek';
import { guestEntry } from '../paging/entries';
import { cacheOf } from '../pagecache/state';
import { fsSwapPeek } from '../tmem/frontswap';
import type { World } from '../world';
import { completeSwapOut, freeSwapSlots, guestSwapOf, pteKey, swapCacheFrame, swapCrash, swapOut } from './guest-swap';

const V = 1 << 24;
const SWAP = { 'swap.slots': 16, 'frontswap.enabled': false, 'cleancache.enabled': false };

/** A guest with pid 1 and `pages` pages populated at V, the first `written` of them written. */
function setup(options: Record<string, number | boolean | string> = SWAP, faults: string[] = [], pages = 2, written = 1): Stepper {
  const s = stepper(machine(options, faults));
  s.apply('guest.spawn', { guest: 0 });
  s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages });
  for (let i = 0; i < written; i++) s.apply('guest.write', { guest: 0, pid: 1, vpn: V + i });
  return s;
}

const gfnAt = (w: World, pid: number, vpn: number): number | undefined => {
  const g = w.guests[0]!;
  return peekLeaf(w, g, g.processes.get(pid)!, vpn)?.gfn;
};

/** The journal of the last of `steps`, as the incremental checkers saw it. */
function lastJournal(options: Record<string, number | boolean | string>, steps: readonly Step[]): { ranges: RangeTouch[]; marks: Map<string, Set<number>> } {
  let ranges: RangeTouch[] = [];
  let marks = new Map<string, Set<number>>();
  const r: Runner = new Runner(machine(options), {
    check: 'incremental',
    onStep: () => {
      ranges = [...r.world.journal.ranges];
      marks = new Map([...r.world.journal.marks].map(([k, v]) => [k, new Set(v)]));
    },
  });
  for (const s of steps) r.apply(typeof s === 'function' ? s(r.world) : s);
  expect(r.violation).toBeNull();
  return { ranges, marks };
}

const covers = (ranges: readonly RangeTouch[], pid: number, vpn: number): boolean => ranges.some((x) => x.guest === 0 && x.pid === pid && x.vpnStart <= vpn && vpn < x.vpnEnd);

describe('the swap device of a guest', () => {
  test('swap.slots 0 means no device: swap.out is refused for that reason and nothing can be swapped; 1 slot is a device of one', () => {
    const none = setup({ ...SWAP, 'swap.slots': 0 });
    const g = none.world.guests[0]!;
    expect(guestSwapOf(none.world, g).device).toBeNull();
    expect(freeSwapSlots(none.world, g)).toBe(0);
    expect(none.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: false, error: 'limit' });
    expect(none.results.at(-1)).toMatchObject({ detail: 'g0 has no swap device' });
    const one = setup({ ...SWAP, 'swap.slots': 1 });
    expect(guestSwapOf(one.world, one.world.guests[0]!).device?.capacity).toBe(1);
    expect(freeSwapSlots(one.world, one.world.guests[0]!)).toBe(1);
  });
});

describe('swap.out takes only a present 4 KiB page that the process owns at that address', () => {
  test('a page never touched is refused without building a page table for it', () => {
    const s = stepper(machine(SWAP));
    s.apply('guest.spawn', { guest: 0 });
    s.apply('guest.mmap', { guest: 0, pid: 1, vpn: V, pages: 2, write: true, exec: false, huge: false });
    const g = s.world.guests[0]!;
    const tables = g.tables.size;
    const free = g.buddy.freePages();
    expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: false, error: 'no-such-mapping' });
    expect(g.tables.size).toBe(tables);
    expect(g.buddy.freePages()).toBe(free);
  });

  test('a leaf naming a frame that is not this process\'s page at this vpn is refused, whatever the frame is; the page itself goes out', () => {
    const s = setup(SWAP, [], 3, 3);
    const w = s.world;
    const g = w.guests[0]!;
    const p = g.processes.get(1)!;
    s.apply('guest.spawn', { guest: 0 });
    s.apply('mm.populate', { guest: 0, pid: 2, vpn: V, pages: 1 });
    const own = gfnAt(w, 1, V)!;
    const neighbour = gfnAt(w, 1, V + 1)!;
    const other = gfnAt(w, 2, V)!;
    const kernel = s.apply('guest.kalloc', { guest: 0, order: 0, mt: 'UNMOVABLE' });
    expect(kernel.ok).toBe(true);
    const kernelGfn = [...g.owners].find(([, o]) => o.kind === 'kernel')![0];
    const slot = slotFor(w, g, p, V, 1, false);
    if (slot === null || 'ok' in slot) throw new Error('no PTE for V');
    const perms = { writable: true, user: true, nx: true };
    // These leaves stand for a stale or corrupted mapping (what an injected fault leaves behind).
    for (const [gfn, what] of [[neighbour, 'its page at another vpn'], [other, "pid 2's page"], [kernelGfn, 'a kernel page']] as const) {
      writeEntry(w, g, 1, slot.tableGfn, slot.table, slot.index, guestEntry(gfn, perms));
      const r = swapOut(w, g, 1, V, true);
      expect([what, r]).toMatchObject([what, { ok: false, error: 'invalid' }]);
      expect(guestSwapOf(w, g).device!.used).toBe(0);
    }
    writeEntry(w, g, 1, slot.tableGfn, slot.table, slot.index, guestEntry(own, perms));
    expect(swapOut(w, g, 1, V, true)).toEqual({ ok: true, value: 0 });
  });

  test('a 2 MiB leaf is refused even when its frame is the process\'s page at that vpn', () => {
    const s = setup(SWAP, [], 1, 1);
    const w = s.world;
    const g = w.guests[0]!;
    const p = g.processes.get(1)!;
    const own = gfnAt(w, 1, V)!;
    const pmd = slotFor(w, g, p, V, 2, false);
    if (pmd === null || 'ok' in pmd) throw new Error('no PMD for V');
    // A PS leaf in a 4 KiB VMA (no path of the model makes one): the level is what refuses it.
    writeEntry(w, g, 1, pmd.tableGfn, pmd.table, pmd.index, guestEntry(own, { writable: true, user: true, nx: true }, PTE_PS));
    expect(swapOut(w, g, 1, V, true)).toMatchObject({ ok: false, error: 'no-such-mapping' });
    expect(guestSwapOf(w, g).device!.used).toBe(0);
    expect(g.owners.get(own)).toEqual({ kind: 'anon', pid: 1, vpn: V });
  });

  test('a page isolated for migration is busy (reclaim leaves it to the migration); once migrated it goes out', () => {
    const s = setup();
    const w = s.world;
    const g = w.guests[0]!;
    const src = gfnAt(w, 1, V)!;
    // A second holder that holds nothing: one mechanism holding the frame is enough.
    g.heldOnFree.push(() => false);
    s.apply('compaction.migrate.begin', { side: 'guest', guest: 0, gfn: src });
    expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: false, error: 'busy' });
    expect(gfnAt(w, 1, V)).toBe(src);
    expect(g.owners.get(src)).toEqual({ kind: 'anon', pid: 1, vpn: V });
    expect(guestSwapOf(w, g).device!.used).toBe(0);
    // Its neighbour is not isolated: it goes out meanwhile.
    expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V + 1 })).toEqual({ ok: true, value: 0 });
    for (let i = 0; i < 3; i++) s.apply('compaction.migrate.step', { id: 1 });
    expect(gfnAt(w, 1, V)).not.toBe(src);
    expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true, value: 1 });
    expect(s.r.violation).toBeNull();
  });
});
