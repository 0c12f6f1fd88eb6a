/**
 * The statsq cycle (VIRTIO_BALLOON_F_STATS_VQ): the device uses the buffer the driver queued,
 * keeps it, and can ask again only after the driver has refilled and re-queued it; asking
 * while it holds a used buffer is refused and changes nothing.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import { balloonOf } from './virtio-balloon';

test('stats request, a second request refused until the driver updates the buffer, then served with the new figures', () => {
  const r = scenario(machine({}), [
    op('vballoon.stats.request', { guest: 0 }),
    op('vballoon.stats.request', { guest: 0 }),
    op('guest.kalloc', { guest: 0, order: 3, mt: 'MOVABLE' }),
    op('vballoon.stats.update', { guest: 0 }),
    op('vballoon.stats.request', { guest: 0 }),
  ]);
  expect(kinds(r)).toEqual([]);
  expect(r.results.map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'invalid', 'ok', 'ok', 'ok']);
  const s = balloonOf(r.world.guests[0]!)!.stats!;
  // The device holds (and has read) the buffer the driver refilled after the kalloc.
  expect(s.used).toBe(true);
  expect(s.seen).toBe(s.buffer);
});

test('with virtio-balloon.present false the guest has no balloon and its operations are refused', () => {
  const r = scenario(machine({ 'virtio-balloon.present': false }), [op('vballoon.host.target', { guest: 0, pages: 16 })]);
  expect(balloonOf(r.world.guests[0]!)).toBeUndefined();
  expect(r.results.map((x) => (x.ok ? 'ok' : x.error))).toEqual(['invalid']);
  expect(balloonOf(scenario(machine({}), []).world.guests[0]!)).toBeDefined();
});
