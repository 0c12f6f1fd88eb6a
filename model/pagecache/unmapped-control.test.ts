/**
 * Unmapped page-cache control (model/pagecache/unmapped-control.ts): which pages a pass may
 * take (unmapped, clean, not under writeback: may_unmap = 0, may_writepage = 0); the order it
 * takes them in (the inactive file list before the active one, as shrink_lruvec scans, each page
 * once); that it stops at the limit and reports the over-limit -> within-limit edge only when
 * it got there; and what the injected may_unmap bug does (unmaps the page, then drops it).
 */
import { pageCacheStepper, type Stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { lookupPage } from './cache';
import { cacheOf } from './state';
import { unmappedCount, upcCandidate } from './unmapped-control';

const V = 1 << 22;

const withLimit = (limit: number, faults: readonly string[] = []) => pageCacheStepper({ 'unmapped-page-control.limit': limit }, faults);
const read = (file: number, index: number) => ['file.read', { guest: 0, file, index }] as const;
const pass = ['upc.reclaim', { guest: 0 }] as const;
/** Times the pass reached its limit (the over-limit -> within-limit edge). */
const withinLimit = (s: Stepper) => s.world.transitions.get('unmapped-page-control')?.get('over-limit->within-limit') ?? 0;
/** The cached pages of file 1, by index. */
const cachedOfFile1 = (s: Stepper) => [...cacheOf(s.world.guests[0]!).pages.values()].filter((p) => p.file === 1).map((p) => p.index).sort((a, b) => a - b);

describe('the pages a pass may take', () => {
  it('an unmapped clean page is a candidate; a mapped one, a dirty one and one under writeback are not', () => {
    const s = withLimit(-1);
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 }).ok).toBe(true);
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V, pages: 1, write: true })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    expect(s.apply(...read(1, 0)).ok).toBe(true);
    expect(s.apply('file.write', { guest: 0, file: 1, index: 1 }).ok).toBe(true);
    expect(s.apply('file.write', { guest: 0, file: 1, index: 2 }).ok).toBe(true);
    expect(s.apply('file.writeback', { guest: 0, file: 1, index: 2 })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
    const [mapped, clean, dirty, writeback] = [lookupPage(g, 0, 0)!, lookupPage(g, 1, 0)!, lookupPage(g, 1, 1)!, lookupPage(g, 1, 2)!];
    expect([mapped.dirty, clean.dirty, dirty.dirty, writeback.dirty, writeback.writeback]).toEqual([false, false, true, false, true]);
    expect([mapped, clean, dirty, writeback].map((p) => upcCandidate(g, p))).toEqual([false, true, false, false]);
    expect(unmappedCount(g)).toBe(3);
  });
});

describe('the order of a pass: the inactive list, then the active list, each page once', () => {
  it('over by two, with an active page older than two inactive ones: the inactive ones go', () => {
    const s = withLimit(1);
    // File 1 page 0 read twice: mark_page_accessed activates it; pages 1 and 2 are read once.
    for (const step of [read(1, 0), read(1, 0), read(1, 1), read(1, 2)]) expect(s.apply(...step).ok).toBe(true);
    expect(s.apply(...pass)).toEqual({ ok: true, value: 2 });
    expect(s.r.violation).toBeNull();
    expect(cachedOfFile1(s)).toEqual([0]);
  });

  it('limit 0, an inactive page older than an active one: both go, and the count is the pages freed', () => {
    const s = withLimit(0);
    for (const step of [read(1, 1), read(1, 0), read(1, 0)]) expect(s.apply(...step).ok).toBe(true);
    expect(s.apply(...pass)).toEqual({ ok: true, value: 2 });
    expect(s.r.violation).toBeNull();
    expect(cachedOfFile1(s)).toEqual([]);
    expect(unmappedCount(s.world.guests[0]!)).toBe(0);
  });
});

describe('the limit', () => {
  it('over by one: one page goes and the pass reaches the limit; at the limit and under it a pass does nothing', () => {
    const s = withLimit(2);
    for (const step of [read(1, 0), read(1, 1), read(1, 2)]) expect(s.apply(...step).ok).toBe(true);
    expect(withinLimit(s)).toBe(0);
    expect(s.apply(...pass)).toEqual({ ok: true, value: 1 });
    expect(unmappedCount(s.world.guests[0]!)).toBe(2);
    expect(withinLimit(s)).toBe(1);
    // At the limit: nothing to do, and no over-limit episode to end.
    expect(s.apply(...pass)).toEqual({ ok: true, value: 0 });
    expect(withinLimit(s)).toBe(1);
    expect(s.apply('file.evict', { guest: 0, file: 1, index: 1 })).toEqual({ ok: true });
    // Under it: the same.
    expect(s.apply(...pass)).toEqual({ ok: true, value: 0 });
    expect(withinLimit(s)).toBe(1);
    expect(cachedOfFile1(s)).toEqual([2]);
    expect(s.r.violation).toBeNull();
  });

  it('a pass that cannot get within the limit (the rest are dirty) frees what it can and stays over', () => {
    const s = withLimit(0);
    expect(s.apply('file.write', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
    expect(s.apply(...read(1, 1)).ok).toBe(true);
    expect(s.apply(...pass)).toEqual({ ok: true, value: 1 });
    expect(withinLimit(s)).toBe(0);
    expect(cachedOfFile1(s)).toEqual([0]);
    expect(s.r.violation).toBeNull();
  });
});

describe('the injected bug upc-unmaps-mapped (may_unmap = 1)', () => {
  it('takes a mapped page in LRU order: unmaps it, then drops it as a clean unmapped page', () => {
    const s = withLimit(0, ['upc-unmaps-mapped']);
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 }).ok).toBe(true);
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V, pages: 1, write: true })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    // One unmapped page, newer than the mapped one: over the limit by one.
    expect(s.apply(...read(0, 5)).ok).toBe(true);
    expect(unmappedCount(g)).toBe(1);
    expect(s.apply(...pass)).toEqual({ ok: true, value: 1 });
    expect(s.broke()).toContain('unmapped-control-safe|unmapped-a-mapped-page');
    // The oldest page went, mapped as it was; the unmapped one stays.
    expect(lookupPage(g, 0, 0)).toBeUndefined();
    expect(lookupPage(g, 0, 5)).toBeDefined();
    expect(peekLeaf(s.world, g, g.processes.get(1)!, V)).toBeNull();
  });
});
