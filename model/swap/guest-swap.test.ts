/**
 * Guest swap rule by rule (guest-swap.ts): which mapping swap.out takes, what each step
 * journals for the incremental checkers, the reverse map slot -> entries, the swap cache while
 * a write is in flight, swap-in (the table rebuilt, the mapping's permissions, a refused host
 * frame), which entries an unmap drops, and a crash.
 */
import { Runner } from '../../fuzz/run';
import { exhaustHost, machine, op, stepper, type Step, type Stepper } from '../../fuzz/testing/scenario';
import { PTE_ACCESSED, PTE_DIRTY, PTE_PS, PTE_USER } from '../constants';
import { handlePageFault } from '../guest/fault';
import { findSlot, writeEntry } from '../guest/page-tables';
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
    const slot = findSlot(w, g, p, V, 1);
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
    const pmd = findSlot(w, g, p, V, 2);
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

describe('what guest swap journals for the incremental checkers', () => {
  const steps = [op('guest.spawn', { guest: 0 }), op('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 2 }), op('guest.write', { guest: 0, pid: 1, vpn: V + 1 }), op('swap.out', { guest: 0, pid: 1, vpn: V + 1 })];

  test.each([false, true])('the completed write (frontswap %s) names the slot and the page of every entry that refers to it', (frontswap) => {
    const j = lastJournal({ ...SWAP, 'frontswap.enabled': frontswap }, [...steps, op('io.complete', { guest: 0 })]);
    expect([...(j.marks.get('swap:g0') ?? [])]).toEqual([0]);
    expect(covers(j.ranges, 1, V + 1)).toBe(true);
    expect(covers(j.ranges, 1, V)).toBe(false);
  });

  test('munmap while the write is in flight names the slot (still reserved) and the page of the dropped entry', () => {
    const j = lastJournal(SWAP, [...steps, op('guest.munmap', { guest: 0, pid: 1, vpn: V + 1, pages: 1 })]);
    expect([...(j.marks.get('swap:g0') ?? [])]).toEqual([0]);
    expect(covers(j.ranges, 1, V + 1)).toBe(true);
  });

  test('the unmap hook itself names each entry it drops, whoever calls it (munmap, MADV_DONTNEED, exit, a kill)', () => {
    const s = setup(SWAP, [], 3, 3);
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V + 1 });
    s.apply('io.complete', { guest: 0 });
    const w = s.world;
    const g = w.guests[0]!;
    w.journal.clear();
    for (const h of g.unmapHooks) h(w, g, g.processes.get(1)!, V, V + 3);
    expect(guestSwapOf(w, g).ptes.size).toBe(0);
    expect([...(w.journal.marks.get('swap:g0') ?? [])]).toEqual([0]);
    expect(covers(w.journal.ranges, 1, V + 1)).toBe(true);
    expect(w.journal.ranges.every((x) => x.vpnStart < x.vpnEnd)).toBe(true);
  });
});

describe('the reverse map slot -> entries', () => {
  test('holds exactly the slots that entries name: a swapped-in page takes its slot out of it', () => {
    const s = setup();
    const g = s.world.guests[0]!;
    const sw = guestSwapOf(s.world, g);
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    expect([...sw.refs]).toEqual([[0, new Set([pteKey(1, V)])]]);
    s.apply('io.complete', { guest: 0 });
    s.apply('guest.read', { guest: 0, pid: 1, vpn: V });
    expect(sw.refs.size).toBe(0);
    expect(sw.ptes.size).toBe(0);
  });

  test('two entries on one slot (what swap-slot-freed-while-referenced makes): dropping one keeps the other, so the property still sees the sharing', () => {
    const s = setup(SWAP, ['swap-slot-freed-while-referenced']);
    const sw = guestSwapOf(s.world, s.world.guests[0]!);
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    s.apply('io.complete', { guest: 0 });
    s.apply('guest.read', { guest: 0, pid: 1, vpn: V });
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V + 1 });
    expect(sw.refs.get(0)).toEqual(new Set([pteKey(1, V), pteKey(1, V + 1)]));
    s.apply('guest.munmap', { guest: 0, pid: 1, vpn: V, pages: 1 });
    expect(sw.refs.get(0)).toEqual(new Set([pteKey(1, V + 1)]));
    expect([...sw.ptes.keys()]).toEqual([pteKey(1, V + 1)]);
  });
});

describe('the swap cache while a swap-out write is in flight', () => {
  test('a frame is the slot\'s swap-cache page only while the guest owns it as that: a frame freed at submission (swap-frees-before-writeback) is not', () => {
    const good = setup();
    good.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    const g = good.world.guests[0]!;
    const [req] = cacheOf(g).io;
    expect(req).toMatchObject({ kind: 'swap-out', slot: 0 });
    expect(swapCacheFrame(g, 0)).toBe(req!.gfn);
    const bad = setup(SWAP, ['swap-frees-before-writeback']);
    bad.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    const b = bad.world.guests[0]!;
    expect(cacheOf(b).io).toHaveLength(1);
    expect(b.owners.get(cacheOf(b).io[0]!.gfn)).toBeUndefined();
    expect(swapCacheFrame(b, 0)).toBeUndefined();
  });

  test('a stale request whose frame is now another slot\'s swap-cache page is neither that slot\'s swap cache nor freed by its completion', () => {
    const s = setup();
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    const w = s.world;
    const g = w.guests[0]!;
    const gfn = cacheOf(g).io[0]!.gfn;
    // The state swap-frees-before-writeback leaves when the frame it freed is swapped out again:
    // an older request for slot 7 still names the frame.
    const stale = { kind: 'swap-out' as const, slot: 7, gfn };
    cacheOf(g).io.unshift(stale);
    expect(swapCacheFrame(g, 7)).toBeUndefined();
    expect(swapCacheFrame(g, 0)).toBe(gfn);
    expect(cacheOf(g).io.shift()).toBe(stale);
    completeSwapOut(w, g, stale);
    expect(g.owners.get(gfn)).toEqual({ kind: 'swap-cache', slot: 0 });
    expect(g.buddy.isFree(gfn)).toBe(false);
    // Its own completion writes the slot and frees it.
    s.apply('io.complete', { guest: 0 });
    expect(g.owners.get(gfn)).toBeUndefined();
    expect(g.buddy.isFree(gfn)).toBe(true);
  });

  test('a write that completes after its entry was unmapped frees the slot instead of filling it, and the frame', () => {
    const s = setup();
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    const g = s.world.guests[0]!;
    const sw = guestSwapOf(s.world, g);
    const gfn = cacheOf(g).io[0]!.gfn;
    s.apply('guest.munmap', { guest: 0, pid: 1, vpn: V, pages: 1 });
    expect([sw.ptes.size, sw.device!.used]).toEqual([0, 1]);
    expect(s.apply('io.complete', { guest: 0 })).toEqual({ ok: true });
    expect(sw.device!.has(0)).toBe(false);
    expect(sw.device!.content(0)).toBeUndefined();
    expect(g.buddy.isFree(gfn)).toBe(true);
    expect(s.r.violation).toBeNull();
  });

  test('a completion whose frame was freed at submission and reused meanwhile leaves the new owner\'s page alone', () => {
    const s = setup(SWAP, ['swap-frees-before-writeback'], 1, 1);
    s.apply('guest.mmap', { guest: 0, pid: 1, vpn: V + 8, pages: 1, write: true, exec: false, huge: false });
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    const g = s.world.guests[0]!;
    const gfn = cacheOf(g).io[0]!.gfn;
    s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 8 });
    expect(gfnAt(s.world, 1, V + 8)).toBe(gfn);
    s.apply('io.complete', { guest: 0 });
    expect(g.owners.get(gfn)).toEqual({ kind: 'anon', pid: 1, vpn: V + 8 });
    expect(g.buddy.isFree(gfn)).toBe(false);
  });
});

describe('swap-in (do_swap_page)', () => {
  test('the page comes back mapped with the permissions it had (present, writable, user, nx as the VMA says)', () => {
    const s = setup();
    const w = s.world;
    const g = w.guests[0]!;
    const p = g.processes.get(1)!;
    const before = peekLeaf(w, g, p, V)!.entry;
    expect(before.flags & PTE_USER).toBe(PTE_USER);
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    s.apply('io.complete', { guest: 0 });
    expect(peekLeaf(w, g, p, V)).toBeNull();
    s.apply('guest.read', { guest: 0, pid: 1, vpn: V });
    const after = peekLeaf(w, g, p, V)!.entry;
    // Accessed and dirty are the hardware's (set by the accesses since): compare the rest.
    const perms = (e: { flags: number; nx: boolean }) => ({ flags: e.flags & ~(PTE_ACCESSED | PTE_DIRTY), nx: e.nx });
    expect(perms(after)).toEqual(perms(before));
    expect(s.r.violation).toBeNull();
  });

  test('a PTE table emptied by munmap of its last present page is built again by the swap-in of a page it held', () => {
    const s = setup();
    const w = s.world;
    const g = w.guests[0]!;
    const p = g.processes.get(1)!;
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    s.apply('io.complete', { guest: 0 });
    const tables = g.tables.size;
    s.apply('guest.munmap', { guest: 0, pid: 1, vpn: V + 1, pages: 1 });
    expect(findSlot(w, g, p, V, 1)).toBeNull();
    // The PTE table, and the PMD and PUD tables above it that held nothing else, go.
    expect(g.tables.size).toBe(tables - 3);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    expect(gfnAt(w, 1, V)).toBeDefined();
    expect(guestSwapOf(w, g).ptes.size).toBe(0);
    expect(s.r.violation).toBeNull();
  });

  test('a host that cannot back the new page refuses the swap-in and changes nothing: the page stays swapped, the frame goes back', () => {
    const s = setup(SWAP, [], 1, 1);
    const w = s.world;
    const g = w.guests[0]!;
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    s.apply('io.complete', { guest: 0 });
    // The freed (host-backed) frame goes to the kernel: the swap-in gets a frame never backed.
    s.apply('guest.kalloc', { guest: 0, order: 0, mt: 'MOVABLE' });
    exhaustHost(s.r, 0);
    const free = g.buddy.freePages();
    const owners = g.owners.size;
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: false, error: 'host-oom' });
    expect(g.buddy.freePages()).toBe(free);
    expect(g.owners.size).toBe(owners);
    expect(gfnAt(w, 1, V)).toBeUndefined();
    expect([...guestSwapOf(w, g).ptes.values()]).toEqual([{ pid: 1, vpn: V, slot: 0 }]);
    expect(guestSwapOf(w, g).device!.has(0)).toBe(true);
    expect(s.r.violation).toBeNull();
  });

  test('through frontswap: the swap-in takes the page and the frontswap copy goes with the slot', () => {
    const s = setup({ ...SWAP, 'frontswap.enabled': true });
    const w = s.world;
    const g = w.guests[0]!;
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    s.apply('io.complete', { guest: 0 });
    expect(fsSwapPeek(w, 0, 0)).toBeDefined();
    expect(guestSwapOf(w, g).frontswapped.has(0)).toBe(true);
    s.apply('guest.read', { guest: 0, pid: 1, vpn: V });
    expect(fsSwapPeek(w, 0, 0)).toBeUndefined();
    expect(guestSwapOf(w, g).frontswapped.size).toBe(0);
    expect(s.r.violation).toBeNull();
  });

  test('a spurious fault on a present page leaves its mapping alone, even with a stale swap entry for it (swap-slot-freed-while-referenced)', () => {
    const s = setup(SWAP, ['swap-slot-freed-while-referenced']);
    const w = s.world;
    const g = w.guests[0]!;
    const p = g.processes.get(1)!;
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    s.apply('io.complete', { guest: 0 });
    s.apply('guest.read', { guest: 0, pid: 1, vpn: V });
    const gfn = gfnAt(w, 1, V)!;
    expect(guestSwapOf(w, g).ptes.has(pteKey(1, V))).toBe(true);
    const free = g.buddy.freePages();
    expect(handlePageFault(w, g, p, V, 'read')).toBe(true);
    expect(gfnAt(w, 1, V)).toBe(gfn);
    expect(g.buddy.freePages()).toBe(free);
  });
});

describe('unmap drops the swap entries of its own range and process only', () => {
  test('the entry just past the end stays, and reads back what was written', () => {
    const s = setup(SWAP, [], 2, 2);
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V + 1 });
    s.apply('io.complete', { guest: 0 });
    s.apply('guest.munmap', { guest: 0, pid: 1, vpn: V, pages: 1 });
    const sw = guestSwapOf(s.world, s.world.guests[0]!);
    expect([...sw.ptes.keys()]).toEqual([pteKey(1, V + 1)]);
    expect(sw.device!.used).toBe(1);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 1 })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
  });

  test("another process's entry at the same vpn stays", () => {
    const s = setup(SWAP, [], 1, 1);
    s.apply('guest.spawn', { guest: 0 });
    s.apply('mm.populate', { guest: 0, pid: 2, vpn: V, pages: 1 });
    s.apply('guest.write', { guest: 0, pid: 2, vpn: V });
    s.apply('swap.out', { guest: 0, pid: 1, vpn: V });
    s.apply('swap.out', { guest: 0, pid: 2, vpn: V });
    s.apply('io.complete', { guest: 0 });
    s.apply('io.complete', { guest: 0 });
    s.apply('guest.munmap', { guest: 0, pid: 1, vpn: V, pages: 1 });
    const sw = guestSwapOf(s.world, s.world.guests[0]!);
    expect([...sw.ptes.values()]).toEqual([{ pid: 2, vpn: V, slot: 1 }]);
    expect(sw.device!.used).toBe(1);
    expect(s.apply('guest.read', { guest: 0, pid: 2, vpn: V })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
  });
});

describe('a crash (swapCrash): the device means nothing to the next kernel', () => {
  test('every entry, every slot, the reverse map and the frontswap copies go', () => {
    const s = setup({ ...SWAP, 'frontswap.enabled': true }, [], 3, 3);
    const w = s.world;
    const g = w.guests[0]!;
    for (let i = 0; i < 3; i++) s.apply('swap.out', { guest: 0, pid: 1, vpn: V + i });
    s.apply('io.complete', { guest: 0 });
    const sw = guestSwapOf(w, g);
    expect([sw.ptes.size, sw.refs.size, sw.device!.used, sw.frontswapped.size]).toEqual([3, 3, 3, 1]);
    expect(fsSwapPeek(w, 0, 0)).toBeDefined();
    swapCrash(w, g);
    expect([sw.ptes.size, sw.refs.size, sw.device!.used, sw.frontswapped.size]).toEqual([0, 0, 0, 0]);
    expect(fsSwapPeek(w, 0, 0)).toBeUndefined();
  });
});
