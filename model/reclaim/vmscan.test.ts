/**
 * The LRU rules of one shrink (mm/vmscan.c shrink_node, folio_check_references): the second
 * chance a referenced page gets in round 0 only, and the count asked for as a hard limit.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { lookupPage } from '../pagecache/cache';
import { guestSwapOf, pteKey } from '../swap/guest-swap';
import { compactionState } from '../compaction/state';
import { reclaimOf } from './state';

const V = 1 << 24;
const F = 1 << 22;
const BASE = { 'swap.slots': 256, 'frontswap.enabled': false, 'cleancache.enabled': false, 'unmapped-page-control.limit': -1, 'page-cache.cacheModes': 'none' };

test('an anonymous page used since the last look gets a second chance: a newer unused page goes first', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 3 })).toEqual({ ok: true, value: 3 });
  // Every page was touched by populate: all get their chance, then the oldest goes, and the
  // accessed bits of the others are cleared.
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 1 });
  expect(reclaimOf(g).log.map((r) => r.kind === 'anon' && r.vpn)).toEqual([V]);
  // A write (the first: populate only read) walks the page tables and sets the accessed bit
  // again; a read could hit the TLB, which ptep_clear_young does not flush.
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 1 })).toMatchObject({ ok: true });
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 1 });
  expect(s.broke()).toEqual([]);
  expect(reclaimOf(g).log.map((r) => r.kind === 'anon' && r.vpn)).toEqual([V + 2]);
  const swapped = guestSwapOf(s.world, g).ptes;
  expect(swapped.has(pteKey(1, V + 1))).toBe(false);
  expect(swapped.has(pteKey(1, V + 2))).toBe(true);
});

test('shrink takes exactly the pages asked for from the anonymous list', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 5 })).toEqual({ ok: true, value: 5 });
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 2 })).toEqual({ ok: true, value: 2 });
  expect(s.broke()).toEqual([]);
  expect(reclaimOf(g).log.map((r) => r.kind === 'anon' && r.vpn)).toEqual([V, V + 1]);
  expect(guestSwapOf(s.world, g).ptes.size).toBe(2);
});

test('priority 0 ignores references: a page active before the shrink and used through its mapping is still reclaimed by shrink_all_memory', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  // Two reads make the page active (mark_page_accessed), then a mapping uses it.
  expect(s.apply('file.read', { guest: 0, file: 5, index: 0 })).toMatchObject({ ok: true });
  expect(s.apply('file.read', { guest: 0, file: 5, index: 0 })).toMatchObject({ ok: true });
  expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 5, pgoff: 0, vpn: F, pages: 1, write: false })).toEqual({ ok: true });
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: F })).toEqual({ ok: true });
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 1 });
  expect(s.broke()).toEqual([]);
  expect(lookupPage(g, 5, 0)).toBeUndefined();
});

test('with no free swap slot the anonymous list is not scanned: used pages are neither activated nor aged, and keep their accessed bits', () => {
  const s = stepper(machine({ ...BASE, 'swap.slots': 1 }));
  const g = s.world.guests[0]!;
  const aged = (): number => s.world.transitions.get('reclaim')?.get('active->inactive') ?? 0;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 3 })).toEqual({ ok: true, value: 3 });
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 1 });
  expect(aged()).toBe(1);
  expect(guestSwapOf(s.world, g).device!.capacity).toBe(1);
  // The swap device is full; the two pages left are used again (writes walk the tables).
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 1 })).toMatchObject({ ok: true });
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 2 })).toMatchObject({ ok: true });
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 0 });
  expect(s.broke()).toEqual([]);
  expect(aged()).toBe(1);
  expect(reclaimOf(g).activeAnon.size).toBe(0);
  // A later shrink with a slot free again still sees both pages as used: round 0 activates them.
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toMatchObject({ ok: true }); // swap-in frees the slot
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 1 });
  expect(aged()).toBe(2);
});

test('pages nobody used since the last look are taken in round 0: nothing is activated, so the active lists have nothing to age', () => {
  const s = stepper(machine(BASE));
  const aged = (): number => s.world.transitions.get('reclaim')?.get('active->inactive') ?? 0;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 3 })).toEqual({ ok: true, value: 3 });
  // The first shrink reads (and clears) every accessed bit: all three are activated once.
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 1 });
  expect(aged()).toBe(1);
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 1 });
  expect(aged()).toBe(1);
  // The oldest of the two left goes (the log is this step's).
  expect(reclaimOf(s.world.guests[0]!).log.map((r) => r.kind === 'anon' && r.vpn)).toEqual([V + 1]);
  expect(s.broke()).toEqual([]);
});

test('a file page read since the last look gets a second chance in round 0 (activated, so aged after the shrink)', () => {
  const s = stepper(machine(BASE));
  const aged = (): number => s.world.transitions.get('reclaim')?.get('active->inactive') ?? 0;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('file.read', { guest: 0, file: 5, index: 0 })).toMatchObject({ ok: true });
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 1 })).toEqual({ ok: true, value: 1 });
  expect(aged()).toBe(1);
  expect(s.broke()).toEqual([]);
});

/** The host migrates the level-1 table mapping vpn of pid 1 (stepped to 'unmapped'). */
function hostMigratesTableOf(s: ReturnType<typeof stepper>, vpn: number): void {
  const g = s.world.guests[0]!;
  const t = [...g.tables.entries()].find(([, x]) => x.pid === 1 && x.level === 1 && x.vpnBase <= vpn && vpn < x.vpnBase + 512)![0];
  s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: t });
  const id = [...compactionState(s.world).active.values()].find((m) => m.side === 'host')!.id;
  s.apply('compaction.migrate.step', { id });
  expect(compactionState(s.world).active.get(id)?.stage).toBe('unmapped');
}

test('a page table the host is migrating blocks reclaim of what it maps: a mapped file page is kept and the shrink records that it was blocked', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 5, pgoff: 0, vpn: F, pages: 1, write: false })).toEqual({ ok: true });
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: F })).toEqual({ ok: true });
  hostMigratesTableOf(s, F);
  expect(reclaimOf(g).blockedStep).toBe(-1);
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 0 });
  expect(reclaimOf(g).blockedStep).toBe(s.world.step);
  expect(lookupPage(g, 5, 0)).toBeDefined();
});

test('a page table the host is migrating blocks reclaim of what it maps: its anonymous pages are neither activated nor swapped, and the shrink records that it was blocked', () => {
  const s = stepper(machine(BASE));
  const g = s.world.guests[0]!;
  const aged = (): number => s.world.transitions.get('reclaim')?.get('active->inactive') ?? 0;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: V, pages: 2 })).toEqual({ ok: true, value: 2 });
  hostMigratesTableOf(s, V);
  expect(s.apply('reclaim.shrink', { guest: 0, pages: 64 })).toEqual({ ok: true, value: 0 });
  expect(reclaimOf(g).blockedStep).toBe(s.world.step);
  expect(aged()).toBe(0);
  expect(guestSwapOf(s.world, g).ptes.size).toBe(0);
});
