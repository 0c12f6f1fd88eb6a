/**
 * The shared page cache: one host frame mapped into several guests' DAX windows, private
 * copies on write without the writable grant, revocation, host eviction; and the scenario of
 * every injected fault of shared-page-cache.
 */
import { Runner } from '../../fuzz/run';
import { exhaustHost, kinds, machine, op, scenario, stepper } from '../../fuzz/testing/scenario';
import { EPT_EXEC, EPT_READ, EPT_RWX, FRAMES_PER_1G, MAX_PAGE_ORDER, PTE_USER } from '../constants';
import { data, HOST_DOMAIN, ZERO } from '../content';
import { peekLeaf } from '../mmu/peek';
import type { Guest } from '../guest/guest';
import { leafMayMap } from '../guest/leaf';
import { gigaRegionGfn } from '../memctl/memctl';
import type { OpResult } from '../result';
import type { World } from '../world';
import { DAX_OBJECT, daxTeardown, daxWorld, grantOf, recountSavings, sharedCacheHolds, sharedKey, windowFrameOk, windowGfn, windowPage } from './shared-cache';

const V = 1 << 23;
const RO = { 'shared-page-cache.grants': 'ro', 'cleancache.enabled': false, 'frontswap.enabled': false };
const spawn = (guest: number) => op('guest.spawn', { guest });
const mapDax = (guest: number, write = false) => op('dax.mmap', { guest, pid: 1, file: 0, vpn: V, write });
const read = (guest: number, i = 0) => op('guest.read', { guest, pid: 1, vpn: V + i });
const MIXED = { ...RO, 'shared-page-cache.grants': 'mixed' };
const NONE = { ...RO, 'shared-page-cache.grants': 'none' };
/** Every (guest, file) grant of a world, as "guest:file=grant". */
const grantTable = (w: World) => w.guests.flatMap((g) => [0, 1].map((f) => `${g.id}:${f}=${grantOf(w, g.id, f) ?? '-'}`));
const outcomes = (r: { results: OpResult[] }) => r.results.map((x) => (x.ok ? 'ok' : x.error));
const grant = (guest: number, file: number, write: boolean) => op('dax.grant', { guest, file, write });
const revoke = (guest: number, file: number) => op('dax.revoke', { guest, file });
const hostWrite = (file: number, index: number) => op('dax.host.write', { file, index });
const evict = (file: number, index: number) => op('dax.host.evict', { file, index });
const write = (guest: number, i = 0) => op('guest.write', { guest, pid: 1, vpn: V + i });
const daxFrames = (w: World) => [...w.frames.ownedFrames()].filter(([, rec]) => rec.owner.kind === 'shared-page-cache' || rec.owner.kind === 'dax-private').length;

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

  it('dax-revoke-skips-tlb-flush skips only the flush: the revoked file\'s EPT leaves are zapped inside a balanced invalidation, the other file\'s stay', () => {
    const s = stepper(machine(RO, ['dax-revoke-skips-tlb-flush']));
    const g = s.world.guests[0]!;
    s.apply('guest.spawn', { guest: 0 });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: false });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V + 8, write: false });
    for (const i of [0, 7, 8]) expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + i })).toEqual({ ok: true });
    const seq = g.invalidation.seq;
    expect(s.apply('dax.revoke', { guest: 0, file: 0 })).toEqual({ ok: true });
    expect(s.broke()).toContain('dax-revocation-complete|translation-survives-revoke');
    expect([g.ept.lookup(s.world, windowGfn(g, 0, 0)).kind, g.ept.lookup(s.world, windowGfn(g, 0, 7)).kind]).not.toContain('leaf');
    expect(g.ept.lookup(s.world, windowGfn(g, 1, 0))).toMatchObject({ kind: 'leaf', hfn: g.backing.get(windowGfn(g, 1, 0)) });
    expect([g.invalidation.inProgress, g.invalidation.seq]).toEqual([0, seq + 1]);
  });

  it('dax-evict-while-mapped leaves the guest bound to the freed frame; teardown unbinds it without freeing the frame again', () => {
    const r = new Runner(machine(RO, ['dax-evict-while-mapped']), { check: 'none' });
    for (const o of [spawn(0), mapDax(0, true), read(0), read(0, 1), evict(0, 0)]) r.apply(o);
    const g = r.world.guests[0]!;
    const stale = g.backing.get(windowGfn(g, 0, 0))!;
    expect([r.outcomes, r.world.frames.owner(stale), daxWorld(r.world).cache.size]).toEqual([[true, true, true, true, true], undefined, 1]);
    // The guest still reaches the freed frame: its next write is served from it (the frame has no
    // owner to say what it is), and the copy-on-write it takes leaves it bound to a free frame again.
    r.apply(write(0));
    expect(r.outcomes[5]).toBe(true);
    expect(r.world.frames.owner(g.backing.get(windowGfn(g, 0, 0))!)).toBeUndefined();
    const free = r.world.hostBuddy.freePages();
    daxTeardown(r.world);
    expect([g.backing.get(windowGfn(g, 0, 0)), g.backing.get(windowGfn(g, 0, 1))]).toEqual([undefined, undefined]);
    expect([r.world.hostBuddy.freePages(), daxWorld(r.world).grants.size, daxFrames(r.world)]).toEqual([free + 1, 0, 0]);
  });

  it('an access to a file the guest was never given is refused (no grant at boot)', () => {
    const r = scenario(machine({ ...RO, 'shared-page-cache.grants': 'none' }), [spawn(0), mapDax(0), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[2]).toMatchObject({ ok: false, error: 'sigbus' });
  });
});

// ---- boot exports, the window, mmap ----


describe('boot exports, the window and the DAX mmap', () => {
  it('the host exports at boot what "shared-page-cache.grants" says: ro everything read-only, mixed file 0 read-only to all and file 1 writable to guest 0 alone, none nothing', () => {
    expect(grantTable(stepper(machine(RO, [], 2)).world)).toEqual(['0:0=ro', '0:1=ro', '1:0=ro', '1:1=ro']);
    expect(grantTable(stepper(machine({}, [], 2)).world)).toEqual(['0:0=ro', '0:1=ro', '1:0=ro', '1:1=ro']);
    expect(grantTable(stepper(machine(MIXED, [], 2)).world)).toEqual(['0:0=ro', '0:1=rw', '1:0=ro', '1:1=-']);
    expect(grantTable(stepper(machine(NONE, [], 2)).world)).toEqual(['0:0=-', '0:1=-', '1:0=-', '1:1=-']);
  });

  it('under the mixed export guest 0 writes file 1 in place (the other guest has none of it) and only reads file 0', () => {
    const steps = [spawn(0), spawn(1), op('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V, write: true }), op('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V + 8, write: true }),
      op('dax.mmap', { guest: 1, pid: 1, file: 1, vpn: V, write: false }),
      op('guest.write', { guest: 0, pid: 1, vpn: V }), op('guest.write', { guest: 0, pid: 1, vpn: V + 8 }), read(1)];
    const r = scenario(machine(MIXED, [], 2), steps);
    expect(kinds(r)).toEqual([]);
    expect(outcomes(r)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'sigbus']);
    const g = r.world.guests[0]!;
    expect(g.backing.get(windowGfn(g, 1, 0))).toBe(daxWorld(r.world).cache.get(sharedKey(1, 0))!.hfn);
    expect(r.world.frames.owner(g.backing.get(windowGfn(g, 0, 0))!)?.kind).toBe('dax-private');
  });

  it('the window is the memslot just above guest RAM, file after file: gfn RAM + file * 8 + index, nothing outside it', () => {
    const w = stepper(machine(RO)).world;
    const g = w.guests[0]!;
    const ram = g.config.frames;
    expect([windowGfn(g, 0, 0), windowGfn(g, 0, 7), windowGfn(g, 1, 0), windowGfn(g, 1, 7)]).toEqual([ram, ram + 7, ram + 8, ram + 15]);
    expect([ram - 1, ram, ram + 7, ram + 8, ram + 15, ram + 16].map((gfn) => windowPage(g, gfn))).toEqual([null, { file: 0, index: 0 }, { file: 0, index: 7 }, { file: 1, index: 0 }, { file: 1, index: 7 }, null]);
  });

  it('the last page of the last file is reachable: the guest reads what the host wrote there through a read-only EPT leaf to the shared frame', () => {
    const steps = [op('dax.host.write', { file: 1, index: 7 }), spawn(0), op('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V, write: false }), read(0, 7), read(0, 6)];
    const r = scenario(machine(RO), steps);
    expect(kinds(r)).toEqual([]);
    expect(outcomes(r)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    const g = r.world.guests[0]!;
    const frame = daxWorld(r.world).cache.get(sharedKey(1, 7))!.hfn;
    expect(r.world.frames.read(frame)).toEqual(data(HOST_DOMAIN, (r.results[0] as { value: number }).value));
    const l = g.ept.lookup(r.world, windowGfn(g, 1, 7));
    expect(l.kind === 'leaf' && [l.hfn, l.entry.flags & EPT_RWX]).toEqual([frame, EPT_READ | EPT_EXEC]);
    expect(r.world.frames.read(daxWorld(r.world).cache.get(sharedKey(1, 6))!.hfn)).toEqual(ZERO);
  });

  it('a guest leaf in a DAX VMA may map its page\'s window gfn only, and the DAX VMA\'s rule says nothing about another mechanism\'s VMA (a memctl 1 GiB mapping beside it)', () => {
    const giga = FRAMES_PER_1G;
    const s = stepper(machine({ ...RO, 'memctl.enabled': true, 'memctl.region': 'giga', 'virtio-balloon.present': false }));
    const g = s.world.guests[0]!;
    s.apply('guest.spawn', { guest: 0 });
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: giga, write: true })).toEqual({ ok: true });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V, write: false });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: giga + 3 }).ok).toBe(true);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 3 })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
    const region = gigaRegionGfn(g);
    expect([leafMayMap(g, 1, giga + 3, region + 3), leafMayMap(g, 1, V + 3, windowGfn(g, 1, 3))]).toEqual([true, true]);
    expect([leafMayMap(g, 1, V + 3, windowGfn(g, 1, 4)), leafMayMap(g, 1, V + 3, windowGfn(g, 0, 3)), leafMayMap(g, 1, giga + 3, windowGfn(g, 1, 3))]).toEqual([false, false, false]);
  });

  it('the window gfn of a DAX file page is no frame for a leaf in a page-cache file VMA of the same file number and index, cached or not', () => {
    const s = stepper(machine(RO));
    const g = s.world.guests[0]!;
    s.apply('guest.spawn', { guest: 0 });
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V, pages: 4, write: false })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 1 })).toEqual({ ok: true });
    const cached = peekLeaf(s.world, g, g.processes.get(1)!, V + 1)!.gfn;
    expect(cached).toBeLessThan(g.config.frames);
    expect([leafMayMap(g, 1, V + 1, cached), leafMayMap(g, 1, V + 1, windowGfn(g, 0, 1)), leafMayMap(g, 1, V + 2, windowGfn(g, 0, 2))]).toEqual([true, false, false]);
    expect(s.r.violation).toBeNull();
  });

  it('mmap of a shared file: files 0 and 1 only, the whole 8 pages inside the user half, no overlap with another VMA', () => {
    const top = 2 ** (9 * 4 - 1);
    const mm = (file: number, vpn: number) => op('dax.mmap', { guest: 0, pid: 1, file, vpn, write: false });
    const r = scenario(machine(RO), [spawn(0), mm(-1, V), mm(2, V), mm(1, V), mm(0, V + 7), mm(0, V - 7), mm(0, V + 8), mm(0, V - 8), mm(0, top - 7), mm(1, top - 8)]);
    expect(outcomes(r)).toEqual(['ok', 'out-of-range', 'out-of-range', 'ok', 'overlap', 'overlap', 'ok', 'ok', 'out-of-range', 'ok']);
    expect(kinds(r)).toEqual([]);
    const p = r.world.guests[0]!.processes.get(1)!;
    expect(p.vmaAt(top - 1)?.object).toEqual({ kind: DAX_OBJECT, id: 1, vpnOrigin: top - 8 });
    expect([p.vmaAt(V - 9), p.vmaAt(V + 16)]).toEqual([undefined, undefined]);
  });

  it('a DAX VMA is one of 4 KiB pages (not a huge VMA): part of it can be unmapped or protected, and the rest still reads the file', () => {
    const at = (vpn: number) => ({ guest: 0, pid: 1, vpn });
    const r = scenario(machine(RO), [
      op('dax.host.write', { file: 0, index: 5 }), spawn(0), mapDax(0, true), read(0, 2), read(0, 5),
      op('guest.munmap', { ...at(V + 2), pages: 2 }), op('guest.mprotect', { ...at(V + 5), pages: 1, write: false, exec: false }),
      read(0, 2), read(0, 4), read(0, 5), op('guest.write', at(V + 5)), op('guest.write', at(V + 6)),
    ]);
    expect(outcomes(r)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'segv', 'ok', 'ok', 'segv', 'ok']);
    expect(kinds(r)).toEqual([]);
    const p = r.world.guests[0]!.processes.get(1)!;
    expect([p.vmaAt(V + 1)?.huge, p.vmaAt(V + 2), p.vmaAt(V + 5)?.prot.write, p.vmaAt(V + 6)?.prot.write]).toEqual([false, undefined, false, true]);
  });

  it('a DAX fault installs a user, non-executable guest PTE to the window gfn, writable as the VMA is: a write after a read takes no second guest fault', () => {
    const s = stepper(machine(RO));
    s.apply('guest.spawn', { guest: 0 });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: true });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V + 8, write: false });
    const g = s.world.guests[0]!;
    const p = g.processes.get(1)!;
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 2 })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 8 + 2 })).toEqual({ ok: true });
    const rw = peekLeaf(s.world, g, p, V + 2)!;
    const ro = peekLeaf(s.world, g, p, V + 8 + 2)!;
    expect([rw.gfn, rw.writable, rw.nx, (rw.entry.flags & PTE_USER) !== 0]).toEqual([windowGfn(g, 0, 2), true, true, true]);
    expect([ro.gfn, ro.writable, ro.nx, (ro.entry.flags & PTE_USER) !== 0]).toEqual([windowGfn(g, 1, 2), false, true, true]);
    const [faults, seq] = [g.pgfault, g.invalidation.seq];
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 2 }).ok).toBe(true);
    expect(g.pgfault).toBe(faults);
    // The write went to a private copy, swapped in inside one complete invalidation.
    expect(s.world.frames.owner(g.backing.get(windowGfn(g, 0, 2))!)?.kind).toBe('dax-private');
    expect([g.invalidation.inProgress, g.invalidation.seq]).toEqual([0, seq + 1]);
    expect(s.r.violation).toBeNull();
  });
});

// ---- the host's decisions ----


describe('grants, revocation, host writes and eviction', () => {
  it('a grant: files 0 and 1 only; writable only to a guest alone with the file; read-only beside readers but not beside a writer; a guest\'s own grant never stands in its way', () => {
    const r = scenario(machine(NONE, [], 2), [
      revoke(0, 0), grant(0, -1, false), grant(0, 2, false),
      grant(0, 0, true), grant(1, 0, false), grant(1, 0, true), grant(0, 0, true),
      grant(0, 0, false), grant(1, 0, false), grant(1, 0, true), grant(0, 1, false),
    ]);
    expect(outcomes(r)).toEqual(['no-such-mapping', 'out-of-range', 'out-of-range', 'ok', 'busy', 'busy', 'ok', 'ok', 'ok', 'busy', 'ok']);
    expect(grantTable(r.world)).toEqual(['0:0=ro', '0:1=ro', '1:0=ro', '1:1=-']);
    expect(kinds(r)).toEqual([]);
  });

  it('a change of grant first revokes the old one: the private copy goes when the grant becomes writable, the writable leaf goes when it becomes read-only again', () => {
    const s = stepper(machine(RO));
    const g = s.world.guests[0]!;
    const gfn = windowGfn(g, 0, 0);
    const leafFlags = () => { const l = g.ept.lookup(s.world, gfn); return l.kind === 'leaf' ? l.entry.flags & EPT_RWX : null; };
    s.apply('guest.spawn', { guest: 0 });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: true });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V }).ok).toBe(true);
    const priv = g.backing.get(gfn)!;
    expect(s.world.frames.owner(priv)?.kind).toBe('dax-private');
    expect(s.apply('dax.grant', { guest: 0, file: 0, write: true })).toEqual({ ok: true });
    expect([s.world.frames.owner(priv), g.backing.get(gfn), leafFlags()]).toEqual([undefined, undefined, null]);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    const shared = daxWorld(s.world).cache.get(sharedKey(0, 0))!.hfn;
    expect([g.backing.get(gfn), leafFlags()]).toEqual([shared, EPT_RWX]);
    const v = s.apply('guest.write', { guest: 0, pid: 1, vpn: V }).value!;
    expect(s.world.frames.read(shared)).toEqual(data(0, v));
    expect(s.apply('dax.grant', { guest: 0, file: 0, write: false })).toEqual({ ok: true });
    expect([g.backing.get(gfn), leafFlags()]).toEqual([undefined, null]);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    expect(leafFlags()).toBe(EPT_READ | EPT_EXEC);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V }).ok).toBe(true);
    expect(s.world.frames.owner(g.backing.get(gfn)!)?.kind).toBe('dax-private');
    expect(s.world.frames.read(shared)).toEqual(data(0, v));
    expect(s.r.violation).toBeNull();
  });

  it('a revocation unbinds every page of that file (its private copies freed, its shared pages left cached) and nothing of the other file', () => {
    const s = stepper(machine(RO));
    const g = s.world.guests[0]!;
    s.apply('guest.spawn', { guest: 0 });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: true });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V + 8, write: false });
    expect([s.apply('guest.read', { guest: 0, pid: 1, vpn: V }), s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 7 }).ok, s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 8 })]).toEqual([{ ok: true }, true, { ok: true }]);
    const priv = g.backing.get(windowGfn(g, 0, 7))!;
    const file1 = g.backing.get(windowGfn(g, 1, 0))!;
    expect(s.apply('dax.revoke', { guest: 0, file: 0 })).toEqual({ ok: true });
    for (let i = 0; i < 8; i++) {
      expect(g.backing.get(windowGfn(g, 0, i))).toBeUndefined();
      expect(g.ept.lookup(s.world, windowGfn(g, 0, i)).kind).not.toBe('leaf');
    }
    expect(s.world.frames.owner(priv)).toBeUndefined();
    expect(s.world.frames.owner(daxWorld(s.world).cache.get(sharedKey(0, 0))!.hfn)).toMatchObject({ kind: 'shared-page-cache', file: 0, index: 0 });
    expect(g.backing.get(windowGfn(g, 1, 0))).toBe(file1);
    expect(g.ept.lookup(s.world, windowGfn(g, 1, 0))).toMatchObject({ kind: 'leaf', hfn: file1 });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: false, error: 'sigbus' });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 8 })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
  });

  it('a host write: files 0 and 1, pages 0 to 7; a cached page changes in place, under the guests that map it; an uncached one in the file', () => {
    const r = scenario(machine(RO, [], 2), [
      hostWrite(-1, 0), hostWrite(2, 0), hostWrite(0, -1), hostWrite(0, 8), hostWrite(1, 7),
      spawn(0), spawn(1), mapDax(0), mapDax(1), read(0), read(1), hostWrite(0, 0), read(0), read(1), hostWrite(0, 1), read(1, 1),
    ]);
    expect(outcomes(r)).toEqual(['out-of-range', 'out-of-range', 'out-of-range', 'out-of-range', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(kinds(r)).toEqual([]);
    const d = daxWorld(r.world);
    const v = (i: number) => (r.results[i] as { value: number }).value;
    expect(d.medium.get(sharedKey(1, 7))).toEqual(data(HOST_DOMAIN, v(4)));
    expect(r.world.frames.read(d.cache.get(sharedKey(0, 0))!.hfn)).toEqual(data(HOST_DOMAIN, v(11)));
    expect(d.medium.has(sharedKey(0, 0))).toBe(false);
    expect(r.world.frames.read(d.cache.get(sharedKey(0, 1))!.hfn)).toEqual(data(HOST_DOMAIN, v(14)));
  });

  it('an eviction unmaps the shared page from the guests bound to it, writes it back and frees it; a guest\'s private copy of the page stays', () => {
    const s = stepper(machine(RO, [], 2));
    const [g0, g1] = s.world.guests as [Guest, Guest];
    const gfn0 = windowGfn(g0, 0, 0);
    const gfn1 = windowGfn(g1, 0, 0);
    s.apply('guest.spawn', { guest: 0 });
    s.apply('guest.spawn', { guest: 1 });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: true });
    s.apply('dax.mmap', { guest: 1, pid: 1, file: 0, vpn: V, write: false });
    expect(s.apply('dax.host.evict', { file: 0, index: 0 })).toEqual({ ok: false, error: 'no-such-mapping' });
    s.apply('guest.read', { guest: 1, pid: 1, vpn: V });
    s.apply('guest.write', { guest: 0, pid: 1, vpn: V });
    const v = s.apply('dax.host.write', { file: 0, index: 0 }).value!;
    const shared = daxWorld(s.world).cache.get(sharedKey(0, 0))!.hfn;
    const priv = g0.backing.get(gfn0)!;
    const seq = g1.invalidation.seq;
    expect(s.apply('dax.host.evict', { file: 0, index: 0 })).toEqual({ ok: true });
    expect([g1.backing.get(gfn1), g1.ept.lookup(s.world, gfn1).kind === 'leaf', s.world.frames.owner(shared)]).toEqual([undefined, false, undefined]);
    expect([g1.invalidation.inProgress, g1.invalidation.seq]).toEqual([0, seq + 1]);
    expect(g0.backing.get(gfn0)).toBe(priv);
    expect(s.world.frames.owner(priv)?.kind).toBe('dax-private');
    expect(daxWorld(s.world).cache.has(sharedKey(0, 0))).toBe(false);
    expect(daxWorld(s.world).medium.get(sharedKey(0, 0))).toEqual(data(HOST_DOMAIN, v));
    expect(s.apply('dax.host.evict', { file: 0, index: 0 })).toEqual({ ok: false, error: 'no-such-mapping' });
    // Read back from the file into a new frame; the private copy still reads as guest 0 wrote it.
    expect(s.apply('guest.read', { guest: 1, pid: 1, vpn: V })).toEqual({ ok: true });
    expect(s.world.frames.read(g1.backing.get(gfn1)!)).toEqual(data(HOST_DOMAIN, v));
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
  });

  it('teardown revokes every grant and frees every shared page and private copy', () => {
    const r = new Runner(machine(MIXED, [], 2), { check: 'incremental' });
    for (const o of [spawn(0), spawn(1), mapDax(0, true), mapDax(1), op('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V + 8, write: true }),
      read(1), write(0), write(0, 1), write(0, 8), hostWrite(1, 3), read(0, 11), read(1, 2)]) r.apply(o);
    expect(r.outcomes.every((x) => x)).toBe(true);
    expect(daxFrames(r.world)).toBe(7);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
    expect(daxFrames(r.world)).toBe(0);
    expect([daxWorld(r.world).cache.size, daxWorld(r.world).grants.size, daxWorld(r.world).savings]).toEqual([0, 0, 0]);
    expect(r.world.guests.map((g) => [...g.backing.keys()].filter((gfn) => windowPage(g, gfn)))).toEqual([[], []]);
  });
});

// ---- the checks' predicates, the journal, the transitions ----

describe('what the properties ask of the shared cache', () => {
  it('windowFrameOk: a window gfn may be backed by its own file page\'s cached frame, or by this guest\'s private copy of this gfn, and by nothing else', () => {
    const s = stepper(machine(RO, [], 2));
    const w = s.world;
    const [g0, g1] = w.guests as [Guest, Guest];
    for (const guest of [0, 1]) {
      s.apply('guest.spawn', { guest });
      s.apply('dax.mmap', { guest, pid: 1, file: 0, vpn: V, write: true });
      s.apply('guest.mmap', { guest, pid: 1, vpn: V + 8, pages: 1, write: true, exec: false, huge: false });
      s.apply('guest.read', { guest, pid: 1, vpn: V + 1 });
    }
    s.apply('guest.write', { guest: 0, pid: 1, vpn: V });
    s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 8 });
    expect(s.r.violation).toBeNull();
    const priv = g0.backing.get(windowGfn(g0, 0, 0))!;
    const shared = daxWorld(w).cache.get(sharedKey(0, 1))!.hfn;
    const ramGfn = peekLeaf(w, g0, g0.processes.get(1)!, V + 8)!.gfn;
    const anon = g0.backing.get(ramGfn)!;
    expect(windowFrameOk(w, g0, windowGfn(g0, 0, 0), priv)).toBe(true);
    expect(windowFrameOk(w, g1, windowGfn(g1, 0, 0), priv)).toBe(false);
    expect(windowFrameOk(w, g0, windowGfn(g0, 0, 1), priv)).toBe(false);
    expect([windowFrameOk(w, g0, windowGfn(g0, 0, 1), shared), windowFrameOk(w, g1, windowGfn(g1, 0, 1), shared)]).toEqual([true, true]);
    expect([windowFrameOk(w, g0, windowGfn(g0, 0, 2), shared), windowFrameOk(w, g0, windowGfn(g0, 1, 1), shared)]).toEqual([false, false]);
    expect(windowFrameOk(w, g0, windowGfn(g0, 0, 1), anon)).toBe(false);
    expect([windowFrameOk(w, g0, ramGfn, anon), windowFrameOk(w, g0, ramGfn, shared), windowFrameOk(w, g0, g0.config.frames + 16, shared)]).toEqual([false, false, false]);
    expect([sharedCacheHolds(w, 0, 1, shared), sharedCacheHolds(w, 0, 2, shared), sharedCacheHolds(w, 1, 1, shared), sharedCacheHolds(w, 0, 0, priv)]).toEqual([true, false, false, false]);
    // The frame the cache holds for (0, 1), its owner record naming another page (by hand), backs nothing.
    const alloc = w.frames.record(shared)!.alloc;
    for (const [file, index, ok] of [[0, 2, false], [1, 1, false], [0, 1, true]] as const) {
      w.frames.setOwner(shared, { kind: 'shared-page-cache', file, index }, alloc);
      expect(windowFrameOk(w, g0, windowGfn(g0, 0, 1), shared)).toBe(ok);
    }
    // A frame still recorded as the file page's, once the cache no longer holds it, backs nothing.
    daxWorld(w).cache.delete(sharedKey(0, 1));
    expect([windowFrameOk(w, g0, windowGfn(g0, 0, 1), shared), sharedCacheHolds(w, 0, 1, shared)]).toEqual([false, false]);
    // A private copy once freed (its guest's grant revoked) backs nothing either.
    expect(s.apply('dax.revoke', { guest: 0, file: 0 })).toEqual({ ok: true });
    expect([w.frames.owner(priv), windowFrameOk(w, g0, windowGfn(g0, 0, 0), priv)]).toEqual([undefined, false]);
  });

  it('the savings figure: a page bound in n guests saves n - 1 frames, a cached page bound nowhere saves none, a private copy saves nothing', () => {
    const s = stepper(machine(RO, [], 3));
    for (const guest of [0, 1, 2]) {
      s.apply('guest.spawn', { guest });
      s.apply('dax.mmap', { guest, pid: 1, file: 1, vpn: V, write: true });
      expect(s.apply('guest.read', { guest, pid: 1, vpn: V + 3 })).toEqual({ ok: true });
    }
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V + 8, write: false });
    s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 8 + 5 });
    s.apply('dax.revoke', { guest: 0, file: 0 });
    expect(daxWorld(s.world).cache.has(sharedKey(0, 5))).toBe(true);
    expect([recountSavings(s.world), daxWorld(s.world).savings]).toEqual([2, 2]);
    expect(s.apply('guest.write', { guest: 2, pid: 1, vpn: V + 3 }).ok).toBe(true);
    expect([recountSavings(s.world), daxWorld(s.world).savings]).toEqual([1, 1]);
    expect(s.apply('dax.revoke', { guest: 1, file: 1 })).toEqual({ ok: true });
    expect([recountSavings(s.world), daxWorld(s.world).savings]).toEqual([0, 0]);
    expect(s.r.violation).toBeNull();
  });

  it('every step journals the shared pages it changed (the incremental checks look only there): a host write, a first read, a second guest\'s read, a private copy, a revocation, an eviction', () => {
    const marks: number[][] = [];
    const r = new Runner(machine(RO, [], 2), { check: 'incremental', onStep: (_s, _o, _r) => marks.push([...(r.world.journal.marks.get('dax') ?? [])].sort((a, b) => a - b)) });
    const steps = [spawn(0), spawn(1), op('dax.mmap', { guest: 0, pid: 1, file: 1, vpn: V, write: true }), op('dax.mmap', { guest: 1, pid: 1, file: 1, vpn: V, write: false }),
      hostWrite(1, 3), read(0, 3), read(1, 3), write(0, 3), hostWrite(1, 3), revoke(0, 1), read(1, 2), revoke(1, 1), evict(1, 2), evict(1, 3)];
    for (const o of steps) r.apply(o);
    expect(r.outcomes.every((x) => x)).toBe(true);
    expect(r.violation).toBeNull();
    expect(marks).toEqual([[], [], [], [], [11], [11], [11], [11], [11], [11], [10], [10, 11], [10], [11]]);
  });

  it('the shared page cache\'s transitions are counted as they are taken', () => {
    const r = scenario(machine(NONE), [spawn(0), grant(0, 0, false), grant(0, 1, true), mapDax(0, true), read(0), write(0), read(0, 1), revoke(0, 0), evict(0, 1)]);
    expect(outcomes(r).every((x) => x === 'ok')).toBe(true);
    expect(kinds(r)).toEqual([]);
    expect(Object.fromEntries(r.world.transitions.get('shared-page-cache')!)).toEqual({
      'not-exported->exported-ro': 1, 'not-exported->exported-rw': 1, 'absent->cached': 2, 'unmapped->shared': 2, 'shared->private': 1, 'shared->revoked': 1, 'cached->absent': 1,
    });
  });
});

describe('a DAX fault short of memory', () => {
  it('the guest out of frames for the page tables of a DAX VMA: the fault is refused (guest-oom) before any window page is made; with a frame back it maps', () => {
    const s = stepper(machine(RO));
    const g = s.world.guests[0]!;
    s.apply('guest.spawn', { guest: 0 });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: false });
    const allocs: number[] = [];
    for (let order = MAX_PAGE_ORDER; order >= 0; order--) {
      for (let a = s.apply('guest.kalloc', { guest: 0, order, mt: 'UNMOVABLE' }); a.ok; a = s.apply('guest.kalloc', { guest: 0, order, mt: 'UNMOVABLE' })) allocs.push(a.value!);
    }
    expect(g.buddy.freePages()).toBe(0);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: false, error: 'guest-oom' });
    expect([daxWorld(s.world).cache.size, g.backing.get(windowGfn(g, 0, 0))]).toEqual([0, undefined]);
    expect(s.apply('guest.kfree', { guest: 0, alloc: allocs[0]! })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    expect(peekLeaf(s.world, g, g.processes.get(1)!, V)?.gfn).toBe(windowGfn(g, 0, 0));
    expect(s.r.violation).toBeNull();
  });

  it('a private copy made but not mapped (no host frame for the EPT table) holds the shared contents, and is mapped as it is by the next access: no second copy', () => {
    const s = stepper(machine(RO));
    const g = s.world.guests[0]!;
    const gfn = windowGfn(g, 0, 0);
    const hv = s.apply('dax.host.write', { file: 0, index: 0 }).value!;
    s.apply('guest.spawn', { guest: 0 });
    s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: true });
    // An anonymous page under the same PTE table: the guest's tables for the DAX VMA exist before the host runs out.
    s.apply('guest.mmap', { guest: 0, pid: 1, vpn: V + 8, pages: 8, write: true, exec: false, huge: false });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V + 8 }).ok).toBe(true);
    exhaustHost(s.r, 2);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: false, error: 'host-oom' });
    const priv = g.backing.get(gfn)!;
    expect([s.world.frames.owner(priv)?.kind, g.ept.lookup(s.world, gfn).kind === 'leaf']).toEqual(['dax-private', false]);
    expect(s.world.frames.read(priv)).toEqual(data(HOST_DOMAIN, hv));
    const held = [...s.world.hostAllocs.keys()];
    expect(s.apply('host.kfree', { alloc: held[held.length - 1]! })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    const v = s.apply('guest.write', { guest: 0, pid: 1, vpn: V }).value!;
    expect(g.backing.get(gfn)).toBe(priv);
    expect(g.ept.lookup(s.world, gfn)).toMatchObject({ kind: 'leaf', hfn: priv });
    expect(s.world.frames.read(priv)).toEqual(data(0, v));
    expect(s.r.violation).toBeNull();
  });
});
