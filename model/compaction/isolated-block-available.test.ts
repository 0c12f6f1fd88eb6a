/**
 * isolatedBlockAvailable: whether a free block of at least the order sits on the ISOLATE list,
 * where no allocation may take it (mm/page_isolation.c: free pages of an isolated pageblock
 * stay on MIGRATE_ISOLATE's free list; __compact_finished does not count them, and the fuzz
 * generator uses this to tell a request the zone could satisfy only from isolated memory).
 */
import { BuddyAllocator } from '../buddy/buddy';
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES, PAGEBLOCK_ORDER } from '../constants';
import { blockAvailable, isolatedBlockAvailable } from './zone';

test('a zone with nothing isolated has no isolated block of any order; isolating a free pageblock makes one of pageblock order, none larger', () => {
  const b = new BuddyAllocator({ name: 'guest', base: 0, frames: 2 * 2 ** MAX_PAGE_ORDER, faults: new Set() });
  for (let o = 0; o <= MAX_PAGE_ORDER; o++) expect(isolatedBlockAvailable(b, o)).toBe(false);
  expect(b.isolatePageblock(0)).toBeUndefined();
  expect(b.freeBlocks(PAGEBLOCK_ORDER, 'ISOLATE')).toBe(1);
  for (let o = 0; o <= PAGEBLOCK_ORDER; o++) expect(isolatedBlockAvailable(b, o)).toBe(true);
  for (let o = PAGEBLOCK_ORDER + 1; o <= MAX_PAGE_ORDER; o++) expect(isolatedBlockAvailable(b, o)).toBe(false);
  // The rest of the zone still satisfies ordinary requests.
  expect(blockAvailable(b, MAX_PAGE_ORDER)).toBe(true);
  expect(b.unisolatePageblock(0, 'MOVABLE')).toBeUndefined();
  for (let o = 0; o <= MAX_PAGE_ORDER; o++) expect(isolatedBlockAvailable(b, o)).toBe(false);
  expect(PAGEBLOCK_FRAMES).toBe(2 ** PAGEBLOCK_ORDER);
});
