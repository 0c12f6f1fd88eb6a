/**
 * The device answers BUSY to an UNPLUG only while the host holds a frame of that block (a
 * reclaim or a migration in flight on it: QEMU cannot discard memory it is still moving).
 * The host busy on the neighbouring block's first gfn, or on the last gfn of the block below,
 * is outside the block: the UNPLUG is ACKed.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { BLOCK_FRAMES, deviceOf, VIRTIO_MEM_RESP_ACK } from './device';

/** A 4-block device; `first` is plugged, then a kernel allocation (order 9, written, so every page backed) lands in it, then `second` is plugged. */
function setup(first: number, second: number) {
  const s = stepper(machine({ 'virtio-mem.blocks': 4 }));
  s.apply('guest.spawn', { guest: 0 });
  const g = s.world.guests[0]!;
  const d = deviceOf(s.world, g)!;
  s.apply('virtio-mem.resize', { guest: 0, blocks: 2 });
  expect(s.apply('virtio-mem.plug', { guest: 0, block: first }).value).toBe(VIRTIO_MEM_RESP_ACK);
  expect(s.apply('guest.kalloc', { guest: 0, order: 9, mt: 'MOVABLE' })).toEqual({ ok: true, value: 1 });
  const k = d.base + first * BLOCK_FRAMES;
  expect(g.kernelAllocs.get(1)!.gfn).toBe(k);
  expect(s.apply('guest.kwrite', { guest: 0, alloc: 1 }).ok).toBe(true);
  for (const gfn of [k, k + BLOCK_FRAMES - 1]) expect(g.backing.has(gfn)).toBe(true);
  expect(s.apply('virtio-mem.plug', { guest: 0, block: second }).value).toBe(VIRTIO_MEM_RESP_ACK);
  s.apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  return { ...s, g, d };
}

test('a host reclaim, then a host migration, of the first gfn of the block above does not make the UNPLUG of block 0 BUSY', () => {
  const { r, apply, d } = setup(1, 0);
  const above = d.base + BLOCK_FRAMES;
  expect(apply('host.reclaim.begin', { guest: 0, gfn: above })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug.begin', { guest: 0, block: 0 })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug.finish', { guest: 0, block: 0 })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  expect(apply('host.reclaim.end', { guest: 0 })).toEqual({ ok: true });
  // The kernel reads its allocation: the host faults the reclaimed page back in.
  expect(apply('guest.kread', { guest: 0, alloc: 1 })).toEqual({ ok: true });
  expect(r.world.guests[0]!.backing.has(above)).toBe(true);
  // Block 0 plugged again; this time the host migrates that frame.
  apply('virtio-mem.resize', { guest: 0, blocks: 2 });
  expect(apply('virtio-mem.plug', { guest: 0, block: 0 }).value).toBe(VIRTIO_MEM_RESP_ACK);
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  expect(apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: above }).ok).toBe(true);
  expect(apply('virtio-mem.unplug.begin', { guest: 0, block: 0 })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug.finish', { guest: 0, block: 0 })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  expect(d.state).toEqual(['unplugged', 'plugged', 'unplugged', 'unplugged']);
  expect(r.violation).toBeNull();
});

test('a host reclaim of the last gfn of block 0 does not make the UNPLUG of block 1 BUSY', () => {
  const { r, apply, d } = setup(0, 1);
  expect(apply('host.reclaim.begin', { guest: 0, gfn: d.base + BLOCK_FRAMES - 1 })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug.begin', { guest: 0, block: 1 })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug.finish', { guest: 0, block: 1 })).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  expect(d.state).toEqual(['plugged', 'unplugged', 'unplugged', 'unplugged']);
  expect(r.violation).toBeNull();
});
