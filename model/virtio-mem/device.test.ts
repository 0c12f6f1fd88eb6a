/**
 * The device's bookkeeping: which block a gfn lies in (exactly the region [base, base + blocks *
 * block_size), -1 on either side of it), whether a gfn is in an unplugged block, and the bounded
 * history of exchanges and unplug records (the newest KEPT_MAX = 128 kept, oldest dropped first).
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import {
  BLOCK_FRAMES, blockBase, blockOf, deviceOf, inUnpluggedBlock, virtioMemState, VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_STATE,
  VIRTIO_MEM_REQ_UNPLUG, VIRTIO_MEM_RESP_ACK,
} from './device';
import { deviceRequest } from './driver';

const KEPT = 128;

function device(blocks: number) {
  const s = stepper(machine({ 'virtio-mem.blocks': blocks }));
  s.apply('guest.spawn', { guest: 0 });
  const g = s.world.guests[0]!;
  return { ...s, g, d: deviceOf(s.world, g)! };
}

test('blockOf is the block of every gfn of the region and -1 just below and just above it; blockBase is each block\'s first gfn', () => {
  const { d } = device(4);
  const end = d.base + 4 * BLOCK_FRAMES;
  expect([blockOf(d, d.base - 1), blockOf(d, d.base), blockOf(d, d.base + BLOCK_FRAMES - 1), blockOf(d, d.base + BLOCK_FRAMES)]).toEqual([-1, 0, 0, 1]);
  expect([blockOf(d, end - 1), blockOf(d, end), blockOf(d, 0)]).toEqual([3, -1, -1]);
  expect([0, 1, 2, 3].map((b) => blockBase(d, b))).toEqual([0, 1, 2, 3].map((b) => d.base + b * BLOCK_FRAMES));
});

test('inUnpluggedBlock: true exactly for gfns of unplugged blocks; false below the region, in a plugged block, and on a guest with no device', () => {
  const { r, apply, g, d } = device(4);
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  expect(apply('virtio-mem.plug', { guest: 0, block: 1 }).value).toBe(VIRTIO_MEM_RESP_ACK);
  const at = (gfn: number) => inUnpluggedBlock(r.world, g, gfn);
  expect([at(d.base - 1), at(d.base), at(d.base + BLOCK_FRAMES - 1), at(d.base + BLOCK_FRAMES), at(d.base + 2 * BLOCK_FRAMES)]).toEqual([false, true, true, false, true]);
  const none = device(0);
  expect(inUnpluggedBlock(none.r.world, none.g, d.base)).toBe(false);
});

test(`the exchange history keeps the newest ${KEPT}, dropping the oldest first; ids increase in the order of the requests`, () => {
  const { r, g, d } = device(4);
  const w = r.world;
  for (let i = 0; i < KEPT + 5; i++) deviceRequest(w, g, d, VIRTIO_MEM_REQ_STATE, i % 4, 1);
  const ids = [...virtioMemState(w).exchanges.keys()];
  expect(ids).toHaveLength(KEPT);
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
  expect(ids[KEPT - 1]! - ids[0]!).toBe(KEPT - 1);
  // The first five requests (blocks 0, 1, 2, 3, 0) are gone: the oldest kept is the sixth.
  expect(virtioMemState(w).exchanges.get(ids[0]!)).toMatchObject({ request: VIRTIO_MEM_REQ_STATE, block: 1 });
});

test(`the unplug records keep the newest ${KEPT} too, each with its block and guest`, () => {
  const { r, apply, g, d } = device(4);
  const w = r.world;
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  // The device alone plugs and unplugs block 2 over and over (its memory never onlined).
  for (let i = 0; i < KEPT + 2; i++) {
    expect(deviceRequest(w, g, d, VIRTIO_MEM_REQ_PLUG, 2)).toBe(VIRTIO_MEM_RESP_ACK);
    expect(deviceRequest(w, g, d, VIRTIO_MEM_REQ_UNPLUG, 2)).toBe(VIRTIO_MEM_RESP_ACK);
  }
  const s = virtioMemState(w);
  const ids = [...s.unplugs.keys()];
  expect(ids).toHaveLength(KEPT);
  expect(ids).toEqual([...ids].sort((a, b) => a - b));
  expect([...s.unplugs.values()].every((u) => u.block === 2 && u.guest === 0 && u.inUse.length === 0)).toBe(true);
  expect(s.exchanges.size).toBe(KEPT);
  expect(d.plugged).toBe(0);
});
