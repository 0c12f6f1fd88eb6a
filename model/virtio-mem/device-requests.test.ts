/**
 * The device's answers at the edges of its region (VIRTIO 1.2 5.15.6, device requirements;
 * QEMU hw/virtio/virtio-mem.c virtio_mem_valid_range): a request whose range is empty, starts
 * before the region or runs past its end is answered ERROR, and so is an UNPLUG of a block that
 * is not plugged and a request type the device does not know; the last block and a range ending
 * exactly at the region's end are inside. Each answer is recorded as an exchange. An UNPLUG
 * looks at exactly the block's 512 gfns: an online neighbour, or the end of guest memory right
 * after the last block, is no page of the block "still in use".
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import {
  deviceOf, virtioMemState, VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_STATE, VIRTIO_MEM_REQ_UNPLUG, VIRTIO_MEM_REQ_UNPLUG_ALL,
  VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_ERROR, VIRTIO_MEM_STATE_MIXED, VIRTIO_MEM_STATE_PLUGGED, VIRTIO_MEM_STATE_UNPLUGGED,
} from './device';
import { deviceRequest, stateRequest } from './driver';

/** A guest of 4096 frames with a 4-block device (its region: gfns 0x800..0xfff). */
function fourBlocks() {
  const s = stepper(machine({ 'virtio-mem.blocks': 4 }));
  s.apply('guest.spawn', { guest: 0 });
  const g = s.world.guests[0]!;
  const d = deviceOf(s.world, g)!;
  expect([d.base, d.blocks, g.config.frames]).toEqual([0x800, 4, 0x1000]);
  return { ...s, g, d };
}

test('PLUG, STATE and UNPLUG at the region edges: the last block and a range ending at the region end are inside, one block further is ERROR', () => {
  const { r, apply, d } = fourBlocks();
  apply('virtio-mem.resize', { guest: 0, blocks: 4 });
  expect(apply('virtio-mem.plug', { guest: 0, block: 3 })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  expect(apply('virtio-mem.plug', { guest: 0, block: 4 })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ERROR });
  expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'plugged']);
  expect(d.plugged).toBe(1);
  const state = (block: number, count: number) => apply('virtio-mem.state', { guest: 0, block, count }).value;
  expect(state(3, 1)).toBe(VIRTIO_MEM_STATE_PLUGGED);
  expect(state(2, 2)).toBe(VIRTIO_MEM_STATE_MIXED);
  expect(state(0, 3)).toBe(VIRTIO_MEM_STATE_UNPLUGGED);
  expect(state(0, 4)).toBe(VIRTIO_MEM_STATE_MIXED);
  expect(state(3, 2)).toBe(VIRTIO_MEM_RESP_ERROR);
  expect(state(1, 4)).toBe(VIRTIO_MEM_RESP_ERROR);
  expect(state(4, 1)).toBe(VIRTIO_MEM_RESP_ERROR);
  // The last block offlines and unplugs like any other.
  apply('virtio-mem.resize', { guest: 0, blocks: 0 });
  expect(apply('virtio-mem.unplug.begin', { guest: 0, block: 3 })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug.finish', { guest: 0, block: 3 })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'unplugged']);
  expect(d.plugged).toBe(0);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a range that is empty or starts before the region is ERROR, for STATE, PLUG and UNPLUG alike, and changes nothing', () => {
  const { r, apply, g, d } = fourBlocks();
  const w = r.world;
  apply('virtio-mem.resize', { guest: 0, blocks: 2 });
  expect(apply('virtio-mem.plug', { guest: 0, block: 0 }).value).toBe(VIRTIO_MEM_RESP_ACK);
  // STATE with nb_blocks 0 (virtio_mem_valid_range: "!size" is invalid), even at a valid block.
  expect(stateRequest(w, g, 0, 0)).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ERROR });
  expect(stateRequest(w, g, 3, 0)).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ERROR });
  // A range starting one block below the region, even one reaching into it.
  expect(stateRequest(w, g, -1, 2)).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ERROR });
  expect(deviceRequest(w, g, d, VIRTIO_MEM_REQ_PLUG, -1)).toBe(VIRTIO_MEM_RESP_ERROR);
  expect(deviceRequest(w, g, d, VIRTIO_MEM_REQ_UNPLUG, -1)).toBe(VIRTIO_MEM_RESP_ERROR);
  expect(deviceRequest(w, g, d, VIRTIO_MEM_REQ_UNPLUG, 4)).toBe(VIRTIO_MEM_RESP_ERROR);
  expect(d.state).toEqual(['plugged', 'unplugged', 'unplugged', 'unplugged']);
  expect(d.plugged).toBe(1);
  // Nothing was discarded (an UNPLUG of "block -1" would have been the guest memory just below
  // the region).
  expect(virtioMemState(w).unplugs.size).toBe(0);
  expect(r.violation).toBeNull();
});

test('UNPLUG of a block that is not plugged is ERROR: plugged_size, the block and its memory stay as they were', () => {
  const { r, apply, g, d } = fourBlocks();
  const w = r.world;
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  expect(apply('virtio-mem.plug', { guest: 0, block: 0 }).value).toBe(VIRTIO_MEM_RESP_ACK);
  const exchanges = virtioMemState(w).exchanges;
  expect(deviceRequest(w, g, d, VIRTIO_MEM_REQ_UNPLUG, 1)).toBe(VIRTIO_MEM_RESP_ERROR);
  expect(d.state).toEqual(['plugged', 'unplugged', 'unplugged', 'unplugged']);
  expect(d.plugged).toBe(1);
  expect(virtioMemState(w).unplugs.size).toBe(0);
  expect([...exchanges.values()].at(-1)).toMatchObject({ guest: 0, request: VIRTIO_MEM_REQ_UNPLUG, block: 1, response: VIRTIO_MEM_RESP_ERROR, plugged: 1, requested: 1 });
  expect(r.violation).toBeNull();
});

test('a request type the device does not know is ERROR, recorded with the block it named', () => {
  const { r, g, d } = fourBlocks();
  const w = r.world;
  const unknown = VIRTIO_MEM_REQ_STATE + 1;
  expect(deviceRequest(w, g, d, unknown, 0)).toBe(VIRTIO_MEM_RESP_ERROR);
  expect([...virtioMemState(w).exchanges.values()].at(-1)).toMatchObject({ request: unknown, block: 0, response: VIRTIO_MEM_RESP_ERROR });
  expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'unplugged']);
});

test('STATE is recorded as an ACKed exchange of its first block, an out-of-region STATE as ERROR', () => {
  const { r, apply } = fourBlocks();
  const ex = () => [...virtioMemState(r.world).exchanges.values()].at(-1);
  expect(apply('virtio-mem.state', { guest: 0, block: 1, count: 2 }).value).toBe(VIRTIO_MEM_STATE_UNPLUGGED);
  expect(ex()).toMatchObject({ request: VIRTIO_MEM_REQ_STATE, block: 1, response: VIRTIO_MEM_RESP_ACK });
  expect(apply('virtio-mem.state', { guest: 0, block: 2, count: 3 }).value).toBe(VIRTIO_MEM_RESP_ERROR);
  expect(ex()).toMatchObject({ request: VIRTIO_MEM_REQ_STATE, block: 2, response: VIRTIO_MEM_RESP_ERROR });
});

test('an UNPLUG records as in use only pages of its own block: an online neighbour, or the end of guest memory after the last block, is not counted', () => {
  const { r, apply, d } = fourBlocks();
  const w = r.world;
  apply('virtio-mem.resize', { guest: 0, blocks: 4 });
  for (const b of [0, 1, 2, 3]) expect(apply('virtio-mem.plug', { guest: 0, block: b }).value).toBe(VIRTIO_MEM_RESP_ACK);
  apply('virtio-mem.resize', { guest: 0, blocks: 2 });
  // Block 2 has block 3 online after it, block 3 the end of guest memory.
  for (const b of [2, 3]) {
    expect(apply('virtio-mem.unplug.begin', { guest: 0, block: b })).toEqual({ ok: true });
    expect(apply('virtio-mem.unplug.finish', { guest: 0, block: b })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  }
  const records = [...virtioMemState(w).unplugs.values()];
  expect(records.map((u) => [u.block, u.inUse])).toEqual([[2, []], [3, []]]);
  expect(d.state).toEqual(['plugged', 'plugged', 'unplugged', 'unplugged']);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('UNPLUG_ALL discards exactly the plugged blocks, block 0 among them, each once', () => {
  const { r, apply, g, d } = fourBlocks();
  const w = r.world;
  apply('virtio-mem.resize', { guest: 0, blocks: 2 });
  expect(apply('virtio-mem.plug', { guest: 0, block: 0 }).value).toBe(VIRTIO_MEM_RESP_ACK);
  expect(apply('virtio-mem.plug', { guest: 0, block: 2 }).value).toBe(VIRTIO_MEM_RESP_ACK);
  // The driver sends UNPLUG_ALL only with nothing online (unplugAll refuses otherwise): the
  // device's own answer is what is tested here.
  expect(deviceRequest(w, g, d, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, d.blocks)).toBe(VIRTIO_MEM_RESP_ACK);
  expect([...virtioMemState(w).unplugs.values()].map((u) => u.block)).toEqual([0, 2]);
  expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'unplugged']);
  expect(d.plugged).toBe(0);
});

test('the host resizes within the device (0 to all its blocks; one more is out of range), and the driver sends UNPLUG_ALL when no plugged block is online', () => {
  const { r, apply } = fourBlocks();
  expect(apply('virtio-mem.resize', { guest: 0, blocks: 5 })).toEqual({ ok: false, error: 'out-of-range' });
  expect(apply('virtio-mem.resize', { guest: 0, blocks: 4 })).toEqual({ ok: true });
  expect(apply('virtio-mem.resize', { guest: 0, blocks: 0 })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug-all', { guest: 0 })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  expect(r.violation).toBeNull();
});
