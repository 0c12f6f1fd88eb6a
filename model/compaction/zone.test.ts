/**
 * The zone as compaction sees it (zone.ts): the blocks tiling a pageblock, the free scanner's
 * suitable_migration_target and __compact_finished's "a block of the order is free" test
 * (mm/compaction.c), on a two-MAX_PAGE_ORDER zone.
 */
import { BuddyAllocator } from '../buddy/buddy';
import type { MigrateType } from '../buddy/migratetype';
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES } from '../constants';
import { blockAvailable, isolatedBlockAvailable, pageblockBlocks, pageblocks, suitableMigrationTarget } from './zone';

const ZONE = 2 * 2 ** MAX_PAGE_ORDER;
const zone = (base = 0) => new BuddyAllocator({ name: 'guest', base, frames: ZONE, faults: new Set() });
const free = (pfn: number, order: number) => ({ pfn, order, free: true, mt: null });
const used = (pfn: number, order: number, mt: MigrateType) => ({ pfn, order, free: false, mt });

describe('pageblockBlocks', () => {
  test('a pageblock inside a free MAX_PAGE_ORDER block, either half, is that one block', () => {
    const b = zone();
    expect(pageblockBlocks(b, 0)).toEqual([free(0, MAX_PAGE_ORDER)]);
    expect(pageblockBlocks(b, PAGEBLOCK_FRAMES)).toEqual([free(0, MAX_PAGE_ORDER)]);
    expect(pageblockBlocks(b, 3 * PAGEBLOCK_FRAMES)).toEqual([free(2 * PAGEBLOCK_FRAMES, MAX_PAGE_ORDER)]);
  });

  test('a pageblock that is one allocated or one free pageblock-order block is that block, with its type', () => {
    const b = zone();
    expect(b.allocAt(0, 9, 'RECLAIMABLE')).toBe(0);
    expect(pageblockBlocks(b, 0)).toEqual([used(0, 9, 'RECLAIMABLE')]);
    expect(pageblockBlocks(b, PAGEBLOCK_FRAMES)).toEqual([free(PAGEBLOCK_FRAMES, 9)]);
  });

  test('a mixed pageblock is tiled in pfn order, allocated blocks with their types, and stops at its end', () => {
    const b = zone();
    expect(b.allocAt(0, 0, 'MOVABLE')).toBe(0);
    expect(b.allocAt(2, 1, 'UNMOVABLE')).toBe(2);
    expect(pageblockBlocks(b, 0)).toEqual([
      used(0, 0, 'MOVABLE'), free(1, 0), used(2, 1, 'UNMOVABLE'),
      free(4, 2), free(8, 3), free(16, 4), free(32, 5), free(64, 6), free(128, 7), free(256, 8),
    ]);
  });
});

describe('suitableMigrationTarget', () => {
  test('a MOVABLE pageblock with pages in use is a target, allocated whole or in part', () => {
    const b = zone();
    b.allocAt(0, 0, 'MOVABLE');
    expect(suitableMigrationTarget(b, 0)).toBe(true);
    const whole = zone();
    whole.allocAt(0, 9, 'MOVABLE');
    expect(whole.migratetypeOf(0)).toBe('MOVABLE');
    expect(suitableMigrationTarget(whole, 0)).toBe(true);
  });

  test('a CMA pageblock is a target too', () => {
    const b = zone();
    b.allocAt(0, 0, 'MOVABLE');
    expect(b.isolatePageblock(0)).toBeUndefined();
    expect(b.unisolatePageblock(0, 'CMA')).toBeUndefined();
    expect(b.migratetypeOf(0)).toBe('CMA');
    expect(suitableMigrationTarget(b, 0)).toBe(true);
  });

  test('a free block of pageblock order or more is never broken up: not a target', () => {
    const b = zone();
    expect(suitableMigrationTarget(b, 0)).toBe(false);
    b.allocAt(0, 9, 'MOVABLE');
    expect(suitableMigrationTarget(b, PAGEBLOCK_FRAMES)).toBe(false);
  });

  test('an isolated or UNMOVABLE pageblock is not a target, even with free pages in it', () => {
    const iso = zone();
    iso.allocAt(0, 0, 'MOVABLE');
    expect(iso.isolatePageblock(0)).toBeUndefined();
    expect(suitableMigrationTarget(iso, 0)).toBe(false);
    const un = zone();
    expect(un.alloc(0, 'UNMOVABLE')).toBe(0);
    expect(un.migratetypeOf(0)).toBe('UNMOVABLE');
    expect(suitableMigrationTarget(un, 0)).toBe(false);
  });
});

describe('blockAvailable', () => {
  test('a free MAX_PAGE_ORDER block satisfies every order; a full zone satisfies none', () => {
    const b = zone();
    for (let o = 0; o <= MAX_PAGE_ORDER; o++) expect(blockAvailable(b, o)).toBe(true);
    expect(b.alloc(MAX_PAGE_ORDER, 'MOVABLE')).toBe(0);
    expect(b.alloc(MAX_PAGE_ORDER, 'MOVABLE')).toBe(2 ** MAX_PAGE_ORDER);
    for (let o = 0; o <= MAX_PAGE_ORDER; o++) expect(blockAvailable(b, o)).toBe(false);
  });

  test.each(['UNMOVABLE', 'RECLAIMABLE'] as const)('free blocks on the %s list count (a MOVABLE request falls back to them), isolated ones do not', (mt) => {
    const b = zone();
    expect(b.alloc(0, mt)).toBe(0);
    // Isolate the untouched MAX_PAGE_ORDER block: only the stolen pageblocks' free blocks remain.
    expect(b.isolatePageblock(2 * PAGEBLOCK_FRAMES)).toBeUndefined();
    expect(b.isolatePageblock(3 * PAGEBLOCK_FRAMES)).toBeUndefined();
    expect(b.freeBlocks(9, 'MOVABLE') + b.freeBlocks(MAX_PAGE_ORDER, 'MOVABLE')).toBe(0);
    expect(blockAvailable(b, 9)).toBe(true);
    expect(blockAvailable(b, MAX_PAGE_ORDER)).toBe(false);
    expect(isolatedBlockAvailable(b, MAX_PAGE_ORDER)).toBe(true);
  });
});

test('pageblocks lists the zone\'s pageblock heads from its base', () => {
  expect(pageblocks(zone(2 ** MAX_PAGE_ORDER))).toEqual([1024, 1536, 2048, 2560]);
});
