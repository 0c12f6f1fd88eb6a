/**
 * virtio-mem beside the swarm's boot-time offlining (reclaim.bootOfflinePercent isolates the
 * highest pageblocks, the device's among them). Found by the default campaign (seed 1): the
 * device unplugged a block the guest still had free in its allocator.
 * - Onlining a plugged block leaves its pageblock MOVABLE whatever it was while offline
 *   (online_pages -> undo_isolate_page_range(..., MIGRATE_MOVABLE)): the guest can allocate
 *   from it.
 * - Offlining takes exactly the block's own pageblock, even when its free pages had merged with
 *   an isolated free neighbour's into a larger block while both were isolated.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { FRAMES_PER_2M } from '../constants';

function runner(blocks: number): Runner {
  const c: ModelConfig = {
    hostFrames: 2 ** 14,
    guests: [{ frames: 2 ** 13, guestLevels: 4, eptLevels: 4, hugePages: false }],
    faults: [],
    options: { 'reclaim.bootOfflinePercent': 90, 'virtio-mem.blocks': blocks },
  };
  return new Runner(c, { check: 'incremental' });
}

const TOP = 2 ** 13 - FRAMES_PER_2M; // the last pageblock: the device's last block

test('a plugged block is online: its pageblock is MOVABLE and the guest allocates from it; unplugging it takes it back whole', () => {
  const r = runner(4);
  const g = r.world.guests[0]!;
  expect(g.buddy.migratetypeOf(TOP)).toBe('ISOLATE');
  for (const [kind, args] of [['virtio-mem.resize', { guest: 0, blocks: 1 }], ['virtio-mem.plug', { guest: 0, block: 3 }]] as const) {
    r.apply({ kind, args });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
  }
  expect(g.buddy.migratetypeOf(TOP)).toBe('MOVABLE');
  expect(g.buddy.freeBlockAt(TOP)).toMatchObject({ pfn: TOP, list: 'MOVABLE' });
  for (const kind of ['virtio-mem.unplug.begin', 'virtio-mem.unplug.finish']) r.apply({ kind, args: { guest: 0, block: 3 } });
  expect(r.outcomes.slice(-2)).toEqual([true, true]);
  expect(g.owners.get(TOP)).toEqual({ kind: 'virtio-mem', block: 3 });
  expect(r.violation).toBeNull();
});

test('offlining a block whose free pages merged with an isolated free neighbour takes its own pageblock only', () => {
  // One device block (the last pageblock); the pageblock below it is offline at boot and free.
  const r = runner(1);
  const g = r.world.guests[0]!;
  const below = TOP - FRAMES_PER_2M;
  expect(g.buddy.migratetypeOf(below)).toBe('ISOLATE');
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  // Both pageblocks isolated and free: one free block of order 10 covers them.
  expect(g.buddy.freeBlockAt(below)).toMatchObject({ pfn: below, order: 10 });
  r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  expect(r.outcomes.slice(-4)).toEqual([true, true, true, true]);
  expect(g.owners.get(TOP)).toEqual({ kind: 'virtio-mem', block: 0 });
  expect(g.owners.get(below)).toBeUndefined();
  expect(g.buddy.freeBlockAt(below)).toMatchObject({ pfn: below, order: 9 });
  expect(r.violation).toBeNull();
});
