/**
 * Reclaim (LRU order, direct reclaim, kswapd's watermarks, shrink_all_memory) and the OOM
 * killer (notifiers first, oom_score_adj); the scenario of every injected fault of reclaim and
 * oom.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import type { Operation } from '../../fuzz/contract';
import { lookupPage } from '../pagecache/cache';
import type { World } from '../world';
import { cmmPages } from './cmm';
import { reclaimablePages } from './measure';
import { reclaimOf } from './state';

const V = 1 << 24;
const F = 1 << 22;
const BASE = { 'swap.slots': 256, 'frontswap.enabled': false, 'cleancache.enabled': false, 'unmapped-page-control.limit': -1, 'page-cache.cacheModes': 'none' };
const TIGHT = { ...BASE, 'reclaim.bootOfflinePercent': 90 };
const spawn = op('guest.spawn', { guest: 0 });
const populate = (pages: number, at = 0) => op('mm.populate', { guest: 0, pid: 1, vpn: V + at * 4096, pages });
/** Take the guest to `free` pages (hog the rest). */
const hogTo = (free: number) => (w: World): Operation => op('mm.hog', { guest: 0, pages: Math.max(1, w.guests[0]!.buddy.freePages() - free) });
const belowLow = (w: World): Operation => hogTo(w.guests[0]!.buddy.watermarks().low - 8)(w);
const exhaust = (w: World): Operation => op('mm.hog', { guest: 0, pages: w.guests[0]!.buddy.freePages() + 8 });

describe('reclaim', () => {
  it('takes inactive file pages first, and second-chances a page used since the last look', () => {
    const r = scenario(machine(BASE), [
      op('file.read', { guest: 0, file: 4, index: 0 }),
      op('file.read', { guest: 0, file: 4, index: 1 }),
      op('file.read', { guest: 0, file: 4, index: 1 }), // second use: active
      op('reclaim.shrink', { guest: 0, pages: 1 }),
    ]);
    expect(kinds(r)).toEqual([]);
    const g = r.world.guests[0]!;
    expect(lookupPage(g, 4, 0)).toBeUndefined();
    expect(lookupPage(g, 4, 1)).toBeDefined();
  });

  it('shrink_all_memory writes back, unmaps and swaps until nothing reclaimable is left', () => {
    const r = scenario(machine(BASE), [spawn, populate(8), op('file.write', { guest: 0, file: 4, index: 0 }), op('file.mmap', { guest: 0, pid: 1, file: 5, pgoff: 0, vpn: F, pages: 2, write: true }), op('guest.write', { guest: 0, pid: 1, vpn: F }), op('reclaim.shrink', { guest: 0, pages: 4096 })]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[5]).toEqual({ ok: true, value: 10 });
    expect(reclaimablePages(r.world, r.world.guests[0]!).total).toBe(0);
  });

  it('kswapd sleeps above low and, woken below it, reclaims up to high', () => {
    const r = scenario(machine(TIGHT), [spawn, populate(192), op('reclaim.kswapd', { guest: 0 }), belowLow, op('reclaim.kswapd', { guest: 0 })]);
    expect(kinds(r)).toEqual([]);
    const g = r.world.guests[0]!;
    expect(r.results[2]).toEqual({ ok: true, value: 0 });
    expect(g.buddy.freePages()).toBeGreaterThanOrEqual(g.buddy.watermarks().high);
  });

  it('direct reclaim swaps out to satisfy an allocation before any OOM', () => {
    const r = scenario(machine(TIGHT), [spawn, populate(64), hogTo(0), populate(16, 1)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[3]).toEqual({ ok: true, value: 16 });
    expect(reclaimOf(r.world.guests[0]!).oomPending).toBeNull();
  });
});

describe('OOM killer', () => {
  it('CMM gives pages back from the notifier chain before anyone is killed', () => {
    const r = scenario(machine(TIGHT), [op('cmm.alloc', { guest: 0, pages: 64 }), spawn, exhaust]);
    expect(kinds(r)).toEqual([]);
    expect(cmmPages(r.world.guests[0]!).length).toBe(0);
  });

  it('kills the process with the highest badness once nothing can be reclaimed, and its memory comes back', () => {
    const r = scenario(machine({ ...TIGHT, 'swap.slots': 0 }), [spawn, populate(32), spawn, exhaust, op('oom.kill', { guest: 0 })]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[4]).toEqual({ ok: true, value: 1 });
    expect(r.world.guests[0]!.processes.has(1)).toBe(false);
  });

  it('never kills a process at oom_score_adj -1000', () => {
    const r = scenario(machine({ ...TIGHT, 'swap.slots': 0 }), [spawn, op('oom.adj', { guest: 0, pid: 1, adj: -1000 }), populate(32), exhaust, op('oom.kill', { guest: 0 })]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[4]).toEqual({ ok: true, value: 0 });
  });

  it('refuses oom.kill when no allocation is waiting for it', () => {
    expect(scenario(machine(BASE), [spawn, op('oom.kill', { guest: 0 })]).results[1]).toMatchObject({ ok: false, error: 'invalid' });
  });
});

describe('reclaim and OOM fault scenarios', () => {
  it('reclaim-skips-writeback: reclaim frees a dirty page unwritten', () => {
    const steps = [op('file.write', { guest: 0, file: 4, index: 0 }), op('reclaim.shrink', { guest: 0, pages: 64 })];
    const bad = kinds(scenario(machine(BASE, ['reclaim-skips-writeback']), steps));
    expect(bad).toContain('reclaim-never-drops-dirty|dropped-dirty-file-page');
    expect(bad).toContain('dirty-page-never-dropped|dropped-dirty-page');
    expect(kinds(scenario(machine(BASE), steps))).toEqual([]);
  });

  it('reclaim-unmap-no-flush: a TLB entry survives the unmap of a page reclaim freed', () => {
    const steps = [spawn, op('file.mmap', { guest: 0, pid: 1, file: 4, pgoff: 0, vpn: F, pages: 1, write: false }), op('guest.read', { guest: 0, pid: 1, vpn: F }), op('reclaim.shrink', { guest: 0, pages: 64 })];
    const bad = kinds(scenario(machine(BASE, ['reclaim-unmap-no-flush']), steps));
    expect(bad).toContain('reclaim-unmaps-first|tlb-not-flushed');
    expect(bad).toContain('tlb-coherence|stale-entry');
    expect(kinds(scenario(machine(BASE), steps))).toEqual([]);
  });

  it('shrink-skips-dirty: shrink_all_memory stops with dirty pages left', () => {
    const steps = [op('file.write', { guest: 0, file: 4, index: 0 }), op('reclaim.shrink', { guest: 0, pages: 64 })];
    expect(kinds(scenario(machine(BASE, ['shrink-skips-dirty']), steps))).toEqual(['reclaim-makes-progress|stopped-with-reclaimable']);
    expect(kinds(scenario(machine(BASE), steps))).toEqual([]);
  });

  it('shrink-skips-dirty: after the settle phase reclaimable memory is left', () => {
    const steps = [op('file.write', { guest: 0, file: 4, index: 0 })];
    expect(kinds(scenario(machine(BASE, ['shrink-skips-dirty']), steps, true))).toEqual(['reclaim-makes-progress|no-progress-at-settle']);
    expect(kinds(scenario(machine(BASE), steps, true))).toEqual([]);
  });

  it('reclaim-ignores-anon-lru: no progress reported with swappable pages, and the OOM killer fires', () => {
    const shrink = [spawn, populate(4), op('reclaim.shrink', { guest: 0, pages: 64 })];
    expect(kinds(scenario(machine(BASE, ['reclaim-ignores-anon-lru']), shrink))).toEqual(['reclaim-makes-progress|stopped-with-reclaimable']);
    expect(kinds(scenario(machine(BASE), shrink))).toEqual([]);
    const oom = [spawn, populate(64), exhaust, op('oom.kill', { guest: 0 })];
    expect(kinds(scenario(machine(TIGHT, ['reclaim-ignores-anon-lru']), oom))).toContain('oom-kill-justified|killed-with-reclaimable');
    expect(kinds(scenario(machine(TIGHT), oom))).toEqual([]);
  });

  it('kswapd-stops-at-low: kswapd sleeps below the high watermark with reclaimable memory left', () => {
    const steps = [spawn, populate(192), belowLow, op('reclaim.kswapd', { guest: 0 })];
    expect(kinds(scenario(machine(TIGHT, ['kswapd-stops-at-low']), steps))).toEqual(['kswapd-watermarks|stopped-below-high']);
    expect(kinds(scenario(machine(TIGHT), steps))).toEqual([]);
  });

  it('oom-skips-notifiers: a kill while CMM still holds pages it would give back', () => {
    const steps = [op('cmm.alloc', { guest: 0, pages: 64 }), spawn, exhaust, op('oom.kill', { guest: 0 })];
    const bad = kinds(scenario(machine({ ...TIGHT, 'swap.slots': 0 }, ['oom-skips-notifiers']), steps));
    expect(bad).toContain('oom-kill-justified|skipped-notifiers');
    expect(bad).toContain('oom-kill-justified|killed-while-notifier-holds-memory');
    expect(kinds(scenario(machine({ ...TIGHT, 'swap.slots': 0 }), steps))).toEqual([]);
  });

  it('oom-skips-notifiers: a kill while a DEFLATE_ON_OOM balloon still holds pages; with the notifier the balloon gives them back and nobody dies', () => {
    const options = { ...TIGHT, 'swap.slots': 0, 'virtio-balloon.features': 1 << 2 };
    const inflated = [op('vballoon.host.target', { guest: 0, pages: 10 }), op('vballoon.fill', { guest: 0 }), op('vballoon.ack', { guest: 0, queue: 'inflate', discard: true })];
    const steps = [...inflated, spawn, populate(8), exhaust, op('oom.kill', { guest: 0 })];
    const bad = kinds(scenario(machine(options, ['oom-skips-notifiers']), steps));
    expect(bad).toContain('oom-kill-justified|killed-while-balloon-deflatable');
    expect(kinds(scenario(machine(options), steps, true))).toEqual([]);
    const good = scenario(machine(options), steps);
    // The hog's allocation ran out, the notifier deflated the balloon, the allocation succeeded:
    // no allocation is left waiting for the OOM killer.
    expect(good.results[5]).toMatchObject({ ok: true });
    expect(good.results[6]).toMatchObject({ ok: false, error: 'invalid' });
    expect(good.world.guests[0]!.processes.has(1)).toBe(true);
  });

  it('oom-kills-unkillable: the OOM killer picks a process at -1000', () => {
    const steps = [spawn, op('oom.adj', { guest: 0, pid: 1, adj: -1000 }), populate(32), exhaust, op('oom.kill', { guest: 0 })];
    expect(kinds(scenario(machine({ ...TIGHT, 'swap.slots': 0 }, ['oom-kills-unkillable']), steps))).toEqual(['oom-never-kills-unkillable|killed-unkillable']);
    expect(kinds(scenario(machine({ ...TIGHT, 'swap.slots': 0 }), steps))).toEqual([]);
  });
});
