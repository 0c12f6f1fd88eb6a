/**
 * takeTarget: a single migration's target is the highest free page of a MOVABLE pageblock, never
 * a page on the ISOLATE list (memory being offlined or a CMA range belongs to whoever isolated
 * it: mm/page_isolation.c) nor one of a pageblock of another type (suitable_migration_target:
 * is_migrate_movable(get_pageblock_migratetype)).
 */
import { BuddyAllocator, FAULT_BUDDY_MERGE_ACROSS_ISOLATION } from '../buddy/buddy';
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES } from '../constants';
import { takeTarget } from './migrate';

const FRAMES = 2 * 2 ** MAX_PAGE_ORDER;
const TOP_PB = FRAMES - PAGEBLOCK_FRAMES;

function buddy(faults: string[] = []): BuddyAllocator {
  return new BuddyAllocator({ name: 'g0', base: 0, frames: FRAMES, faults: new Set(faults) });
}

test('an empty zone gives its last page, then the next one down; each target is allocated MOVABLE', () => {
  const b = buddy();
  expect(takeTarget(b)).toBe(FRAMES - 1);
  expect(b.allocatedAt(FRAMES - 1)).toMatchObject({ order: 0, mt: 'MOVABLE' });
  expect(takeTarget(b)).toBe(FRAMES - 2);
  expect(b.freePages()).toBe(FRAMES - 2);
});

test('the only free page is pfn 0: it is the target; with nothing free there is none', () => {
  const b = buddy();
  for (let pfn = 1; pfn < FRAMES; pfn++) expect(b.allocAt(pfn, 0, 'MOVABLE')).toBe(pfn);
  expect(b.freePages()).toBe(1);
  expect(takeTarget(b)).toBe(0);
  expect(b.freePages()).toBe(0);
  expect(takeTarget(b)).toBeNull();
});

test('an isolated top pageblock is passed over: the target is the highest page below it, and the isolated pages stay free', () => {
  const b = buddy();
  expect(b.isolatePageblock(TOP_PB)).toBeUndefined();
  expect(takeTarget(b)).toBe(TOP_PB - 1);
  expect(b.freeBlocks(9, 'ISOLATE')).toBe(1);
});

test('free pages of an UNMOVABLE top pageblock are passed over (on their own list, not isolated)', () => {
  const b = buddy();
  // One allocated page keeps the pageblock's free pages from merging into a whole block.
  expect(b.allocAt(TOP_PB, 0, 'MOVABLE')).toBe(TOP_PB);
  expect(b.isolatePageblock(TOP_PB)).toBeUndefined();
  expect(b.unisolatePageblock(TOP_PB, 'UNMOVABLE')).toBeUndefined();
  expect(b.migratetypeOf(FRAMES - 1)).toBe('UNMOVABLE');
  expect(b.freeBlockAt(FRAMES - PAGEBLOCK_FRAMES / 2)).toMatchObject({ order: 8, list: 'UNMOVABLE' });
  expect(takeTarget(b)).toBe(TOP_PB - 1);
  expect(b.isFree(FRAMES - 1)).toBe(true);
});

test('a block on the ISOLATE list whose head pageblock says MOVABLE (merged across isolation, the buddy fault) is still passed over', () => {
  const b = buddy([FAULT_BUDDY_MERGE_ACROSS_ISOLATION]);
  // The isolated top pageblock merges with the free MOVABLE pageblock below it into one block
  // of MAX_PAGE_ORDER on the ISOLATE list, headed in the MOVABLE pageblock.
  expect(b.isolatePageblock(TOP_PB)).toBeUndefined();
  const merged = FRAMES - 2 ** MAX_PAGE_ORDER;
  expect(b.freeBlockAt(merged)).toMatchObject({ pfn: merged, order: MAX_PAGE_ORDER, list: 'ISOLATE' });
  expect(b.migratetypeOf(merged)).toBe('MOVABLE');
  expect(takeTarget(b)).toBe(merged - 1);
});
