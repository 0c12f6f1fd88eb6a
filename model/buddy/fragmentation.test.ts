import {
  buddyinfo,
  contigPageInfo,
  formatBuddyinfo,
  formatPagetypeinfo,
  fragmentationIndex,
  pagetypeinfo,
} from './fragmentation';
import { MIGRATE_TYPES, type MigrateType } from './migratetype';

function counts(partial: Record<number, number>): number[] {
  return Array.from({ length: 11 }, (_, o) => partial[o] ?? 0);
}

describe('__fragmentation_index (mm/vmstat.c)', () => {
  test('0 when nothing is free', () => {
    expect(fragmentationIndex(3, counts({}))).toBe(0);
  });

  test('-1000 when a block of the order (or larger) exists', () => {
    expect(fragmentationIndex(3, counts({ 3: 1 }))).toBe(-1000);
    expect(fragmentationIndex(0, counts({ 10: 1 }))).toBe(-1000);
  });

  test('1000 - (1000 + free_pages * 1000 / 2^order) / free_blocks', () => {
    // 8 order-0 blocks, order 3: 1000 - (1000 + 8000/8) / 8 = 1000 - 250 = 750.
    expect(fragmentationIndex(3, counts({ 0: 8 }))).toBe(750);
    // 1 order-0 + 1 order-1 (3 pages, 2 blocks), order 2: 1000 - (1000 + 750) / 2 = 125.
    expect(fragmentationIndex(2, counts({ 0: 1, 1: 1 }))).toBe(125);
    // Integer division at both steps: 3 + 2 = 5 pages, 4 blocks, order 3:
    // 5000 / 8 = 625; 1625 / 4 = 406 (not 406.25); 1000 - 406 = 594.
    expect(fragmentationIndex(3, counts({ 0: 3, 1: 1 }))).toBe(594);
  });

  test('an order above MAX_PAGE_ORDER gives 0 (WARN_ON_ONCE)', () => {
    expect(fragmentationIndex(11, counts({ 0: 5 }))).toBe(0);
  });

  test('an order that is not one (negative, fractional) gives 0 too, not an index', () => {
    // Unguarded, order -1 would count the 5 pages as 10 suitable half-pages (-1000), and 1.5
    // would divide by 2^1.5.
    expect(fragmentationIndex(-1, counts({ 0: 5 }))).toBe(0);
    expect(fragmentationIndex(1.5, counts({ 0: 5 }))).toBe(0);
  });

  test('contig_page_info counts suitable blocks in units of the request', () => {
    expect(contigPageInfo(counts({ 0: 1, 4: 2 }), 2)).toEqual({
      freePages: 33,
      freeBlocksTotal: 3,
      freeBlocksSuitable: 8,
    });
  });
});

describe('/proc views', () => {
  const perList = Object.fromEntries(MIGRATE_TYPES.map((mt) => [mt, counts({})])) as Record<MigrateType, number[]>;
  perList.MOVABLE = counts({ 0: 2, 10: 3 });
  perList.ISOLATE = counts({ 9: 1 });

  test('buddyinfo sums every list, ISOLATE included (free_area.nr_free)', () => {
    expect(buddyinfo(perList)).toEqual(counts({ 0: 2, 9: 1, 10: 3 }));
    expect(formatBuddyinfo(buddyinfo(perList))).toBe(
      'Node 0, zone   Normal      2      0      0      0      0      0      0      0      0      1      3 ',
    );
  });

  test('pagetypeinfo keeps one row per migrate type', () => {
    const rows = pagetypeinfo(perList);
    expect(rows.map((r) => r.type)).toEqual([...MIGRATE_TYPES]);
    expect(rows[1]!.counts).toEqual(counts({ 0: 2, 10: 3 }));
    // Each row is named as mm/vmstat.c migratetype_names prints it.
    expect(formatPagetypeinfo(perList).map((l) => l.slice(30, 43))).toEqual(['    Unmovable', '      Movable', '  Reclaimable', '   HighAtomic', '          CMA', '      Isolate']);
    expect(formatPagetypeinfo(perList)[5]).toBe(
      'Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0      0      0      0      1      0 ',
    );
  });
});
