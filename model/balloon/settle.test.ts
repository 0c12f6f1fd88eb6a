/**
 * The settle phase of a virtio balloon: a request still queued when the run ends is
 * taken by the device, an inflate or a deflate, and nothing is left in flight.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import { balloonOf } from './virtio-balloon';

const inflate = [op('vballoon.host.target', { guest: 0, pages: 64 }), op('vballoon.fill', { guest: 0 })];
const deflate = [...inflate, op('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }), op('vballoon.host.target', { guest: 0, pages: 0 }), op('vballoon.leak', { guest: 0 })];

test.each([
  ['inflate', inflate, 'ballooned'],
  ['deflate', deflate, undefined],
] as const)('settle takes a queued %s request: no request left in flight, every page where the request sends it', (queue, steps, state) => {
  const before = balloonOf(scenario(machine({}), steps).world.guests[0]!)!;
  expect(before.requests.filter((r) => !r.acked).map((r) => r.queue)).toEqual([queue]);
  const after = scenario(machine({}), steps, true);
  expect(kinds(after)).toEqual([]);
  const vb = balloonOf(after.world.guests[0]!)!;
  expect(vb.requests.filter((r) => !r.acked)).toEqual([]);
  const pages = [...before.requests[before.requests.length - 1]!.pfns].map((gfn) => vb.pages.get(gfn));
  expect(pages.length).toBeGreaterThan(0);
  expect(pages.every((s) => s === state)).toBe(true);
});
