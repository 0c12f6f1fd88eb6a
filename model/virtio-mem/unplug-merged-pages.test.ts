/**
 * A virtio-mem block whose pages KSM had merged, offlined and unplugged: offline_pages
 * migrates the pages out (the copies are private pages again), and the discard of the block
 * (QEMU ram_block_discard_range -> MADV_DONTNEED on the host range; for a KSM page that is
 * zap_pte_range dropping the stable-node mapping, mm/ksm.c rmap item removal) drops the block's
 * gfns from the KSM page's sharers instead of freeing its frame as if it were the guest's own.
 * The data reads the same afterwards, the KSM page is gone, and the properties hold.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { ksmState } from '../ksm/ksm';
import { deviceOf } from './device';

const VPN = 2 ** 24;

test('unplugging a block with two merged pages drops them from the KSM page: the block is unplugged, the data is private again outside it, and the KSM frame goes back', () => {
  const { r, apply, errors } = stepper(machine({ 'virtio-mem.blocks': 4 }));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  apply('virtio-mem.plug', { guest: 0, block: 0 });
  const d = deviceOf(r.world, g)!;
  apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 2, write: true, exec: false, huge: false });
  // Both pages get the same contents, and land in the freshly plugged block.
  apply('ksm.fill', { guest: 0, pid: 1, vpn: VPN, pattern: 1 });
  apply('ksm.fill', { guest: 0, pid: 1, vpn: VPN + 1, pattern: 1 });
  const p = g.processes.get(1)!;
  const gfns = [VPN, VPN + 1].map((v) => peekLeaf(r.world, g, p, v)!.gfn);
  for (const gfn of gfns) expect(gfn >= d.base && gfn < d.base + 512).toBe(true);
  const lo = Math.min(...gfns);
  apply('ksm.madvise', { guest: 0, gfn: lo, pages: Math.max(...gfns) - lo + 1, mergeable: true });
  apply('ksm.scan', { pages: 4096 });
  const nodes = [...ksmState(r.world).nodes.values()];
  expect(nodes).toHaveLength(1);
  expect(nodes[0]!.sharers.size).toBe(2);
  const shared = g.backing.get(gfns[0]!)!;
  expect(g.backing.get(gfns[1]!)).toBe(shared);
  const data = r.world.frames.read(shared);
  expect(errors().every((e) => e === undefined)).toBe(true);

  apply('virtio-mem.resize', { guest: 0, blocks: 0 });
  apply('virtio-mem.unplug.begin', { guest: 0, block: 0 });
  apply('virtio-mem.unplug.finish', { guest: 0, block: 0 });
  expect(errors().slice(-3)).toEqual([undefined, undefined, undefined]);
  expect(d.state[0]).toBe('unplugged');
  expect(ksmState(r.world).nodes.size).toBe(0);
  for (const gfn of gfns) expect(g.backing.has(gfn)).toBe(false);
  for (const v of [VPN, VPN + 1]) {
    const moved = peekLeaf(r.world, g, p, v)!.gfn;
    expect(moved < d.base || moved >= d.base + 512).toBe(true);
    expect(g.backing.get(moved)).not.toBe(shared);
    expect(r.world.frames.read(g.backing.get(moved)!)).toEqual(data);
  }
  // The KSM page's frame went back to the host (the frame-accounting properties check the rest).
  expect(r.world.frames.owner(shared)).toBeUndefined();
  apply('guest.read', { guest: 0, pid: 1, vpn: VPN + 1 });
  expect(errors().at(-1)).toBeUndefined();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
