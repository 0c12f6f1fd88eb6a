/**
 * cleancache's front end (cleancache.ts) on the tmem backend: the pools a boot creates, the
 * page cache's hooks on a guest disk's private pool (keys by file on the disk and index), the
 * API's pool checks, results and scopes of invalidation, and the transitions each outcome
 * counts (Documentation/vm/cleancache.rst).
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { data } from '../content';
import type { Guest } from '../guest/guest';
import { FILES_PER_DISK } from '../pagecache/layout';
import type { World } from '../world';
import { allPools, objKey, tmemPeek, type Pool } from './backend';
import { CC_MISS, ccApiGet, ccApiInvalidate, ccApiPut, ccGetPage, ccInvalidateGuest, ccInvalidatePage, ccPeekPage, ccPutPage, diskPool } from './cleancache';

function world(guests = 2, options: Record<string, boolean | number | string> = {}): World {
  return stepper(machine({ 'frontswap.enabled': false, 'tmem.frames': 64, ...options }, [], guests)).world;
}

const counted = (w: World, t: string) => w.transitions.get('cleancache')?.get(t) ?? 0;
const apiPoolOf = (w: World, guest: number) => allPools(w).find((p) => p.use === 'api' && !p.shared && p.owner === guest)!;
const sharedPool = (w: World) => allPools(w).find((p) => p.use === 'api' && p.shared)!;
const shape = (p: Pool) => ({ kind: p.kind, shared: p.shared, owner: p.owner, use: p.use, disk: p.disk, members: [...p.members] });

test('on by default, a boot gives each guest a private pool per disk and a private API pool, and all guests one shared API pool', () => {
  const w = world(2, {});
  expect(allPools(w).map(shape)).toEqual([
    { kind: 'ephemeral', shared: false, owner: 0, use: 'disk', disk: 0, members: [0] },
    { kind: 'ephemeral', shared: false, owner: 0, use: 'disk', disk: 1, members: [0] },
    { kind: 'ephemeral', shared: false, owner: 0, use: 'api', disk: 0, members: [0] },
    { kind: 'ephemeral', shared: false, owner: 1, use: 'disk', disk: 0, members: [1] },
    { kind: 'ephemeral', shared: false, owner: 1, use: 'disk', disk: 1, members: [1] },
    { kind: 'ephemeral', shared: false, owner: 1, use: 'api', disk: 0, members: [1] },
    { kind: 'ephemeral', shared: true, owner: -1, use: 'api', disk: 0, members: [0, 1] },
  ]);
  expect(allPools(world(2, { 'cleancache.enabled': false }))).toEqual([]);
  // Off, the page cache finds no disk pool, whatever other pools the guest has (frontswap's).
  const off = world(1, { 'cleancache.enabled': false, 'frontswap.enabled': true });
  expect(allPools(off).length).toBeGreaterThan(0);
  expect(diskPool(off, 0, 0)).toBeUndefined();
  expect(ccPeekPage(off, 0, 0, 0)).toBeUndefined();
});

describe('the page cache hooks', () => {
  test("a page is kept in its own guest's pool of the file's disk, keyed by the file's place on that disk", () => {
    const w = world();
    const [g0, g1] = w.guests as [Guest, Guest];
    const file = FILES_PER_DISK + 2;
    ccPutPage(w, g1, file, 3, data(1, 7));
    expect(counted(w, 'absent->stored')).toBe(1);
    const pool = diskPool(w, 1, 1)!;
    expect(shape(pool)).toMatchObject({ owner: 1, use: 'disk', disk: 1 });
    expect([...pool.pages.keys()]).toEqual([objKey(2, 3)]);
    expect(ccPeekPage(w, 1, file, 3)).toEqual(data(1, 7));
    // Not in the other disk's pool, the other guest's, or under the same place on disk 0.
    expect(ccPeekPage(w, 1, 2, 3)).toBeUndefined();
    expect(ccPeekPage(w, 0, file, 3)).toBeUndefined();
    expect(ccGetPage(w, g0, file, 3)).toBeUndefined();
    expect(counted(w, 'absent->missed')).toBe(1);
    expect(ccGetPage(w, g1, file, 3)).toEqual(data(1, 7));
    expect(counted(w, 'stored->got')).toBe(1);
  });

  test('invalidating a page drops it; a crash drops only that guest\'s disk pools', () => {
    const w = world();
    const [g0, g1] = w.guests as [Guest, Guest];
    for (const g of [g0, g1]) for (const file of [0, FILES_PER_DISK]) ccPutPage(w, g, file, 0, data(g.id, file + 1));
    ccPutPage(w, g0, 1, 0, data(0, 9));
    ccInvalidatePage(w, g0, 1, 0);
    expect(ccPeekPage(w, 0, 1, 0)).toBeUndefined();
    expect(ccPeekPage(w, 0, 0, 0)).toEqual(data(0, 1));
    expect(ccApiPut(w, g0, apiPoolOf(w, 0).id, 0, 0).ok).toBe(true);
    ccInvalidateGuest(w, g0);
    expect([ccPeekPage(w, 0, 0, 0), ccPeekPage(w, 0, FILES_PER_DISK, 0)]).toEqual([undefined, undefined]);
    expect(apiPoolOf(w, 0).pages.size).toBe(1);
    expect([ccPeekPage(w, 1, 0, 0), ccPeekPage(w, 1, FILES_PER_DISK, 0)]).toEqual([data(1, 1), data(1, FILES_PER_DISK + 1)]);
  });
});

describe('the API', () => {
  test('only API pools can be named: a disk pool id is invalid, even the caller\'s own', () => {
    const w = world();
    const g0 = w.guests[0]!;
    expect(ccApiPut(w, g0, diskPool(w, 0, 0)!.id, 0, 0)).toMatchObject({ ok: false, error: 'invalid' });
    expect(ccApiGet(w, g0, diskPool(w, 0, 1)!.id, 0, 0)).toMatchObject({ ok: false, error: 'invalid' });
    expect(ccApiPut(w, g0, 99, 0, 0)).toMatchObject({ ok: false, error: 'invalid' });
  });

  test('a get returns the version put, or CC_MISS; each outcome is counted as its transition', () => {
    const w = world();
    const g0 = w.guests[0]!;
    const pool = apiPoolOf(w, 0).id;
    const put = ccApiPut(w, g0, pool, 1, 2);
    expect(put.ok && typeof put.value).toBe('number');
    expect(counted(w, 'absent->stored')).toBe(1);
    expect(ccApiGet(w, g0, pool, 1, 2)).toEqual(put);
    expect(counted(w, 'stored->got')).toBe(1);
    expect(ccApiGet(w, g0, pool, 1, 2)).toEqual({ ok: true, value: CC_MISS });
    expect(counted(w, 'absent->missed')).toBe(1);
  });

  test('invalidation by page, inode and fs drops exactly its keys; each is counted', () => {
    const w = world();
    const g0 = w.guests[0]!;
    const pool = sharedPool(w);
    for (const inode of [1, 2]) for (const index of [0, 1]) ccApiPut(w, g0, pool.id, inode, index);
    const keys = () => [...pool.pages.keys()].sort((a, b) => a - b);
    expect(ccApiInvalidate(w, g0, pool.id, 'page', 1, 1).ok).toBe(true);
    expect(keys()).toEqual([objKey(1, 0), objKey(2, 0), objKey(2, 1)]);
    expect(ccApiInvalidate(w, g0, pool.id, 'inode', 2, 0).ok).toBe(true);
    expect(keys()).toEqual([objKey(1, 0)]);
    expect(tmemPeek(w, pool, objKey(1, 0))).toBeDefined();
    expect(ccApiInvalidate(w, g0, pool.id, 'fs', 0, 0).ok).toBe(true);
    expect(keys()).toEqual([]);
    expect(counted(w, 'stored->invalidated')).toBe(3);
  });
});
