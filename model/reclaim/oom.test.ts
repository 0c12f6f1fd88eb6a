/**
 * The OOM killer's rules (mm/oom_kill.c oom_badness, select_bad_process, out_of_memory;
 * mm/page_alloc.c __alloc_pages_may_oom): which allocations reach it, how a victim is scored
 * and chosen, what the kill step tries first, and the bounds of oom_score_adj.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { FILE_PAGES } from '../pagecache/layout';
import { cmmPages } from './cmm';
import { hogsOf } from './hog';
import { OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN, oomBadness } from './oom';
import { reclaimOf } from './state';

const V = 1 << 24;
const BASE = { 'swap.slots': 256, 'frontswap.enabled': false, 'cleancache.enabled': false, 'unmapped-page-control.limit': -1, 'page-cache.cacheModes': 'none' };
const TIGHT = { ...BASE, 'reclaim.bootOfflinePercent': 90 };
const NOSWAP = { ...TIGHT, 'swap.slots': 0 };
const oomTransitions = (s: ReturnType<typeof stepper>): Record<string, number> => Object.fromEntries(s.world.transitions.get('oom') ?? []);
const badness = (s: ReturnType<typeof stepper>, pid: number): number => {
  const g = s.world.guests[0]!;
  return oomBadness(s.world, g, g.processes.get(pid)!);
};

describe('which allocations reach the OOM notifiers', () => {
  test('an order-3 allocation (PAGE_ALLOC_COSTLY_ORDER itself) still calls the notifiers: the hog gets its 8-page blocks from what CMM gives back', () => {
    const s = stepper(machine(NOSWAP));
    const g = s.world.guests[0]!;
    expect(s.apply('cmm.alloc', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 64 });
    const want = g.buddy.freePages() + 64;
    expect(want % 8).toBe(0);
    expect(s.apply('mm.hog', { guest: 0, pages: want })).toEqual({ ok: true, value: 1 });
    expect(s.broke()).toEqual([]);
    expect(hogsOf(g).held.get(1)!.pages.length).toBe(want);
    expect(hogsOf(g).held.get(1)!.blocks.every(([, order]) => order === 3)).toBe(true);
    expect(cmmPages(g)).toEqual([]);
    expect(reclaimOf(g).oomPending).toBeNull();
    expect(oomTransitions(s)['alloc-failed->notifier-freed']).toBe(1);
  });

  test('a huge-page fault (order 9, costly) that finds no block neither calls the notifiers nor leaves an OOM pending: it falls back to a 4 KiB page', () => {
    // Guest THP on, no swap; the hog's unmovable blocks leave 100 free pages, so neither the
    // buddy lists nor compaction (no movable page to move) can give an order-9 block.
    const s = stepper(machine({ ...BASE, 'swap.slots': 0 }, [], 1, true));
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('cmm.alloc', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 64 });
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() - 100 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 512 * 64, pages: 512, write: true, exec: false, huge: true })).toEqual({ ok: true });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 512 * 64 })).toMatchObject({ ok: true });
    expect(s.broke()).toEqual([]);
    expect(cmmPages(g).length).toBe(64);
    expect(reclaimOf(g).oomPending).toBeNull();
    expect(oomTransitions(s)['alloc-failed->notifier-freed']).toBeUndefined();
    expect(s.world.transitions.get('nested-mmu')?.get('unmapped->mapped-4k')).toBe(1);
    expect(s.world.transitions.get('nested-mmu')?.get('unmapped->mapped-2m')).toBeUndefined();
  });
});

describe('oom_badness', () => {
  test('counts the process\'s own anonymous pages and page tables: a page in a fresh 2 MiB region adds the page and its PTE table, another process\'s pages add nothing', () => {
    const s = stepper(machine(BASE));
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 10 })).toEqual({ ok: true, value: 10 });
    const one = badness(s, 1);
    const two = badness(s, 2);
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V + 10, pages: 3 })).toEqual({ ok: true, value: 3 });
    expect(badness(s, 1)).toBe(one + 3);
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V + 512, pages: 1 })).toEqual({ ok: true, value: 1 });
    expect(badness(s, 1)).toBe(one + 3 + 2);
    expect(badness(s, 2)).toBe(two);
  });

  test('a page swapped out still counts (its swap entry), and file pages the process maps count as rss; an unmapped file page does not', () => {
    const s = stepper(machine(BASE));
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 4 })).toEqual({ ok: true, value: 4 });
    const before = badness(s, 1);
    expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toMatchObject({ ok: true });
    expect(s.apply('io.complete', { guest: 0 })).toMatchObject({ ok: true });
    expect(badness(s, 1)).toBe(before);
    // Three file pages mapped in the same page table as the anonymous ones, two of them touched.
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 5, pgoff: 0, vpn: V + 64, pages: 3, write: false })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 64 })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 66 })).toEqual({ ok: true });
    expect(badness(s, 1)).toBe(before + 2);
    // An anonymous page right after the file VMA counts once, as anonymous.
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V + 67, pages: 1 })).toEqual({ ok: true, value: 1 });
    expect(badness(s, 1)).toBe(before + 3);
  });

  test('every mapped page of a file VMA counts, to its last; another process\'s swap entries do not', () => {
    const s = stepper(machine(BASE));
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 2 });
    const F = V + 4096;
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 5, pgoff: 0, vpn: F, pages: FILE_PAGES, write: false })).toEqual({ ok: true });
    // The first read also makes the page tables down to the VMA: counted before.
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: F })).toEqual({ ok: true });
    const before = badness(s, 1);
    for (const i of [7, FILE_PAGES - 1]) expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: F + i })).toEqual({ ok: true });
    expect(badness(s, 1)).toBe(before + 2);
    const one = badness(s, 1);
    expect(s.apply('mm.populate', { guest: 0, pid: 2, vpn: V, pages: 2 })).toEqual({ ok: true, value: 2 });
    expect(s.apply('swap.out', { guest: 0, pid: 2, vpn: V })).toMatchObject({ ok: true });
    expect(s.apply('io.complete', { guest: 0 })).toMatchObject({ ok: true });
    expect(badness(s, 1)).toBe(one);
  });

  test('oom_score_adj adds adj * (totalpages / 1000), totalpages being RAM plus swap', () => {
    // 4096 frames + 1024 swap slots: 5 points per unit of adj.
    const s = stepper(machine({ ...BASE, 'swap.slots': 1024 }));
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 4 })).toEqual({ ok: true, value: 4 });
    const base = badness(s, 1);
    expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: 100 })).toEqual({ ok: true });
    expect(badness(s, 1)).toBe(base + 500);
    expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: -3 })).toEqual({ ok: true });
    expect(badness(s, 1)).toBe(base - 15);
  });

  test('without a swap device totalpages is the guest\'s RAM alone', () => {
    const s = stepper(machine(NOSWAP));
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    const base = badness(s, 1);
    expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: 10 })).toEqual({ ok: true });
    expect(badness(s, 1)).toBe(base + 40);
  });
});

describe('select_bad_process and the kill step', () => {
  test('of two processes with the same badness the later one dies', () => {
    const s = stepper(machine(NOSWAP));
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 8 })).toEqual({ ok: true, value: 8 });
    expect(s.apply('mm.populate', { guest: 0, pid: 2, vpn: V, pages: 8 })).toEqual({ ok: true, value: 8 });
    expect(badness(s, 1)).toBe(badness(s, 2));
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() + 8 })).toMatchObject({ ok: true });
    expect(s.apply('oom.kill', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.broke()).toEqual([]);
    expect([...g.processes.keys()]).toEqual([1]);
  });

  test('oom_score_adj turns the choice: the larger process at -500 survives, the smaller one dies; the kill is recorded with what out_of_memory saw', () => {
    const s = stepper(machine(NOSWAP));
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 32 })).toEqual({ ok: true, value: 32 });
    expect(s.apply('mm.populate', { guest: 0, pid: 2, vpn: V, pages: 4 })).toEqual({ ok: true, value: 4 });
    expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: -500 })).toEqual({ ok: true });
    expect(s.apply('oom.adj', { guest: 0, pid: 2, adj: 7 })).toEqual({ ok: true });
    expect(badness(s, 1)).toBeLessThan(badness(s, 2));
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() + 8 })).toMatchObject({ ok: true });
    expect(reclaimOf(g).oomPending).not.toBeNull();
    expect(s.apply('oom.kill', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(s.broke()).toEqual([]);
    expect(reclaimOf(g).kills).toEqual([{ step: s.world.step, pid: 2, adj: 7, reclaimable: 0, notifiersCalled: g.oomNotifiers.length, notifiersFreed: 0 }]);
    expect(g.oomNotifiers.length).toBeGreaterThan(0);
    expect(reclaimOf(g).oomPending).toBeNull();
    expect(oomTransitions(s)['oom-pending->killed']).toBe(1);
    expect([...g.processes.keys()]).toEqual([1]);
  });

  test('memory reclaimable by the time the kill step runs is reclaimed instead: nobody dies and the OOM is no longer pending', () => {
    const s = stepper(machine(NOSWAP));
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 8 })).toEqual({ ok: true, value: 8 });
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() + 8 })).toEqual({ ok: true, value: 1 });
    expect(reclaimOf(g).oomPending).not.toBeNull();
    // Some of the hog is given back and the page cache takes it: reclaimable again.
    const first = reclaimOf(g).oomPending!;
    expect(s.apply('mm.hog', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 0 });
    // A second failure while the OOM is pending: the latest allocation waits, one pending OOM.
    expect(reclaimOf(g).oomPending).toEqual({ order: 0, step: s.world.step });
    expect(reclaimOf(g).oomPending!.step).toBeGreaterThan(first.step);
    expect(oomTransitions(s)['no-oom->oom-pending']).toBe(1);
    expect(s.apply('mm.unhog', { guest: 0, hog: 1 })).toMatchObject({ ok: true });
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() - 4 })).toEqual({ ok: true, value: 2 });
    for (let i = 0; i < 4; i++) expect(s.apply('file.read', { guest: 0, file: 4, index: i })).toMatchObject({ ok: true });
    expect(g.buddy.freePages()).toBe(0);
    expect(reclaimOf(g).oomPending).not.toBeNull();
    expect(s.apply('oom.kill', { guest: 0 })).toEqual({ ok: true, value: 0 });
    expect(s.broke()).toEqual([]);
    expect(reclaimOf(g).oomPending).toBeNull();
    expect(reclaimOf(g).kills).toEqual([]);
    expect(oomTransitions(s)['oom-pending->no-oom']).toBe(1);
    expect(g.processes.has(1)).toBe(true);
  });

  test('a notifier that holds pages by the time the kill step runs gives them back instead: nobody dies', () => {
    const s = stepper(machine(NOSWAP));
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 8 })).toEqual({ ok: true, value: 8 });
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() + 8 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('mm.unhog', { guest: 0, hog: 1 })).toMatchObject({ ok: true });
    expect(s.apply('cmm.alloc', { guest: 0, pages: 16 })).toEqual({ ok: true, value: 16 });
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() })).toEqual({ ok: true, value: 2 });
    expect(g.buddy.freePages()).toBe(0);
    expect(reclaimOf(g).oomPending).not.toBeNull();
    expect(s.apply('oom.kill', { guest: 0 })).toEqual({ ok: true, value: 0 });
    expect(s.broke()).toEqual([]);
    expect(cmmPages(g)).toEqual([]);
    expect(g.buddy.freePages()).toBe(16);
    expect(reclaimOf(g).oomPending).toBeNull();
    expect(reclaimOf(g).kills).toEqual([]);
    expect(oomTransitions(s)['oom-pending->notifier-freed']).toBe(1);
    expect(g.processes.has(1)).toBe(true);
  });

  test('with nothing killable the kill step kills nobody and the OOM stays pending', () => {
    const s = stepper(machine(NOSWAP));
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: OOM_SCORE_ADJ_MIN })).toEqual({ ok: true });
    expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() + 8 })).toEqual({ ok: true, value: 1 });
    const pending = reclaimOf(g).oomPending;
    expect(pending).not.toBeNull();
    expect(s.apply('oom.kill', { guest: 0 })).toEqual({ ok: true, value: 0 });
    expect(reclaimOf(g).oomPending).toEqual(pending);
    expect(reclaimOf(g).kills).toEqual([]);
    expect(g.processes.has(1)).toBe(true);
  });
});

test('oom_score_adj takes -1000..1000 inclusive and only for a process that exists', () => {
  const s = stepper(machine(BASE));
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: OOM_SCORE_ADJ_MAX })).toEqual({ ok: true });
  expect(reclaimOf(s.world.guests[0]!).oomAdj.get(1)).toBe(1000);
  expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: OOM_SCORE_ADJ_MAX + 1 })).toEqual({ ok: false, error: 'out-of-range' });
  expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: OOM_SCORE_ADJ_MIN - 1 })).toEqual({ ok: false, error: 'out-of-range' });
  expect(reclaimOf(s.world.guests[0]!).oomAdj.get(1)).toBe(1000);
  expect(s.apply('oom.adj', { guest: 0, pid: 1, adj: OOM_SCORE_ADJ_MIN })).toEqual({ ok: true });
  expect(reclaimOf(s.world.guests[0]!).oomAdj.get(1)).toBe(-1000);
  expect(s.apply('oom.adj', { guest: 0, pid: 2, adj: 0 })).toEqual({ ok: false, error: 'no-such-process' });
});
