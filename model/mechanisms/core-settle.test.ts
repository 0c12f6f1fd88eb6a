/**
 * The core mechanism's settle drives every protocol in flight to its end: a host reclaim that
 * was begun ends (the host frame is taken away, so the gfn is no longer backed).
 */
import { Runner } from '../../fuzz/run';
import { machine } from '../../fuzz/testing/scenario';
import { coreMechanism } from './core';

/** Guest 0's process 1 has written vpn 16: the runner, the guest and that page's gfn. */
function writtenPage() {
  const r = new Runner(machine({}), { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 16, pages: 1, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 16 } });
  const g = r.world.guests[0]!;
  return { r, g, gfn: [...g.owners].find(([, o]) => o.kind === 'anon' && o.vpn === 16)![0] };
}

test('settle ends a host reclaim in flight: nothing is pending and the gfn is no longer backed', () => {
  const { r, g, gfn } = writtenPage();
  expect(g.backing.has(gfn)).toBe(true);
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn } });
  expect(g.pendingReclaim).toBeTruthy();
  expect(r.violation).toBeNull();
  coreMechanism.settle!(r.world);
  expect(g.pendingReclaim).toBeFalsy();
  expect(g.backing.has(gfn)).toBe(false);
});

test('settle finishes a host fault in flight: nothing is pending and the gfn is mapped in the EPT again', () => {
  const { r, g, gfn } = writtenPage();
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn } });
  r.apply({ kind: 'host.reclaim.end', args: { guest: 0 } });
  expect(g.ept.lookup(r.world, gfn).kind).not.toBe('leaf');
  r.apply({ kind: 'host.fault.begin', args: { guest: 0, gfn } });
  expect(g.pendingFault).toBeTruthy();
  expect(r.violation).toBeNull();
  coreMechanism.settle!(r.world);
  expect(g.pendingFault).toBeNull();
  expect(g.ept.lookup(r.world, gfn).kind).toBe('leaf');
});

test('settle leaves alone a host fault whose gfn another fault mapped meanwhile: no second install', () => {
  const { r, g, gfn } = writtenPage();
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn } });
  r.apply({ kind: 'host.reclaim.end', args: { guest: 0 } });
  r.apply({ kind: 'host.fault.begin', args: { guest: 0, gfn } });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: 16 } });
  expect(g.ept.lookup(r.world, gfn).kind).toBe('leaf');
  const installed = () => r.world.transitions.get('nested-mmu')?.get('fault->installed') ?? 0;
  const before = installed();
  expect(r.violation).toBeNull();
  coreMechanism.settle!(r.world);
  expect(g.pendingFault).toBeNull();
  expect(installed()).toBe(before);
});
