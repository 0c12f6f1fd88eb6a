/**
 * The anti-fragmentation rules of mm/page_alloc.c (v5.x..v6.9), each checked against the
 * kernel's own figures: which fallbacks may steal a whole pageblock, how many of the block's
 * pages count as alike, and when the block changes type (256 of its 512 pages).
 */
import { PAGEBLOCK_FRAMES } from '../constants';
import {
  alikePages,
  canStealFallback,
  MIGRATE_TYPES,
  isMergeable,
  mayMergeAcrossPageblocks,
  migrateTypeIndex,
  PAGEBLOCK_CLAIM_THRESHOLD,
  shouldClaimPageblock,
} from './migratetype';

test('the enum values follow include/linux/mmzone.h, and only the three PCP types merge across pageblocks', () => {
  expect(MIGRATE_TYPES.map(migrateTypeIndex)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(MIGRATE_TYPES.filter(isMergeable)).toEqual(['UNMOVABLE', 'MOVABLE', 'RECLAIMABLE']);
  expect(mayMergeAcrossPageblocks('ISOLATE', 'ISOLATE')).toBe(true);
  expect(mayMergeAcrossPageblocks('ISOLATE', 'MOVABLE')).toBe(false);
  expect(mayMergeAcrossPageblocks('MOVABLE', 'UNMOVABLE')).toBe(true);
  expect(mayMergeAcrossPageblocks('CMA', 'MOVABLE')).toBe(false);
});

test('can_steal_fallback: a whole block from order 4 (pageblock_order / 2) up, or for UNMOVABLE and RECLAIMABLE at any order', () => {
  expect(canStealFallback(9, 'MOVABLE')).toBe(true);
  expect(canStealFallback(4, 'MOVABLE')).toBe(true);
  expect(canStealFallback(3, 'MOVABLE')).toBe(false);
  expect(canStealFallback(0, 'UNMOVABLE')).toBe(true);
  expect(canStealFallback(0, 'RECLAIMABLE')).toBe(true);
});

test('alike pages: a MOVABLE request counts the movable pages; an UNMOVABLE or RECLAIMABLE one in a MOVABLE block counts the rest', () => {
  expect(alikePages('MOVABLE', 'UNMOVABLE', 100, 30)).toBe(30);
  expect(alikePages('MOVABLE', 'RECLAIMABLE', 100, 30)).toBe(30);
  expect(alikePages('UNMOVABLE', 'MOVABLE', 100, 30)).toBe(PAGEBLOCK_FRAMES - 130);
  expect(alikePages('RECLAIMABLE', 'MOVABLE', 100, 30)).toBe(PAGEBLOCK_FRAMES - 130);
  // UNMOVABLE <-> RECLAIMABLE: the kernel cannot tell those pages apart, so none count.
  expect(alikePages('UNMOVABLE', 'RECLAIMABLE', 100, 30)).toBe(0);
  expect(alikePages('RECLAIMABLE', 'UNMOVABLE', 100, 30)).toBe(0);
});

test('the block is claimed at free + alike >= 256 of its 512 pages, not one page fewer', () => {
  expect(PAGEBLOCK_CLAIM_THRESHOLD).toBe(256);
  expect(shouldClaimPageblock('MOVABLE', 'UNMOVABLE', 200, 56)).toBe(true);
  expect(shouldClaimPageblock('MOVABLE', 'UNMOVABLE', 200, 55)).toBe(false);
  // 512 - (200 + 56) = 256 alike pages: claimed on them alone plus the free ones.
  expect(shouldClaimPageblock('UNMOVABLE', 'MOVABLE', 0, 256)).toBe(true);
  expect(shouldClaimPageblock('UNMOVABLE', 'MOVABLE', 0, 257)).toBe(false);
  expect(shouldClaimPageblock('UNMOVABLE', 'RECLAIMABLE', 255, 512)).toBe(false);
  expect(shouldClaimPageblock('UNMOVABLE', 'RECLAIMABLE', 256, 0)).toBe(true);
});
