/**
 * The driver's work after a configuration change (drivers/virtio/virtio_mem.c virtio_mem_run_wq:
 * virtio_mem_plug_request / virtio_mem_unplug_request): it plugs from the lowest unplugged
 * block up and unplugs from the highest plugged block down, exactly until plugged_size equals
 * requested_size, sending no request beyond that (no PLUG to be NACKed, no UNPLUG too many),
 * down to block 0 and up to the last block; without a configuration change it sends nothing.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { deviceOf, virtioMemState, type Exchange, VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_UNPLUG, VIRTIO_MEM_RESP_ACK } from './device';
import { driverWork } from './driver';

test('the driver follows requested_size up and down, block by block from the bottom up and the top down, with exactly the requests needed', () => {
  const { r, apply } = stepper(machine({ 'virtio-mem.blocks': 4 }));
  apply('guest.spawn', { guest: 0 });
  const w = r.world;
  const g = w.guests[0]!;
  const d = deviceOf(w, g)!;
  /** Run the driver's work; the requests it sent, as [request, block, response]. */
  const work = (): [number, number, number][] => {
    const seen = new Set(virtioMemState(w).exchanges.keys());
    driverWork(w, g);
    expect(d.configChanged).toBe(false);
    return [...virtioMemState(w).exchanges.values()].filter((e: Exchange) => !seen.has(e.id)).map((e) => [e.request, e.block, e.response]);
  };
  const P = VIRTIO_MEM_REQ_PLUG, U = VIRTIO_MEM_REQ_UNPLUG, ACK = VIRTIO_MEM_RESP_ACK;

  apply('virtio-mem.resize', { guest: 0, blocks: 3 });
  expect(work()).toEqual([[P, 0, ACK], [P, 1, ACK], [P, 2, ACK]]);
  expect(d.state).toEqual(['plugged', 'plugged', 'plugged', 'unplugged']);
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  expect(work()).toEqual([[U, 2, ACK], [U, 1, ACK]]);
  expect(d.state).toEqual(['plugged', 'unplugged', 'unplugged', 'unplugged']);
  // Up again from there: no PLUG for block 0, which is plugged already.
  apply('virtio-mem.resize', { guest: 0, blocks: 2 });
  expect(work()).toEqual([[P, 1, ACK]]);
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  expect(work()).toEqual([[U, 1, ACK]]);
  apply('virtio-mem.resize', { guest: 0, blocks: 0 });
  expect(work()).toEqual([[U, 0, ACK]]);
  expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'unplugged']);
  apply('virtio-mem.resize', { guest: 0, blocks: 4 });
  expect(work()).toEqual([[P, 0, ACK], [P, 1, ACK], [P, 2, ACK], [P, 3, ACK]]);
  expect(d.plugged).toBe(4);
  // requested_size unchanged but the driver told again: nothing to do, nothing sent.
  apply('virtio-mem.resize', { guest: 0, blocks: 4 });
  expect(work()).toEqual([]);
  apply('virtio-mem.resize', { guest: 0, blocks: 3 });
  expect(work()).toEqual([[U, 3, ACK]]);
  expect(d.state).toEqual(['plugged', 'plugged', 'plugged', 'unplugged']);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('without a configuration change the driver sends nothing, even when plugged_size differs from requested_size (the notification was lost)', () => {
  const { r, apply } = stepper(machine({ 'virtio-mem.blocks': 4 }, ['virtio-mem-config-change-lost']));
  apply('guest.spawn', { guest: 0 });
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  apply('virtio-mem.resize', { guest: 0, blocks: 2 });
  expect([d.requested, d.configChanged]).toEqual([2, false]);
  driverWork(r.world, g);
  expect(d.plugged).toBe(0);
  expect(virtioMemState(r.world).exchanges.size).toBe(0);
});
