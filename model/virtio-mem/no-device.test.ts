/**
 * A guest with no virtio-mem device (the option left at 0 blocks, or a device that does not fit
 * in the top half of guest memory), and a guest that does not exist: every virtio-mem operation
 * is a typed refusal naming what is missing, never a throw and never a device answer.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { deviceOf, virtioMemState } from './device';

const OPS: [string, Record<string, number>][] = [
  ['virtio-mem.resize', { blocks: 1 }],
  ['virtio-mem.plug', { block: 0 }],
  ['virtio-mem.unplug.begin', { block: 0 }],
  ['virtio-mem.unplug.finish', { block: 0 }],
  ['virtio-mem.unplug-all', {}],
  ['virtio-mem.state', { block: 0, count: 1 }],
];

test('with no device (0 blocks, or more blocks than the top half of guest memory holds), every operation refuses no-such-mapping naming the guest', () => {
  // 4096 frames: the device region must start at 2048 or above, so 5 blocks (2560 frames) do not fit.
  for (const blocks of [0, 5]) {
    const { r, apply, results } = stepper(machine({ 'virtio-mem.blocks': blocks }));
    apply('guest.spawn', { guest: 0 });
    expect(deviceOf(r.world, r.world.guests[0]!)).toBeUndefined();
    for (const [kind, args] of OPS) {
      expect(apply(kind, { guest: 0, ...args })).toEqual({ ok: false, error: 'no-such-mapping' });
      expect(results.at(-1)).toHaveProperty('detail', 'g0 has no virtio-mem device');
    }
    expect(virtioMemState(r.world).exchanges.size).toBe(0);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  }
});

test('on a guest that does not exist every operation refuses no-such-guest, and the device of guest 0 sees no request', () => {
  const { r, apply, results } = stepper(machine({ 'virtio-mem.blocks': 4 }));
  apply('guest.spawn', { guest: 0 });
  const d = deviceOf(r.world, r.world.guests[0]!)!;
  for (const [kind, args] of OPS) {
    expect(apply(kind, { guest: 1, ...args })).toEqual({ ok: false, error: 'no-such-guest' });
    expect(results.at(-1)).toHaveProperty('detail', 'no guest 1');
  }
  expect(virtioMemState(r.world).exchanges.size).toBe(0);
  expect([d.requested, d.plugged]).toEqual([0, 0]);
  expect(r.violation).toBeNull();
});
