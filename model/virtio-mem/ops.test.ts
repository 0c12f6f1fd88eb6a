/**
 * The virtio-mem operations' arguments span exactly what a device can have: on the largest
 * device (DEVICE_BLOCKS_MAX blocks) the highest block an operation may name is its last block,
 * resize may ask for all of it, and STATE may cover it whole; one more would name no block, so
 * generated runs would spend steps on requests answered ERROR.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { DEVICE_BLOCKS_MAX, deviceOf, VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_ERROR, VIRTIO_MEM_STATE_PLUGGED } from './device';
import { virtioMemOperations } from './ops';
import type { ArgSpec } from '../ops/operation';

test('block arguments run over the blocks of the largest device, 0 to its last; resize and STATE reach its whole size', () => {
  const spec = (op: string, arg: string): ArgSpec | undefined => virtioMemOperations.find((o) => o.name === `virtio-mem.${op}`)?.args[arg];
  const blocks = { type: 'int', min: 0, max: DEVICE_BLOCKS_MAX - 1 };
  for (const op of ['plug', 'unplug.begin', 'unplug.finish', 'state']) expect(spec(op, 'block')).toEqual(blocks);
  expect(spec('resize', 'blocks')).toEqual({ type: 'int', min: 0, max: DEVICE_BLOCKS_MAX });
  expect(spec('state', 'count')).toEqual({ type: 'int', min: 1, max: DEVICE_BLOCKS_MAX });

  // The largest device fits in the top half of an 8192-frame guest.
  const config: ModelConfig = { hostFrames: 2 ** 15, guests: [{ frames: 2 ** 13, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [], options: { 'virtio-mem.blocks': DEVICE_BLOCKS_MAX } };
  const values: (number | string | undefined)[] = [];
  const r = new Runner(config, { check: 'incremental', onStep: (_s, _op, res) => values.push(res.ok ? res.value : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  const d = deviceOf(r.world, r.world.guests[0]!)!;
  expect(d.blocks).toBe(DEVICE_BLOCKS_MAX);
  const last = DEVICE_BLOCKS_MAX - 1;
  values.length = 0;
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: DEVICE_BLOCKS_MAX } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: last } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: last + 1 } });
  r.apply({ kind: 'virtio-mem.state', args: { guest: 0, block: last, count: 1 } });
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: DEVICE_BLOCKS_MAX + 1 } });
  expect(values).toEqual([undefined, VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_ERROR, VIRTIO_MEM_STATE_PLUGGED, 'out-of-range']);
  expect(d.requested).toBe(DEVICE_BLOCKS_MAX);
  expect(r.violation).toBeNull();
});
