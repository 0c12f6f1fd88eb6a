/**
 * The page cache's own rules (cache.ts), one by one: mark_page_accessed's two touches
 * (mm/swap.c: an inactive page is marked referenced on the first, activated on the second);
 * the page's dirtiness as PG_dirty or the dirty bit of a PTE mapping it; removing a page that is
 * no longer the cached one changes nothing; and a page the host cannot back is given back.
 */
import { exhaustHost, pageCacheStepper, type Stepper } from '../../fuzz/testing/scenario';
import { PTE_DIRTY } from '../constants';
import { findSlot, writeEntry } from '../guest/page-tables';
import { dropPage, isDirty, isMapped, lookupPage, markAccessed, reclaimFilePage, removePage, unmapPage } from './cache';
import { ccGetPage } from '../tmem/cleancache';
import { diskPeek } from './disk';
import { pageKey } from './layout';
import { cacheOf } from './state';

const V = 1 << 22;

function started(): Stepper {
  const s = pageCacheStepper();
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  return s;
}

test('mark_page_accessed: the first touch marks an inactive page referenced, the second activates it, and an active page stays active', () => {
  const s = started();
  const g = s.world.guests[0]!;
  expect(s.apply('file.write', { guest: 0, file: 1, index: 2 }).ok).toBe(true);
  const c = cacheOf(g);
  const key = pageKey(1, 2);
  const page = lookupPage(g, 1, 2)!;
  c.referenced.delete(key);
  c.active.delete(key);
  markAccessed(g, page);
  expect([c.referenced.has(key), c.active.has(key)]).toEqual([true, false]);
  markAccessed(g, page);
  expect([c.referenced.has(key), c.active.has(key)]).toEqual([false, true]);
  markAccessed(g, page);
  expect([c.referenced.has(key), c.active.has(key)]).toEqual([false, true]);
});

test('isDirty: PG_dirty, or a PTE mapping the page with its dirty bit set; a clean page mapped by clean PTEs is clean', () => {
  const s = started();
  const g = s.world.guests[0]!;
  const p = g.processes.get(1)!;
  expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V, pages: 2, write: true }).ok).toBe(true);
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V }).ok).toBe(true);
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 1 }).ok).toBe(true);
  const page = lookupPage(g, 0, 0)!;
  expect(page.dirty).toBe(false);
  expect(isDirty(s.world, g, page)).toBe(false);
  // A write through the second page's mapping dirties only that page's PTE.
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 1 }).ok).toBe(true);
  expect(isDirty(s.world, g, page)).toBe(false);
  expect(isDirty(s.world, g, lookupPage(g, 0, 1)!)).toBe(true);
  // The dirty bit set on the first page's PTE (as the hardware would), then PG_dirty alone.
  const slot = findSlot(s.world, g, p, V, 1);
  if (slot === null || 'ok' in slot || !slot.entry) throw new Error('no PTE at V');
  writeEntry(s.world, g, 1, slot.tableGfn, slot.table, slot.index, { ...slot.entry, flags: slot.entry.flags | PTE_DIRTY });
  expect(isDirty(s.world, g, page)).toBe(true);
  writeEntry(s.world, g, 1, slot.tableGfn, slot.table, slot.index, { ...slot.entry, flags: slot.entry.flags & ~PTE_DIRTY });
  page.dirty = true;
  expect(isDirty(s.world, g, page)).toBe(true);
});

test('removePage of a page that is no longer the cached one (removed, its index cached again) changes nothing', () => {
  const s = started();
  const g = s.world.guests[0]!;
  expect(s.apply('file.read', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  const old = lookupPage(g, 1, 0)!;
  removePage(s.world, g, old);
  expect(lookupPage(g, 1, 0)).toBeUndefined();
  expect(s.apply('file.read', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  const now = lookupPage(g, 1, 0)!;
  const owners = new Map(g.owners);
  const free = g.buddy.freePages();
  removePage(s.world, g, old);
  expect(lookupPage(g, 1, 0)).toBe(now);
  expect(cacheOf(g).byGfn.get(now.gfn)).toBe(now);
  expect(g.owners).toEqual(owners);
  expect(g.buddy.freePages()).toBe(free);
  expect(s.world.anomalies).toEqual([]);
});

test('a page the host cannot back: read(2) and write(2) are refused, the frame given back unowned, nothing cached', () => {
  const s = started();
  const g = s.world.guests[0]!;
  exhaustHost(s.r);
  const free = g.buddy.freePages();
  const owners = g.owners.size;
  expect(s.apply('file.read', { guest: 0, file: 1, index: 5 })).toEqual({ ok: false, error: 'host-oom' });
  expect(s.apply('file.write', { guest: 0, file: 1, index: 6 })).toEqual({ ok: false, error: 'host-oom' });
  expect([g.buddy.freePages(), g.owners.size]).toEqual([free, owners]);
  expect([lookupPage(g, 1, 5), lookupPage(g, 1, 6)]).toEqual([undefined, undefined]);
  expect(s.r.violation).toBeNull();
});

test('a rewrite of a clean page counts clean -> dirty once; a rewrite of a dirty page counts nothing', () => {
  const s = started();
  const dirtied = () => s.world.transitions.get('page-cache')?.get('clean->dirty') ?? 0;
  expect(s.apply('file.write', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  expect(dirtied()).toBe(0);
  expect(s.apply('file.fsync', { guest: 0, file: 1 }).ok).toBe(true);
  expect(s.apply('file.write', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  expect(dirtied()).toBe(1);
  expect(s.apply('file.write', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  expect(dirtied()).toBe(1);
});

test('writeback: a page already under writeback is refused as busy, a clean page as invalid; the page is clean and under writeback once begun', () => {
  const s = started();
  const g = s.world.guests[0]!;
  expect(s.apply('file.read', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  expect(s.apply('file.writeback', { guest: 0, file: 1, index: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(s.apply('file.write', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  expect(s.apply('file.writeback', { guest: 0, file: 1, index: 0 })).toEqual({ ok: true });
  expect(lookupPage(g, 1, 0)).toMatchObject({ dirty: false, writeback: true });
  expect(s.apply('file.writeback', { guest: 0, file: 1, index: 0 })).toEqual({ ok: false, error: 'busy' });
  expect(cacheOf(g).io.filter((r) => r.kind === 'writeback')).toHaveLength(1);
  expect(s.r.violation).toBeNull();
});

describe('shrink_folio_list for one page (reclaimFilePage)', () => {
  function mappedAndNot() {
    const s = started();
    const g = s.world.guests[0]!;
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V, pages: 1, write: true }).ok).toBe(true);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V }).ok).toBe(true);
    expect(s.apply('file.read', { guest: 0, file: 0, index: 1 }).ok).toBe(true);
    return { s, g, mapped: lookupPage(g, 0, 0)!, unmapped: lookupPage(g, 0, 1)! };
  }

  test('without may_unmap a mapped page is kept, still mapped and cached; an unmapped clean page is freed all the same', () => {
    const { s, g, mapped, unmapped } = mappedAndNot();
    const sc = { mayUnmap: false, mayWritepage: true };
    expect(reclaimFilePage(s.world, g, mapped, sc)).toBe('kept');
    expect(isMapped(g, mapped)).toBe(true);
    expect(lookupPage(g, 0, 0)).toBe(mapped);
    expect(reclaimFilePage(s.world, g, unmapped, sc)).toBe('freed');
    expect(lookupPage(g, 0, 1)).toBeUndefined();
  });

  test('try_to_unmap of a page mapped by a clean PTE leaves it clean: only a dirty PTE dirties the page', () => {
    const { s, g, mapped } = mappedAndNot();
    expect(unmapPage(s.world, g, mapped)).toBe(true);
    expect(isMapped(g, mapped)).toBe(false);
    expect(mapped.dirty).toBe(false);
  });
});

test('a cached page whose host frame was reclaimed, with the host out of frames: read(2) and write(2) are refused as host-oom', () => {
  const s = started();
  const g = s.world.guests[0]!;
  expect(s.apply('file.write', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  const gfn = lookupPage(g, 1, 0)!.gfn;
  expect(s.apply('host.reclaim.begin', { guest: 0, gfn }).ok).toBe(true);
  expect(s.apply('host.reclaim.end', { guest: 0 }).ok).toBe(true);
  expect(g.backing.has(gfn)).toBe(false);
  exhaustHost(s.r);
  const c = cacheOf(g);
  c.referenced.clear();
  c.active.clear();
  expect(s.apply('file.read', { guest: 0, file: 1, index: 0 })).toEqual({ ok: false, error: 'host-oom' });
  // The read that failed marks nothing accessed (folio_mark_accessed comes after the copy).
  expect([c.referenced.size, c.active.size]).toEqual([0, 0]);
  expect(s.apply('file.write', { guest: 0, file: 1, index: 0 })).toEqual({ ok: false, error: 'host-oom' });
  // The cached page stays as it was: in the cache, its frame allocated and owned by it.
  expect(lookupPage(g, 1, 0)?.gfn).toBe(gfn);
  expect(g.owners.get(gfn)).toEqual({ kind: 'page-cache', file: 1, index: 0 });
  expect(g.buddy.allocatedAt(gfn)).toBeTruthy();
  expect(s.r.violation).toBeNull();
});

test('dropPage offers only a clean page to cleancache (cleancache_put_page): a dirty page dropped leaves no copy there', () => {
  const s = pageCacheStepper({ 'cleancache.enabled': true });
  const g = s.world.guests[0]!;
  expect(s.apply('file.read', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  expect(s.apply('file.write', { guest: 0, file: 1, index: 1 }).ok).toBe(true);
  const clean = lookupPage(g, 1, 0)!;
  const dirty = lookupPage(g, 1, 1)!;
  expect([clean.dirty, dirty.dirty]).toEqual([false, true]);
  dropPage(s.world, g, clean);
  dropPage(s.world, g, dirty);
  expect([lookupPage(g, 1, 0), lookupPage(g, 1, 1)]).toEqual([undefined, undefined]);
  expect(ccGetPage(s.world, g, 1, 0)).toBeDefined();
  expect(ccGetPage(s.world, g, 1, 1)).toBeUndefined();
});

test('page_mkclean moves only a dirty PTE to the page: writeback of a page mapped by a clean PTE is refused as clean, and the PTE is left as it was', () => {
  const s = started();
  const g = s.world.guests[0]!;
  const p = g.processes.get(1)!;
  expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V, pages: 1, write: true }).ok).toBe(true);
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V }).ok).toBe(true);
  const before = findSlot(s.world, g, p, V, 1);
  expect(s.apply('file.writeback', { guest: 0, file: 0, index: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(lookupPage(g, 0, 0)?.dirty).toBe(false);
  expect(findSlot(s.world, g, p, V, 1)).toEqual(before);
});

test("a full-page write(2) of a page not in the cache drops cleancache's copy of it, which is stale from then on", () => {
  const s = pageCacheStepper({ 'cleancache.enabled': true });
  const g = s.world.guests[0]!;
  expect(s.apply('file.read', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  dropPage(s.world, g, lookupPage(g, 1, 0)!);
  expect(s.apply('file.write', { guest: 0, file: 1, index: 0 }).ok).toBe(true);
  dropPage(s.world, g, lookupPage(g, 1, 0)!);
  // The dirty page was dropped without a put: had the write not dropped the old copy, it would be there.
  expect(ccGetPage(s.world, g, 1, 0)).toBeUndefined();
});

test('under the injected reclaim-skips-writeback a dirty page is dropped as if clean: offered to cleancache with its last write, which the disk never gets', () => {
  const s = pageCacheStepper({ 'cleancache.enabled': true, 'page-cache.cacheModes': 'none' }, ['reclaim-skips-writeback']);
  const g = s.world.guests[0]!;
  const w = s.apply('file.write', { guest: 0, file: 1, index: 0 });
  expect(w.ok).toBe(true);
  expect(s.apply('file.evict', { guest: 0, file: 1, index: 0 })).toEqual({ ok: true });
  expect(lookupPage(g, 1, 0)).toBeUndefined();
  expect(ccGetPage(s.world, g, 1, 0)).toEqual({ kind: 'data', writer: 0, version: w.value });
  expect(diskPeek(s.world, 0, 0, 16)).not.toEqual({ kind: 'data', writer: 0, version: w.value });
});
