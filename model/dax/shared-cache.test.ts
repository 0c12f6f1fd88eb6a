/**
 * The shared page cache: one host frame mapped into several guests' DAX windows, private
 * copies on write without the writable grant, revocation, host eviction; and the scenario of
 * every injected fault of shared-page-cache.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import { daxWorld, recountSavings, sharedKey, windowGfn } from './shared-cache';

const V = 1 << 23;
const RO = { 'shared-page-cache.grants': 'ro', 'cleancache.enabled': false, 'frontswap.enabled': false };
const spawn = (guest: number) => op('guest.spawn', { guest });
const mapDax = (guest: number, write = false) => op('dax.mmap', { guest, pid: 1, file: 0, vpn: V, write });
const read = (guest: number, i = 0) => op('guest.read', { guest, pid: 1, vpn: V + i });

describe('shared page cache behaviour', () => {
  it('a write through a read-only mapping of the window is refused (SEGV) and leaves the shared frame in place', () => {
    const r = scenario(machine(RO), [spawn(0), mapDax(0), read(0), op('guest.write', { guest: 0, pid: 1, vpn: V }), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results.slice(1).map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'ok', 'segv', 'ok']);
    const g = r.world.guests[0]!;
    expect(r.world.frames.owner(g.backing.get(windowGfn(g, 0, 0))!)?.kind).toBe('shared-page-cache');
  });

  it('a grant made writable after a read: the next write goes to the shared frame itself (no private copy)', () => {
    const r = scenario(machine(RO), [spawn(0), mapDax(0, true), read(0), op('dax.grant', { guest: 0, file: 0, write: true }), op('guest.write', { guest: 0, pid: 1, vpn: V }), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results.slice(1).map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    const g = r.world.guests[0]!;
    const frame = g.backing.get(windowGfn(g, 0, 0))!;
    expect(r.world.frames.owner(frame)?.kind).toBe('shared-page-cache');
    expect(daxWorld(r.world).cache.get(sharedKey(0, 0))!.hfn).toBe(frame);
  });

  it('two guests reading a shared page map one host frame: one frame saved', () => {
    const r = scenario(machine(RO, [], 2), [op('dax.host.write', { file: 0, index: 0 }), spawn(0), spawn(1), mapDax(0), mapDax(1), read(0), read(1)]);
    expect(kinds(r)).toEqual([]);
    const w = r.world;
    const frame = daxWorld(w).cache.get(sharedKey(0, 0))!.hfn;
    expect(w.guests.map((g) => g.backing.get(windowGfn(g, 0, 0)))).toEqual([frame, frame]);
    expect(daxWorld(w).savings).toBe(1);
    expect(recountSavings(w)).toBe(1);
    const v = (r.results[0] as { value: number }).value;
    expect(w.frames.read(frame)).toEqual({ kind: 'data', writer: -1, version: v });
  });

  it('a write without the writable grant goes to a private copy the other guest never sees', () => {
    const r = scenario(machine(RO, [], 2), [spawn(0), spawn(1), mapDax(0, true), mapDax(1), op('guest.write', { guest: 0, pid: 1, vpn: V }), read(1), read(0)]);
    expect(kinds(r)).toEqual([]);
    const [g0, g1] = r.world.guests;
    expect(r.world.frames.owner(g0!.backing.get(windowGfn(g0!, 0, 0))!)?.kind).toBe('dax-private');
    expect(r.world.frames.owner(g1!.backing.get(windowGfn(g1!, 0, 0))!)?.kind).toBe('shared-page-cache');
  });

  it('after revocation an access fails with SIGBUS', () => {
    const r = scenario(machine(RO), [spawn(0), mapDax(0), read(0), op('dax.revoke', { guest: 0, file: 0 }), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[4]).toMatchObject({ ok: false, error: 'sigbus' });
  });

  it('the host evicts a shared page only after unmapping it from every guest', () => {
    const r = scenario(machine(RO, [], 2), [spawn(0), spawn(1), mapDax(0), mapDax(1), read(0), read(1), op('dax.host.evict', { file: 0, index: 0 }), read(1)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[6]).toEqual({ ok: true });
    expect(daxWorld(r.world).savings).toBe(0);
  });
});

describe('shared-page-cache fault scenarios', () => {
  it('dax-evict-while-mapped: the guest keeps an EPT leaf to a freed frame', () => {
    const steps = [spawn(0), mapDax(0), read(0), op('dax.host.evict', { file: 0, index: 0 })];
    const bad = kinds(scenario(machine(RO, ['dax-evict-while-mapped']), steps));
    expect(bad).toContain('dax-only-granted-pages|ept-maps-wrong-frame');
    expect(bad).toContain('ept-coherence|ept-to-foreign-frame');
    expect(kinds(scenario(machine(RO), steps))).toEqual([]);
  });

  it('dax-revoke-skips-tlb-flush: a translation survives revocation and the next access succeeds', () => {
    const steps = [spawn(0), mapDax(0), read(0), op('dax.revoke', { guest: 0, file: 0 }), read(0)];
    const bad = kinds(scenario(machine(RO, ['dax-revoke-skips-tlb-flush']), steps));
    expect(bad).toContain('dax-revocation-complete|translation-survives-revoke');
    expect(bad).toContain('dax-revocation-complete|access-after-revoke');
    expect(bad).toContain('tlb-coherence|stale-entry');
    expect(kinds(scenario(machine(RO), steps))).toEqual([]);
  });

  it('dax-ro-write-hits-shared: a read-only guest writes the shared frame, the other guest reads it', () => {
    const steps = [spawn(0), spawn(1), mapDax(0, true), mapDax(1), read(1), op('guest.write', { guest: 0, pid: 1, vpn: V }), read(1)];
    const bad = kinds(scenario(machine(RO, ['dax-ro-write-hits-shared'], 2), steps));
    expect(bad).toContain('dax-only-granted-pages|writable-without-grant');
    expect(bad).toContain('dax-private-isolation|private-write-in-shared-page');
    expect(bad).toContain('dax-private-isolation|saw-private-write');
    expect(kinds(scenario(machine(RO, [], 2), steps))).toEqual([]);
  });

  it('dax-savings-miscount: the first mapper is counted as a saved copy', () => {
    const steps = [spawn(0), mapDax(0), read(0)];
    expect(kinds(scenario(machine(RO, ['dax-savings-miscount']), steps))).toEqual(['shared-savings-exact|savings-miscounted']);
    expect(kinds(scenario(machine(RO), steps))).toEqual([]);
  });

  it('an access to a file the guest was never given is refused (no grant at boot)', () => {
    const r = scenario(machine({ ...RO, 'shared-page-cache.grants': 'none' }), [spawn(0), mapDax(0), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[2]).toMatchObject({ ok: false, error: 'sigbus' });
  });
});
