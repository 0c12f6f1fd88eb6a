/**
 * Memory hogs (unreclaimable kernel allocations in bulk) and the boot option that leaves the
 * top pageblocks offline; CMM's allocations and its OOM notifier (arch/s390/mm/cmm.c).
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { PAGEBLOCK_FRAMES } from '../constants';
import { CMM_OOM_PAGES, cmmPages } from './cmm';
import { hogsOf } from './hog';

const BASE = { 'swap.slots': 0, 'frontswap.enabled': false, 'cleancache.enabled': false, 'unmapped-page-control.limit': -1, 'page-cache.cacheModes': 'none' };

test('a hog takes 8-page (order-3) blocks while 8 or more pages are left to take, single pages for the rest; unhog gives every page back', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  const free = g.buddy.freePages();
  expect(s.apply('mm.hog', { guest: 0, pages: 8 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.hog', { guest: 0, pages: 19 })).toEqual({ ok: true, value: 2 });
  const h = hogsOf(g).held;
  expect(h.get(1)!.blocks.map(([, order]) => order)).toEqual([3]);
  expect(h.get(2)!.blocks.map(([, order]) => order)).toEqual([3, 3, 0, 0, 0]);
  expect(h.get(2)!.pages.length).toBe(19);
  expect(g.buddy.freePages()).toBe(free - 27);
  expect([...h.get(2)!.pages].every((gfn) => g.owners.get(gfn)?.kind === 'hog')).toBe(true);
  expect(s.apply('mm.unhog', { guest: 0, hog: 2 })).toEqual({ ok: true, value: 19 });
  expect(s.apply('mm.unhog', { guest: 0, hog: 2 })).toEqual({ ok: false, error: 'no-such-allocation' });
  expect(g.buddy.freePages()).toBe(free - 8);
  expect([...h.keys()]).toEqual([1]);
  expect(s.broke()).toEqual([]);
});

test('a hog that gets nothing takes no id; the next one that gets pages takes the next id', () => {
  const s = stepper(machine({ ...BASE, 'reclaim.bootOfflinePercent': 90 }));
  const g = s.world.guests[0]!;
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.hog', { guest: 0, pages: 4 })).toEqual({ ok: true, value: 0 });
  expect([...hogsOf(g).held.keys()]).toEqual([1]);
  expect(s.apply('mm.unhog', { guest: 0, hog: 1 })).toMatchObject({ ok: true });
  expect(s.apply('mm.hog', { guest: 0, pages: 4 })).toEqual({ ok: true, value: 2 });
  expect(s.apply('mm.hog', { guest: 0, pages: 4 })).toEqual({ ok: true, value: 3 });
});

test('reclaim.bootOfflinePercent isolates the highest pageblocks, and always leaves at least one online', () => {
  const blocks = 4096 / PAGEBLOCK_FRAMES;
  const isolated = (percent: number): boolean[] => {
    const g = stepper(machine({ ...BASE, 'reclaim.bootOfflinePercent': percent })).world.guests[0]!;
    return Array.from({ length: blocks }, (_, i) => g.buddy.migratetypeOf(i * PAGEBLOCK_FRAMES) === 'ISOLATE');
  };
  expect(isolated(0)).toEqual(Array(blocks).fill(false));
  expect(isolated(50)).toEqual([false, false, false, false, true, true, true, true]);
  expect(isolated(40)).toEqual([false, false, false, false, false, true, true, true]); // 3.2 blocks: 3
  expect(isolated(100)).toEqual([false, true, true, true, true, true, true, true]);
});

test('CMM takes what it asks for while pages are free, gives back the most recent first, and its notifier frees at most 256', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  const free = g.buddy.freePages();
  expect(s.apply('cmm.free', { guest: 0, pages: 4 })).toEqual({ ok: true, value: 0 });
  expect(s.world.transitions.get('oom')?.get('cmm->guest')).toBeUndefined();
  expect(s.apply('cmm.alloc', { guest: 0, pages: 300 })).toEqual({ ok: true, value: 300 });
  const taken = [...cmmPages(g)];
  expect(s.apply('cmm.free', { guest: 0, pages: 2 })).toEqual({ ok: true, value: 2 });
  expect(cmmPages(g)).toEqual(taken.slice(0, 298));
  expect(taken.slice(298).every((gfn) => !g.owners.has(gfn))).toBe(true);
  expect(g.oomNotifiers.map((n) => n(s.world, g))).toContain(CMM_OOM_PAGES);
  expect(cmmPages(g)).toEqual(taken.slice(0, 298 - CMM_OOM_PAGES));
  expect(g.buddy.freePages()).toBe(free - (298 - CMM_OOM_PAGES));
  expect(s.apply('cmm.free', { guest: 0, pages: 100 })).toEqual({ ok: true, value: 298 - CMM_OOM_PAGES });
  expect(s.world.transitions.get('oom')?.get('cmm->guest')).toBe(3); // two frees and the notifier
});

test('CMM stops at the first page it cannot get, and an alloc that gets nothing records nothing', () => {
  const s = stepper(machine({ ...BASE, 'reclaim.bootOfflinePercent': 90 }));
  const g = s.world.guests[0]!;
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() - 5 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('cmm.alloc', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 5 });
  expect(s.world.transitions.get('oom')?.get('guest->cmm')).toBe(1);
  expect(s.apply('cmm.alloc', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 0 });
  expect(s.world.transitions.get('oom')?.get('guest->cmm')).toBe(1);
  expect(cmmPages(g).length).toBe(5);
});
