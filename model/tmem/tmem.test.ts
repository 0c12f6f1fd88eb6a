/**
 * cleancache and frontswap on the tmem backend: the API's contract on small traces, the page
 * cache's use of cleancache, and the scenario of every injected fault of cleancache and
 * frontswap.
 */
import { kinds, machine, op, scenario, stepper } from '../../fuzz/testing/scenario';
import { poison } from '../content';
import { allPools } from './backend';
import { CC_MISS } from './cleancache';
import { FS_MISS, fsSwapInvalidateArea, fsSwapLoad, fsSwapPeek, fsSwapStore } from './frontswap';

const ON = { 'cleancache.enabled': true, 'frontswap.enabled': true, 'tmem.frames': 64, 'page-cache.cacheModes': 'none' };

/** The API private pool of a guest, and the shared one. */
function apiPool(config: ReturnType<typeof machine>, guest: number | 'shared'): number {
  const w = scenario(config, []).world;
  return allPools(w).find((p) => p.use === 'api' && p.kind === 'ephemeral' && (guest === 'shared' ? p.shared : p.owner === guest))!.id;
}

const put = (guest: number, pool: number, inode: number, index: number) => op('cleancache.put', { guest, pool, inode, index });
const get = (guest: number, pool: number, inode: number, index: number) => op('cleancache.get', { guest, pool, inode, index });

describe('cleancache', () => {
  it('put-put-get returns the second put; a private get is exclusive; a miss stays a miss', () => {
    const m = machine(ON);
    const p = apiPool(m, 0);
    const r = scenario(m, [put(0, p, 1, 0), put(0, p, 1, 0), get(0, p, 1, 0), get(0, p, 1, 0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[2]).toEqual({ ok: true, value: (r.results[1] as { value: number }).value });
    expect(r.results[3]).toEqual({ ok: true, value: CC_MISS });
  });

  it('a shared pool serves every guest, repeatedly; a private pool refuses other guests', () => {
    const m = machine(ON, [], 2);
    const shared = apiPool(m, 'shared');
    const r = scenario(m, [put(0, shared, 0, 0), get(1, shared, 0, 0), get(1, shared, 0, 0), get(1, apiPool(m, 0), 0, 0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[1]).toEqual(r.results[2]);
    expect(r.results[3]).toMatchObject({ ok: false, error: 'invalid' });
  });

  it('the page cache puts clean pages it drops and gets them back on the next read', () => {
    const r = scenario(machine(ON), [op('file.write', { guest: 0, file: 4, index: 0 }), op('file.fsync', { guest: 0, file: 4 }), op('file.evict', { guest: 0, file: 4, index: 0 }), op('file.read', { guest: 0, file: 4, index: 0 })]);
    expect(kinds(r)).toEqual([]);
    expect(r.world.transitions.get('cleancache')?.get('stored->got')).toBe(1);
  });

  it('a read that misses asks cleancache once; with cleancache off there is no pool to ask and nothing is counted', () => {
    const read = [op('file.read', { guest: 0, file: 4, index: 0 })];
    const on = scenario(machine(ON), read);
    const off = scenario(machine({ ...ON, 'cleancache.enabled': false }), read);
    expect([kinds(on), kinds(off)]).toEqual([[], []]);
    expect(on.world.transitions.get('cleancache')?.get('absent->missed')).toBe(1);
    expect(off.world.transitions.get('cleancache')?.get('absent->missed')).toBeUndefined();
  });

  it('cleancache-invalidate-inode-partial: a page of an invalidated inode comes back', () => {
    const m = machine(ON, ['cleancache-invalidate-inode-partial']);
    const p = apiPool(m, 0);
    const steps = [put(0, p, 1, 0), put(0, p, 1, 1), op('cleancache.invalidate', { guest: 0, pool: p, scope: 'inode', inode: 1, index: 0 }), get(0, p, 1, 1)];
    expect(kinds(scenario(m, steps))).toEqual(['cleancache-coherent|hit-after-miss']);
    expect(kinds(scenario(machine(ON), steps))).toEqual([]);
  });

  it('tmem-pool-id-unchecked: a guest reaches another guest\'s private pool', () => {
    const m = machine(ON, ['tmem-pool-id-unchecked'], 2);
    const p0 = apiPool(m, 0);
    const steps = [put(0, p0, 0, 0), get(1, p0, 0, 0)];
    const bad = kinds(scenario(m, steps));
    expect(bad).toContain('cleancache-private-isolation|foreign-pool-access');
    expect(bad).toContain('cleancache-private-isolation|foreign-private-page');
    expect(kinds(scenario(machine(ON, [], 2), steps))).toEqual([]);
  });
});

describe('frontswap', () => {
  const store = (offset: number, refused: boolean) => op('frontswap.store', { guest: 0, offset, refused });
  const load = (offset: number) => op('frontswap.load', { guest: 0, offset });

  it('a stored page loads back until invalidated; a refused store leaves nothing', () => {
    const r = scenario(machine(ON), [store(0, false), load(0), load(0), op('frontswap.invalidate', { guest: 0, offset: 0, area: false }), load(0), store(1, true), load(1)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[1]).toEqual(r.results[0]);
    expect(r.results[4]).toEqual({ ok: true, value: FS_MISS });
    expect(r.results[6]).toEqual({ ok: true, value: FS_MISS });
  });

  it('invalidating the area drops every offset; each outcome is counted as its transition', () => {
    const r = scenario(machine(ON), [store(0, false), store(1, false), store(2, true), op('frontswap.invalidate', { guest: 0, offset: 5, area: true }), load(0), load(1)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results.slice(4)).toEqual([{ ok: true, value: FS_MISS }, { ok: true, value: FS_MISS }]);
    expect(Object.fromEntries(r.world.transitions.get('frontswap') ?? [])).toEqual({ 'absent->stored': 2, 'absent->refused': 1, 'stored->invalidated': 1, 'absent->missed': 2 });
  });

  it("frontswap is on by default, with a swap pool and an API pool per guest; off, there are none, and the swap hooks count nothing", () => {
    const pools = (options: Record<string, boolean>) => allPools(scenario(machine({ 'cleancache.enabled': false, ...options }, [], 2), []).world).map((p) => [p.kind, p.use, p.owner].join(' '));
    expect(pools({})).toEqual(['persistent swap 0', 'persistent api 0', 'persistent swap 1', 'persistent api 1']);
    expect(pools({ 'frontswap.enabled': false })).toEqual([]);
    const s = stepper(machine({ 'cleancache.enabled': false, 'frontswap.enabled': false }));
    s.apply('guest.spawn', { guest: 0 });
    expect(fsSwapLoad(s.world, s.world.guests[0]!, 0)).toBeUndefined();
    expect(s.world.transitions.get('frontswap')).toBeUndefined();
  });

  it("the frontswap API's stores go to the guest's API pool, the swap path's to its swap pool", () => {
    const s = stepper(machine(ON));
    s.apply('guest.spawn', { guest: 0 });
    const g = s.world.guests[0]!;
    const held = () => Object.fromEntries(allPools(s.world).filter((p) => p.kind === 'persistent' && p.owner === 0).map((p) => [p.use, [...p.pages.keys()]]));
    expect(s.apply('frontswap.store', { guest: 0, offset: 3, refused: false }).ok).toBe(true);
    expect(held()).toEqual({ api: [3], swap: [] });
    expect(fsSwapStore(s.world, g, 5, poison(5))).toBe(true);
    expect(held()).toEqual({ api: [3], swap: [5] });
  });

  it("tmem pool ids are one space: a lookup by id reaches a guest's frontswap API pool for that guest only", () => {
    const m = machine(ON, [], 2);
    const fs0 = allPools(scenario(m, []).world).find((p) => p.kind === 'persistent' && p.use === 'api' && p.owner === 0)!.id;
    const r = scenario(m, [store(3, false), get(0, fs0, 0, 3), get(1, fs0, 0, 3)]);
    expect(r.results[1]).toMatchObject({ ok: true });
    expect(r.results[2]).toMatchObject({ ok: false, error: 'invalid' });
  });

  it('swapoff or a crash (invalidate_area of the swap type) drops every stored slot', () => {
    const s = stepper(machine(ON));
    s.apply('guest.spawn', { guest: 0 });
    const g = s.world.guests[0]!;
    expect([fsSwapStore(s.world, g, 3, poison(3)), fsSwapStore(s.world, g, 4, poison(4))]).toEqual([true, true]);
    fsSwapInvalidateArea(s.world, g);
    expect([fsSwapPeek(s.world, 0, 3), fsSwapPeek(s.world, 0, 4)]).toEqual([undefined, undefined]);
  });

  it('the host takes back ephemeral tmem pages only, never a stored frontswap page', () => {
    const r = scenario(machine(ON), [store(0, false), op('tmem.host.reclaim', { pages: 8 }), load(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[1]).toEqual({ ok: true, value: 0 });
  });

  it('frontswap-failed-dup-keeps-old: the old copy survives a failed duplicate store', () => {
    const steps = [store(0, false), store(0, true), load(0)];
    expect(kinds(scenario(machine(ON, ['frontswap-failed-dup-keeps-old']), steps))).toEqual(['frontswap-persistent|stale-load']);
    expect(kinds(scenario(machine(ON), steps))).toEqual([]);
  });

  it('tmem-host-reclaims-persistent: a stored page is gone', () => {
    const steps = [store(0, false), op('tmem.host.reclaim', { pages: 4 }), load(0)];
    expect(kinds(scenario(machine(ON, ['tmem-host-reclaims-persistent']), steps))).toEqual(['frontswap-persistent|lost-store']);
    expect(kinds(scenario(machine(ON), steps))).toEqual([]);
  });
});
