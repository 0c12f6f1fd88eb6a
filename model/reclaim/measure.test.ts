/**
 * What reclaim could free (zone_reclaimable_pages as the OOM decision reads it): file pages not
 * under writeback, and 4 KiB anonymous pages of 4 KiB VMAs as far as free swap slots go.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { reclaimablePages, swappableAnon } from './measure';

const V = 1 << 24;
const BASE = { 'swap.slots': 256, 'frontswap.enabled': false, 'cleancache.enabled': false, 'unmapped-page-control.limit': -1, 'page-cache.cacheModes': 'none' };

test('a file page under writeback is not reclaimable until its write completes', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  expect(s.apply('file.write', { guest: 0, file: 4, index: 0 })).toMatchObject({ ok: true });
  expect(s.apply('file.read', { guest: 0, file: 4, index: 1 })).toMatchObject({ ok: true });
  expect(reclaimablePages(s.world, g)).toEqual({ file: 2, anon: 0, total: 2 });
  expect(s.apply('file.writeback', { guest: 0, file: 4, index: 0 })).toEqual({ ok: true });
  expect(reclaimablePages(s.world, g)).toEqual({ file: 1, anon: 0, total: 1 });
  expect(s.apply('io.complete', { guest: 0 })).toMatchObject({ ok: true });
  expect(reclaimablePages(s.world, g)).toEqual({ file: 2, anon: 0, total: 2 });
});

test('anonymous pages are reclaimable as far as free swap slots go, and each is listed where it is mapped', () => {
  const s = stepper(machine({ ...BASE, 'swap.slots': 2 }));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 5 })).toEqual({ ok: true, value: 5 });
  expect(swappableAnon(g).map((a) => [a.pid, a.vpn, g.owners.get(a.gfn)?.kind])).toEqual([0, 1, 2, 3, 4].map((i) => [1, V + i, 'anon']));
  expect(reclaimablePages(s.world, g)).toEqual({ file: 0, anon: 2, total: 2 });
  expect(s.apply('swap.out', { guest: 0, pid: 1, vpn: V })).toMatchObject({ ok: true });
  expect(swappableAnon(g).length).toBe(4);
  expect(reclaimablePages(s.world, g)).toEqual({ file: 0, anon: 1, total: 1 });
});

test('4 KiB pages of a huge VMA (a THP fault that fell back) are not swappable', () => {
  const s = stepper(machine({ ...BASE, 'swap.slots': 0 }, [], 1, true));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.hog', { guest: 0, pages: g.buddy.freePages() - 100 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 512 * 64, pages: 512, write: true, exec: false, huge: true })).toEqual({ ok: true });
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 512 * 64 })).toMatchObject({ ok: true });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 1 })).toEqual({ ok: true, value: 1 });
  expect(s.world.transitions.get('nested-mmu')?.get('unmapped->mapped-4k')).toBe(2);
  expect(swappableAnon(g).map((a) => a.vpn)).toEqual([V]);
});
