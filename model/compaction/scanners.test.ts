/**
 * compact_zone's two scanners and its ghost, on a fragmented guest zone (mm/compaction.c):
 * - the free scanner starts at the zone's last pageblock and walks down, taking the free pages
 *   of suitable target pageblocks (suitable_migration_target) in batches of COMPACT_CLUSTER_MAX,
 *   each free block from its last page down; the migrate scanner walks up from the first
 *   pageblock; the run ends where they meet, so no page moves into a pageblock at or below its
 *   own; every target it isolated and did not use goes back to the free lists;
 * - the ghost taken before the run counts, per pageblock, the free pages, the movable pages
 *   (exactly those the migrate scanner's own test, guestMovable, accepts) and the rest.
 */
import { Runner } from '../../fuzz/run';
import type { BuddyAllocator } from '../buddy/buddy';
import { PAGEBLOCK_FRAMES } from '../constants';
import { COMPACT_CLUSTER_MAX, FAULT_FREE_SCANNER_STARTS_LOW } from './compact';
import * as migrate from './migrate';
import { guestMovable, hostMovable } from './migrate';
import { compactionState, NO_PROCESS } from './state';
import { blockAvailable, pageblockBlocks, pageblocks, suitableMigrationTarget } from './zone';

const FRAG_VPN = 2 ** 24;
const pbOf = (pfn: number) => pfn - (pfn % PAGEBLOCK_FRAMES);

/** A guest zone left with one-page holes in every pageblock (compaction.fragment until no pageblock is whole). */
function fragmented(faults: string[] = []): Runner {
  const r = new Runner({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults }, { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  const g = r.world.guests[0]!;
  for (let i = 0; i < 8 && blockAvailable(g.buddy, 9); i++)
    r.apply({ kind: 'compaction.fragment', args: { guest: 0, pid: 1, vpn: FRAG_VPN + i * 4096, pages: Math.min(1024, g.buddy.freePages()) } });
  expect(blockAvailable(g.buddy, 9)).toBe(false);
  return r;
}

/**
 * The ghost a run should take of zone b, worked out page by page: per pageblock its free pages,
 * the allocated order-0 pages `movable` accepts, the offsets of every other page, and its type.
 */
function expectedGhost(b: BuddyAllocator, movable: (pfn: number) => boolean) {
  return pageblocks(b).map((pb) => {
    let free = 0;
    let moving = 0;
    const other: number[] = [];
    for (const blk of pageblockBlocks(b, pb)) {
      for (let i = 0; i < Math.min(1 << blk.order, PAGEBLOCK_FRAMES); i++) {
        const pfn = Math.max(blk.pfn, pb) + i;
        if (blk.free) free++;
        else if (blk.order === 0 && movable(pfn)) moving++;
        else other.push(pfn - pb);
      }
    }
    const mt = b.migratetypeOf(pb);
    return { pfn: pb, free, movable: moving, other, isolated: mt === 'ISOLATE', usable: mt === 'UNMOVABLE' || mt === 'MOVABLE' || mt === 'RECLAIMABLE', target: suitableMigrationTarget(b, pb) };
  });
}

/**
 * Runs a proactive order-9 compaction of the zone (side) and checks the scanners: the first
 * batch of targets is the first 32 pages of the free scanner's order (suitable pageblocks from
 * the top, each one's free blocks in pfn order, each block from its last page down), used
 * last-isolated first; sources go up, and every
 * target lies above every source's pageblock; moves are one for one and unused targets go back.
 */
function checkScanners(r: Runner, side: 'guest' | 'host', minMoves: number): void {
  const b = side === 'guest' ? r.world.guests[0]!.buddy : r.world.hostBuddy;
  const scanOrder: number[] = [];
  for (const pb of [...pageblocks(b)].reverse()) {
    if (!suitableMigrationTarget(b, pb)) continue;
    for (const blk of pageblockBlocks(b, pb)) if (blk.free) for (let p = blk.pfn + (1 << blk.order) - 1; p >= blk.pfn; p--) scanOrder.push(p);
  }
  const free = b.freePages();
  const last = Math.max(0, ...compactionState(r.world).finished.keys());
  r.apply({ kind: 'compaction.run', args: { side, guest: 0, order: 9, proactive: true } });
  const run = [...compactionState(r.world).runs.values()].pop()!;
  const moves = [...compactionState(r.world).finished.values()].filter((m) => m.id > last && m.reason === 'compaction');
  expect(run).toMatchObject({ side, failures: 0 });
  expect(moves.length).toBe(run.migrated);
  expect(moves.length).toBeGreaterThan(minMoves);
  const batch = scanOrder.slice(0, COMPACT_CLUSTER_MAX);
  expect(moves.slice(0, COMPACT_CLUSTER_MAX).map((m) => m.dst)).toEqual([...batch].reverse().slice(0, moves.length));
  const srcBlocks = moves.map((m) => pbOf(m.src));
  for (const pb of srcBlocks) expect(b.migratetypeOf(pb)).not.toBe('ISOLATE');
  expect(srcBlocks).toEqual([...srcBlocks].sort((x, y) => x - y));
  expect(Math.max(...srcBlocks)).toBeLessThan(Math.min(...moves.map((m) => pbOf(m.dst))));
  expect(b.freePages()).toBe(free);
  expect(r.violation).toBeNull();
}

test('the free scanner takes targets from the top down in a batch of 32, the migrate scanner sources from the bottom up, and they never cross', () => {
  // An isolated pageblock (memory being offlined) is no source: the migrate scanner passes it.
  const r = fragmented();
  r.apply({ kind: 'guest.isolate', args: { guest: 0, pageblock: 1 } });
  expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
  checkScanners(r, 'guest', COMPACT_CLUSTER_MAX);
});

test('under the injected bug (compaction-free-scanner-starts-low) the free scanner starts at the migrate scanner, passing an unsuitable pageblock, and pages only shuffle within their pageblock', () => {
  const r = fragmented([FAULT_FREE_SCANNER_STARTS_LOW]);
  const b = r.world.guests[0]!.buddy;
  const freeOf = (pb: number) => pageblockBlocks(b, pb).flatMap((blk) => (blk.free ? Array.from({ length: 1 << blk.order }, (_, k) => blk.pfn + (1 << blk.order) - 1 - k) : []));
  const first = pageblocks(b).find((pb) => suitableMigrationTarget(b, pb) && freeOf(pb).length > 0)!;
  // Pageblock 0 (the kernel's, UNMOVABLE) is no target: the scanner passes it.
  expect(first).toBe(PAGEBLOCK_FRAMES);
  const batch = freeOf(first).slice(0, COMPACT_CLUSTER_MAX);
  // Every migration the run begins, in order (the state keeps only the last 256 finished).
  const moves: { src: number; dst: number }[] = [];
  const real = migrate.beginGuestMigration;
  const spy = jest.spyOn(migrate, 'beginGuestMigration').mockImplementation((w, g, src, reason, dst) => (moves.push({ src, dst: dst! }), real(w, g, src, reason, dst)));
  r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: true } });
  spy.mockRestore();
  expect(moves.slice(0, batch.length).map((m) => m.dst)).toEqual([...batch].reverse());
  // The lowest suitable pageblock runs out of free pages while the migrate scanner is still
  // below it: the free scanner goes on up to the next one.
  // The hazard itself: every page moves within its own pageblock (each move frees a page there
  // that the scanner takes next), so no pageblock is ever emptied.
  expect(moves.length).toBeGreaterThan(COMPACT_CLUSTER_MAX);
  for (const m of moves) expect(pbOf(m.dst)).toBe(pbOf(m.src));
});

test('under compaction-free-scanner-starts-low, a migrate-scanner pageblock with no free page: the free scanner goes on up to the next one', () => {
  const r = fragmented([FAULT_FREE_SCANNER_STARTS_LOW]);
  const g = r.world.guests[0]!;
  const b = g.buddy;
  // Pageblock 1's free pages taken by the kernel: it keeps its movable pages and has no hole.
  for (const blk of pageblockBlocks(b, PAGEBLOCK_FRAMES))
    if (blk.free) for (let p = blk.pfn; p < blk.pfn + (1 << blk.order); p++) if (typeof b.allocAt(p, 0, 'MOVABLE') === 'number') g.setOwner(p, { kind: 'kernel', alloc: 1000 + p });
  expect(pageblockBlocks(b, PAGEBLOCK_FRAMES).some((blk) => blk.free)).toBe(false);
  const moves: { src: number; dst: number }[] = [];
  const real = migrate.beginGuestMigration;
  const spy = jest.spyOn(migrate, 'beginGuestMigration').mockImplementation((w, gg, src, reason, dst) => (moves.push({ src, dst: dst! }), real(w, gg, src, reason, dst)));
  r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: true } });
  spy.mockRestore();
  expect(moves.length).toBeGreaterThan(0);
  expect([pbOf(moves[0]!.src), pbOf(moves[0]!.dst)]).toEqual([PAGEBLOCK_FRAMES, 2 * PAGEBLOCK_FRAMES]);
  for (const m of moves) expect(pbOf(m.dst)).toBeGreaterThanOrEqual(pbOf(m.src));
});

test('under the injected bug (compaction-migrates-unmovable) guestMovable accepts a kernel page, as no process\'s; never a page with no owner, a migration target or a virtio-mem block', () => {
  const r = new Runner({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [migrate.FAULT_MIGRATES_UNMOVABLE] }, { check: 'incremental' });
  const g = r.world.guests[0]!;
  const take = () => g.buddy.alloc(0, 'MOVABLE') as number;
  const [kernel, none, target, block] = [take(), take(), take(), take()];
  g.setOwner(kernel, { kind: 'kernel', alloc: 99 });
  g.setOwner(target, { kind: 'migrate-target', src: kernel });
  g.setOwner(block, { kind: 'virtio-mem', block: 0 });
  expect(guestMovable(r.world, g, kernel)).toEqual({ pid: NO_PROCESS, vpn: -1 });
  expect(guestMovable(r.world, g, none)).toBe('owner is none');
  expect(guestMovable(r.world, g, target)).toBe('owner is migrate-target');
  expect(guestMovable(r.world, g, block)).toBe('owner is virtio-mem');
});

test('the ghost counts per pageblock the free pages, the pages guestMovable accepts as movable, and the offsets of the rest', () => {
  const r = fragmented();
  const g = r.world.guests[0]!;
  const b = g.buddy;
  // A kernel block of 8 pages (its offsets all count as other) and an isolated pageblock.
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 3, mt: 'UNMOVABLE' } });
  r.apply({ kind: 'guest.isolate', args: { guest: 0, pageblock: 2 } });
  expect(r.outcomes.slice(-2)).toEqual([true, true]);
  const expected = expectedGhost(b, (pfn) => typeof guestMovable(r.world, g, pfn) !== 'string');
  // The zone has pages of each kind for the ghost to count.
  expect(expected.some((x) => x.movable > 0) && expected.some((x) => x.other.length > 0) && expected.some((x) => x.free > 0)).toBe(true);
  r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: true } });
  const ghost = [...compactionState(r.world).runs.values()].pop()!.ghost!;
  expect(ghost.pageblocks).toEqual(expected);
});

describe('the host zone', () => {
  /** A guest with 64 pages written (4 KiB backed), a reclaim in flight on one and a host migration on another. */
  function busyHost() {
    const r = new Runner({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [] }, { check: 'incremental' });
    r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 1024, pages: 64, write: true, exec: false, huge: false } });
    for (let i = 0; i < 64; i++) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 1024 + i } });
    const g = r.world.guests[0]!;
    const gfns = [...g.backing.keys()].filter((gfn) => g.owners.get(gfn)?.kind === 'anon').sort((a, b) => a - b);
    const reclaimed = gfns[20]!;
    const migrating = gfns[40]!;
    r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn: reclaimed } });
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn: migrating } });
    expect(r.outcomes.slice(-2)).toEqual([true, true]);
    return { r, g, gfns, reclaimed, migrating };
  }

  test('hostMovable: a frame under reclaim or locked by a migration is not movable, its neighbours are; nor is a frame the ledger gives to another gfn', () => {
    const { r, g, reclaimed, migrating } = busyHost();
    expect(hostMovable(r.world, g, reclaimed)).toBe('under reclaim');
    expect(hostMovable(r.world, g, migrating)).toBe('locked by a migration in flight');
    // The reclaim covers [gfn, gfn + 1): the gfns just outside it are movable.
    for (const gfn of [reclaimed - 1, reclaimed + 1]) {
      expect(g.backing.has(gfn)).toBe(true);
      expect(hostMovable(r.world, g, gfn)).toBeNull();
    }
    const hfn = g.backing.get(reclaimed + 1)!;
    for (const owner of [{ kind: 'guest-memory' as const, guest: 1, gfn: reclaimed + 1 }, { kind: 'guest-memory' as const, guest: 0, gfn: reclaimed + 2 }]) {
      r.world.frames.setOwner(hfn, owner, r.world.frames.record(hfn)!.alloc);
      expect(hostMovable(r.world, g, reclaimed + 1)).toBe('owner is guest-memory');
    }
  });

  test('the scanners on the host zone: the frames under reclaim or locked are passed over, the rest move as on a guest zone', () => {
    checkScanners(busyHost().r, 'host', 0);
  });

  test('the ghost of a host run counts as movable exactly the frames hostMovable accepts', () => {
    const { r } = busyHost();
    const b = r.world.hostBuddy;
    const expected = expectedGhost(b, (pfn) => {
      const o = r.world.frames.owner(pfn);
      return o?.kind === 'guest-memory' && hostMovable(r.world, r.world.guests[o.guest]!, o.gfn) === null;
    });
    r.apply({ kind: 'compaction.run', args: { side: 'host', order: 9, proactive: true } });
    const ghost = [...compactionState(r.world).runs.values()].pop()!.ghost!;
    expect(ghost.pageblocks).toEqual(expected);
    expect(expected.reduce((n, x) => n + x.movable, 0)).toBeGreaterThan(0);
  });
});

test('on a zone of two pageblocks the free scanner starts at the last one: every movable page of the first moves up into it', () => {
  const r = new Runner({ hostFrames: 2 ** 14, guests: [{ frames: 2 * PAGEBLOCK_FRAMES, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [] }, { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  // 600 pages fill pageblock 1 and spill into pageblock 0; unmapping the first 100 leaves holes in 1.
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 1024, pages: 600, write: true, exec: false, huge: false } });
  for (let i = 0; i < 600; i++) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 1024 + i } });
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: 1024, pages: 100 } });
  const g = r.world.guests[0]!;
  const b = g.buddy;
  expect(pageblocks(b)).toEqual([0, PAGEBLOCK_FRAMES]);
  const sources = expectedGhost(b, (pfn) => typeof guestMovable(r.world, g, pfn) !== 'string')[0]!.movable;
  expect(sources).toBeGreaterThan(0);
  const last = Math.max(0, ...compactionState(r.world).finished.keys());
  r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: true } });
  const run = [...compactionState(r.world).runs.values()].pop()!;
  const moves = [...compactionState(r.world).finished.values()].filter((m) => m.id > last);
  expect(run).toMatchObject({ outcome: 'complete', failures: 0, migrated: sources });
  expect(moves.map((m) => [pbOf(m.src), pbOf(m.dst)])).toEqual(moves.map(() => [0, PAGEBLOCK_FRAMES]));
  expect(r.violation).toBeNull();
});
