/**
 * virtio-mem's offline (unplugFinish, the model of offline_pages -> do_migrate_range in
 * mm/memory_hotplug.c) meeting what makes a migration out of the block fail: a THP in the block
 * (split first, as do_migrate_range does for a large folio), a page whose host frame is under a
 * host migration (the guest's copy waits for the host's migration entry: the migration fails and
 * offline_pages gives up with EBUSY), and no free page outside the isolated range
 * (alloc_migration_target fails). Each failure puts the block back online, plugged, with the
 * data where it was.
 */
import { Runner } from '../../fuzz/run';
import { compactionState } from '../compaction/state';
import type { ModelConfig } from '../config';
import { peekLeaf } from '../mmu/peek';
import { deviceOf } from './device';

const VPN = 2 ** 24;

function runner(faults: string[] = [], hugePages = false, options: Record<string, number> = {}): { r: Runner; errors: (string | undefined)[]; details: string[] } {
  const errors: (string | undefined)[] = [];
  const details: string[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages }], faults, options: { 'virtio-mem.blocks': 4, ...options } };
  const r = new Runner(c, {
    check: 'incremental',
    onStep: (_s, _op, res) => {
      errors.push(res.ok ? undefined : res.error);
      details.push(res.ok ? '' : res.detail);
    },
  });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
  return { r, errors, details };
}

function gfnAt(r: Runner, vpn: number): number {
  const g = r.world.guests[0]!;
  return peekLeaf(r.world, g, g.processes.get(1)!, vpn)!.gfn;
}

test('a THP in the block is split and its pages migrate out one by one: the block is unplugged and the data reads the same elsewhere', () => {
  // guest THP needs huge pages configured (fault.ts: vma.huge && g.config.hugePages).
  const { r, errors } = runner([], true);
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 512, write: true, exec: false, huge: true } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN + 3 } });
  const head = gfnAt(r, VPN);
  expect(head).toBe(d.base);
  expect(peekLeaf(r.world, g, g.processes.get(1)!, VPN)!.level).toBe(2);
  const data = r.world.frames.read(g.backing.get(head + 3)!);
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
  errors.length = 0;
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  expect(errors).toEqual([undefined, undefined]);
  expect(d.state[0]).toBe('unplugged');
  const leaf = peekLeaf(r.world, g, g.processes.get(1)!, VPN + 3)!;
  expect(leaf.level).toBe(1);
  expect(leaf.gfn < d.base || leaf.gfn >= d.base + 512).toBe(true);
  expect(r.world.frames.read(g.backing.get(leaf.gfn)!)).toEqual(data);
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN + 3 } });
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

/** pid 1's written anonymous page at VPN, which lands in the freshly plugged block 0. */
function anonInBlock(r: Runner): number {
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 2, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
  const d = deviceOf(r.world, r.world.guests[0]!)!;
  const gfn = gfnAt(r, VPN);
  expect(gfn >= d.base && gfn < d.base + 512).toBe(true);
  return gfn;
}

test("a page whose host frame is under a host migration fails to migrate out: the offline gives up (EBUSY, 'migration ... failed'), the block is online and plugged again, and a retry after the host's migration unplugs it", () => {
  const { r, errors, details } = runner();
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  const gfn = anonInBlock(r);
  const data = r.world.frames.read(g.backing.get(gfn)!);
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  // The host's migration (migrate_pages on the host) unmaps the frame: its EPT leaf becomes a
  // migration entry until the remap.
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
  const [h] = [...compactionState(r.world).active.keys()];
  r.apply({ kind: 'compaction.migrate.step', args: { id: h! } });
  expect(compactionState(r.world).active.get(h!)?.stage).toBe('unmapped');
  errors.length = 0;
  details.length = 0;
  r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  expect(errors).toEqual(['busy']);
  expect(details[0]).toMatch(new RegExp(`EBUSY, migration of gfn 0x${gfn.toString(16)} failed`));
  expect(d.state[0]).toBe('plugged');
  expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
  expect(gfnAt(r, VPN)).toBe(gfn);
  for (let i = 0; i < 2; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: h! } });
  expect(compactionState(r.world).finished.get(h!)?.stage).toBe('done');
  errors.length = 0;
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  expect(errors).toEqual([undefined, undefined]);
  expect(d.state[0]).toBe('unplugged');
  const moved = gfnAt(r, VPN);
  expect(moved < d.base || moved >= d.base + 512).toBe(true);
  expect(r.world.frames.read(g.backing.get(moved)!)).toEqual(data);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("no free page outside the isolated block (a hog took them all): the offline gives up (EBUSY, 'no free page to migrate to') and the block is online again", () => {
  // No swap device and pid 1 exempt from the OOM killer (oom_score_adj -1000): the hog's
  // direct reclaim and OOM kill cannot take the page in the block, only the free pages.
  const { r, errors, details } = runner([], false, { 'swap.slots': 0 });
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  const gfn = anonInBlock(r);
  r.apply({ kind: 'oom.adj', args: { guest: 0, pid: 1, adj: -1000 } });
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'mm.hog', args: { guest: 0, pages: 4096 } });
  expect(g.buddy.freePages()).toBe(0);
  expect(g.owners.get(gfn)).toMatchObject({ kind: 'anon', pid: 1, vpn: VPN });
  errors.length = 0;
  details.length = 0;
  r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  expect(errors).toEqual(['busy']);
  expect(details[0]).toMatch(/EBUSY, no free page to migrate to$/);
  expect(d.state[0]).toBe('plugged');
  expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
  expect(gfnAt(r, VPN)).toBe(gfn);
  expect(r.violation).toBeNull();
});

test('virtio-mem-offline-skips-unmovable: a page already locked by another migration is skipped instead of failing the offline; unplugging the block with it in use is caught by virtio-mem-unplug-no-data-loss and oracle-agreement', () => {
  const { r, errors } = runner(['virtio-mem-offline-skips-unmovable']);
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  const gfn = anonInBlock(r);
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  // A compaction migration takes the page's lock (folio_trylock) between the two offline steps:
  // do_migrate_range's own migration of it cannot start.
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn } });
  expect(compactionState(r.world).active.size).toBe(1);
  expect(r.violation).toBeNull();
  errors.length = 0;
  const free = g.buddy.freePages();
  const next = g.owners.get(d.base + 512);
  const vs = r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  expect(errors).toEqual([undefined]);
  expect(d.state[0]).toBe('unplugged');
  expect(g.owners.get(gfn)).toMatchObject({ kind: 'anon', pid: 1, vpn: VPN });
  // The driver took every other page of the block off the allocator (isolated, they were not
  // counted free), and nothing past it.
  for (let p = d.base; p < d.base + 512; p++) if (p !== gfn) expect(g.owners.get(p)).toEqual({ kind: 'virtio-mem', block: 0 });
  expect(g.buddy.freePages()).toBe(free);
  expect(g.owners.get(d.base + 512)).toEqual(next);
  expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
  // The data is gone from under the process (the oracle reads zeros where it wrote) and the
  // device property names the in-use page it unplugged.
  expect(vs.map((v) => [v.property, v.kind])).toEqual([
    ['oracle-agreement', 'content-mismatch'],
    ['virtio-mem-unplug-no-data-loss', 'unplugged-in-use'],
  ]);
  expect(vs[1]!.actual).toContain(`gfn 0x${gfn.toString(16)}: pid 1`);
});

test("a THP in the block that cannot be split (no free page for its PTE table: the hog took them all) makes the offline give up (EBUSY, 'could not be split'); the THP stays mapped by its PMD", () => {
  const { r, errors, details } = runner([], true, { 'swap.slots': 0 });
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 512, write: true, exec: false, huge: true } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
  expect(gfnAt(r, VPN)).toBe(d.base);
  r.apply({ kind: 'oom.adj', args: { guest: 0, pid: 1, adj: -1000 } });
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'mm.hog', args: { guest: 0, pages: 4096 } });
  expect(g.buddy.freePages()).toBe(0);
  errors.length = 0;
  details.length = 0;
  r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  expect(errors).toEqual(['busy']);
  expect(details[0]).toMatch(/EBUSY, THP at gfn 0x[0-9a-f]+ could not be split: g0: no page for a L1 table \(no-memory\)$/);
  expect(d.state[0]).toBe('plugged');
  expect(peekLeaf(r.world, g, g.processes.get(1)!, VPN)).toMatchObject({ level: 2, gfn: d.base });
  expect(r.violation).toBeNull();
});
