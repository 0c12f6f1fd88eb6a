/**
 * What a guest leaf may map (leafMayMap, used by the page-table checks): the anonymous page the
 * kernel gave that very process at that very address, a shared zero page anywhere, or in an
 * object-backed VMA the page its object's resolver names; and where a non-present page's
 * contents are kept (pagedOut): the first hook that knows.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { Process } from './process';
import { leafMayMap, pagedOut } from './leaf';

test('an anonymous page: only its own process at its own address; a zero page: anyone; a free frame: no one', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  g.setOwner(100, { kind: 'anon', pid: 1, vpn: 7 });
  expect(leafMayMap(g, 1, 7, 100)).toBe(true);
  expect(leafMayMap(g, 1, 8, 100)).toBe(false);
  expect(leafMayMap(g, 2, 7, 100)).toBe(false);
  g.setOwner(101, { kind: 'zero-page', huge: false });
  expect(leafMayMap(g, 1, 7, 101)).toBe(true);
  expect(leafMayMap(g, 3, 9, 101)).toBe(true);
  expect(leafMayMap(g, 1, 7, 102)).toBe(false);
});

test('an object-backed VMA: the frame the first resolver that knows the index names, at index vpn - vpnOrigin', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  const p = new Process(1, 0);
  g.processes.set(1, p);
  p.addVma({ start: 20, end: 30, prot: { write: false, exec: false }, huge: false, object: { kind: 'file', id: 4, vpnOrigin: 18 } });
  const asked: number[] = [];
  g.objectResolvers.push((obj, index) => (asked.push(index), obj.kind === 'dax' ? 500 : undefined));
  g.objectResolvers.push((obj, index) => (obj.kind === 'file' && obj.id === 4 && index === 3 ? 200 : undefined));
  g.objectResolvers.push(() => 300);
  expect(leafMayMap(g, 1, 21, 200)).toBe(true);
  expect(asked).toEqual([3]);
  // Index 4 is unknown to the second resolver: the third one answers, and only its frame fits.
  expect(leafMayMap(g, 1, 22, 300)).toBe(true);
  expect(leafMayMap(g, 1, 22, 200)).toBe(false);
  // The answer of the first resolver that knows is final, even if a later one would say yes.
  expect(leafMayMap(g, 1, 21, 300)).toBe(false);
  // Outside the VMA, or in another process, no object: nothing may be mapped.
  expect(leafMayMap(g, 1, 30, 300)).toBe(false);
  expect(leafMayMap(g, 2, 21, 200)).toBe(false);
});

test('a VMA with an object no resolver knows (the resolvers replaced by one that knows none) maps nothing', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  const p = new Process(1, 0);
  g.processes.set(1, p);
  p.addVma({ start: 20, end: 30, prot: { write: true, exec: false }, huge: false, object: { kind: 'dax', id: 1, vpnOrigin: 20 } });
  g.objectResolvers.length = 0;
  g.objectResolvers.push(() => undefined);
  expect(leafMayMap(g, 1, 21, 5)).toBe(false);
});

test('pagedOut: the first hook that holds the page answers; none: undefined', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  g.pagedOutHooks.length = 0;
  expect(pagedOut(s.world, g, 1, 5)).toBeUndefined();
  g.pagedOutHooks.push((_w, _g, pid, vpn) => (pid === 1 && vpn === 5 ? { kind: 'data', writer: 0, version: 1 } : undefined));
  g.pagedOutHooks.push(() => ({ kind: 'data', writer: 0, version: 2 }));
  expect(pagedOut(s.world, g, 1, 5)).toEqual({ kind: 'data', writer: 0, version: 1 });
  expect(pagedOut(s.world, g, 1, 6)).toEqual({ kind: 'data', writer: 0, version: 2 });
});
