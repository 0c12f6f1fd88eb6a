/**
 * Who runs reclaim and how much it takes: direct reclaim in the allocator's slow path
 * (mm/vmscan.c try_to_free_pages, mm/page_alloc.c __alloc_pages_direct_reclaim), kswapd between
 * its watermarks (balance_pgdat, pgdat_balanced), shrink_all_memory.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { lookupPage } from '../pagecache/cache';
import { cacheOf } from '../pagecache/state';
import { compactionState } from '../compaction/state';
import { directReclaim, KSWAPD_PASSES_MAX, settleReclaim } from './pressure';
import type { ModelConfig } from '../config';
import { reclaimOf } from './state';
import { SWAP_CLUSTER_MAX } from './vmscan';

const V = 1 << 24;
const BASE = { 'swap.slots': 256, 'frontswap.enabled': false, 'cleancache.enabled': false, 'unmapped-page-control.limit': -1, 'page-cache.cacheModes': 'none' };
const TIGHT = { ...BASE, 'reclaim.bootOfflinePercent': 90 };
const directReclaims = (s: ReturnType<typeof stepper>): number => s.world.transitions.get('reclaim')?.get('alloc-failed->direct-reclaimed') ?? 0;

test('a one-page allocation that finds no free page reclaims SWAP_CLUSTER_MAX (32) pages, not one, and the rest stay cached', () => {
  const s = stepper(machine(TIGHT));
  const g = s.world.guests[0]!;
  const files = SWAP_CLUSTER_MAX + 8;
  for (let i = 0; i < files; i++) expect(s.apply('file.read', { guest: 0, file: 4, index: i })).toMatchObject({ ok: true });
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() })).toEqual({ ok: true, value: 1 });
  expect(g.buddy.freePages()).toBe(0);
  expect(directReclaims(s)).toBe(0);

  expect(s.apply('mm.hog', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 2 });
  expect(s.broke()).toEqual([]);
  // try_to_free_pages: nr_to_reclaim = max(SWAP_CLUSTER_MAX, 1 << order); one of the 32 went
  // to the allocation, 31 are left free for the next ones.
  expect(reclaimOf(g).log.length).toBe(SWAP_CLUSTER_MAX);
  expect(reclaimOf(g).log.every((r) => r.kind === 'file')).toBe(true);
  expect(g.buddy.freePages()).toBe(SWAP_CLUSTER_MAX - 1);
  const cached = Array.from({ length: files }, (_, i) => lookupPage(g, 4, i) !== undefined).filter(Boolean).length;
  expect(cached).toBe(files - SWAP_CLUSTER_MAX);
  expect(directReclaims(s)).toBe(1);
  expect(reclaimOf(g).oomPending).toBeNull();
});

test('a swap-out write direct reclaim waits for counts as progress: with nothing else reclaimable the allocation gets the frame it freed, and no OOM is due', () => {
  // One swap slot, taken by the write in flight: shrink can swap nothing more, and no file page
  // is cached, so the completed swap-out is all the progress there is.
  const s = stepper(machine({ ...TIGHT, 'swap.slots': 1 }));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 4 })).toEqual({ ok: true, value: 4 });
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() })).toEqual({ ok: true, value: 1 });
  expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true, value: 0 });
  expect(cacheOf(g).io.map((r) => r.kind)).toEqual(['swap-out']);
  expect(g.buddy.freePages()).toBe(0);

  expect(s.apply('mm.hog', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 2 });
  expect(s.broke()).toEqual([]);
  expect(cacheOf(g).io).toEqual([]);
  expect(g.buddy.freePages()).toBe(0);
  expect(reclaimOf(g).log).toEqual([]); // shrink itself freed nothing
  expect(reclaimOf(g).oomPending).toBeNull();
  expect(directReclaims(s)).toBe(1);
});

test('a direct reclaim that frees nothing records no progress: no direct-reclaimed transition, and the allocation waits for the OOM killer', () => {
  const s = stepper(machine({ ...TIGHT, 'swap.slots': 0 }));
  const g = s.world.guests[0]!;
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.hog', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 0 });
  expect(s.broke()).toEqual([]);
  expect(directReclaims(s)).toBe(0);
  expect(reclaimOf(g).oomPending).toEqual({ order: 0, step: s.world.step });
});

const reclaimTransitions = (s: ReturnType<typeof stepper>): Record<string, number> => Object.fromEntries(s.world.transitions.get('reclaim') ?? []);

test('kswapd stays asleep with free pages exactly at the low watermark; one page below it, it reclaims exactly up to high and no further', () => {
  const s = stepper(machine(TIGHT));
  const g = s.world.guests[0]!;
  const wm = g.buddy.watermarks();
  for (let i = 0; i < 48; i++) expect(s.apply('file.read', { guest: 0, file: 4, index: i })).toMatchObject({ ok: true });
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() - wm.low })).toEqual({ ok: true, value: 1 });
  expect(g.buddy.freePages()).toBe(wm.low);
  expect(s.apply('reclaim.kswapd', { guest: 0 })).toEqual({ ok: true, value: 0 });
  expect(g.buddy.freePages()).toBe(wm.low);
  expect(reclaimTransitions(s)['kswapd-asleep->kswapd-running']).toBeUndefined();

  expect(s.apply('mm.hog', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 2 });
  expect(s.apply('reclaim.kswapd', { guest: 0 })).toEqual({ ok: true, value: wm.high - (wm.low - 1) });
  expect(s.broke()).toEqual([]);
  // The gap is smaller than one pass's batch: kswapd asks for what reaches high, not a batch.
  expect(wm.high - (wm.low - 1)).toBeLessThan(SWAP_CLUSTER_MAX * 4);
  expect(g.buddy.freePages()).toBe(wm.high);
  expect(reclaimOf(g).log.length).toBe(wm.high - (wm.low - 1));
  expect(reclaimTransitions(s)['kswapd-asleep->kswapd-running']).toBe(1);
  expect(reclaimTransitions(s)['kswapd-running->kswapd-asleep']).toBe(1);
});

test('shrink_all_memory(n) frees n pages when more are reclaimable, and records the shrunk transition only when it freed something', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 16 })).toEqual({ ok: true, value: 0 });
  expect(reclaimTransitions(s)['shrink-requested->shrunk']).toBeUndefined();
  expect(reclaimTransitions(s)['active->inactive']).toBeUndefined(); // no list had anything to age
  for (let i = 0; i < 6; i++) expect(s.apply('file.read', { guest: 0, file: 4, index: i })).toMatchObject({ ok: true });
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 4 })).toEqual({ ok: true, value: 4 });
  expect(reclaimTransitions(s)['shrink-requested->shrunk']).toBe(1);
  expect(reclaimOf(g).log.map((r) => r.kind === 'file' && r.index)).toEqual([0, 1, 2, 3]);
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 16 })).toEqual({ ok: true, value: 2 });
  expect(s.broke()).toEqual([]);
});

test('settle completes the writeback in flight, then frees everything reclaimable, and records it', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  expect(s.apply('file.write', { guest: 0, file: 4, index: 0 })).toMatchObject({ ok: true });
  expect(s.apply('file.writeback', { guest: 0, file: 4, index: 0 })).toEqual({ ok: true });
  expect(s.apply('file.read', { guest: 0, file: 4, index: 1 })).toMatchObject({ ok: true });
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 3 })).toEqual({ ok: true, value: 3 });
  expect(cacheOf(g).io.map((r) => r.kind)).toEqual(['writeback']);
  expect(s.r.finish()).toBeNull();
  expect(reclaimOf(g).settled).toEqual({ reclaimable: 5, freed: 5, blocked: false });
});

test('kswapd woken with nothing free keeps reclaiming pass after pass (a pass asks for 128 pages at most) until free pages reach high', () => {
  const s = stepper(machine(TIGHT));
  const g = s.world.guests[0]!;
  const wm = g.buddy.watermarks();
  expect(wm.high).toBeGreaterThan(SWAP_CLUSTER_MAX * 4);
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: wm.high + 16 })).toEqual({ ok: true, value: wm.high + 16 });
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() })).toEqual({ ok: true, value: 1 });
  expect(g.buddy.freePages()).toBe(0);
  expect(s.apply('reclaim.kswapd', { guest: 0 })).toEqual({ ok: true, value: wm.high });
  expect(s.broke()).toEqual([]);
  expect(g.buddy.freePages()).toBe(wm.high);
});

test('kswapd on a guest whose high watermark is above 64 quarter batches: 128 pages a pass reach it, within KSWAPD_PASSES_MAX passes', () => {
  const big: ModelConfig = { hostFrames: 2 ** 16, guests: [{ frames: 2 ** 16, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [], options: { ...BASE, 'swap.slots': 2048 } };
  const s = stepper(big);
  const g = s.world.guests[0]!;
  const wm = g.buddy.watermarks();
  expect(wm.high).toBeGreaterThan((KSWAPD_PASSES_MAX * SWAP_CLUSTER_MAX) / 4);
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: wm.high + 16 })).toEqual({ ok: true, value: wm.high + 16 });
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() })).toEqual({ ok: true, value: 1 });
  expect(s.apply('reclaim.kswapd', { guest: 0 })).toEqual({ ok: true, value: wm.high });
  expect(s.broke()).toEqual([]);
});

test('settle records a reclaim that was blocked: a page table the host is migrating keeps the file page it maps', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  const F = 1 << 22;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 5, pgoff: 0, vpn: F, pages: 1, write: false })).toEqual({ ok: true });
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: F })).toEqual({ ok: true });
  const t = [...g.tables.entries()].find(([, x]) => x.pid === 1 && x.level === 1)![0];
  expect(s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: t })).toMatchObject({ ok: true });
  const id = [...compactionState(s.world).active.keys()][0]!;
  expect(s.apply('compaction.migrate.step', { id })).toMatchObject({ ok: true });
  settleReclaim(s.world);
  expect(reclaimOf(g).settled).toEqual({ reclaimable: 1, freed: 0, blocked: true });
});

test('direct reclaim counts the swap-out writes it waited for, not the file writeback it completed (that page counts once, when shrink frees it)', () => {
  const s = stepper(machine({ ...TIGHT, 'swap.slots': 0 }));
  const g = s.world.guests[0]!;
  expect(s.apply('file.write', { guest: 0, file: 4, index: 0 })).toMatchObject({ ok: true });
  expect(s.apply('file.writeback', { guest: 0, file: 4, index: 0 })).toEqual({ ok: true });
  expect(cacheOf(g).io.map((r) => r.kind)).toEqual(['writeback']);
  expect(directReclaim(s.world, g, 0)).toBe(1);
  expect(cacheOf(g).io).toEqual([]);
  expect(lookupPage(g, 4, 0)).toBeUndefined();
});
