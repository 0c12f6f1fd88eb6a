/**
 * The zone as compaction sees it: pageblocks, the free and allocated blocks inside each, and
 * the two scanners' tests (mm/compaction.c): which pageblocks the free scanner may take pages
 * from (suitable_migration_target) and which pages the migrate scanner may isolate
 * (isolate_migratepages_block). Walks are bounded by the blocks of one pageblock.
 */
import type { BuddyAllocator } from '../buddy/buddy';
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES, PAGEBLOCK_ORDER } from '../constants';
import type { MigrateType } from '../buddy/migratetype';

/** A block inside a pageblock: free or allocated, with its order and (allocated) type. */
export interface ZoneBlock {
  readonly pfn: number;
  readonly order: number;
  readonly free: boolean;
  readonly mt: MigrateType | null;
}

/**
 * The blocks tiling one pageblock, in pfn order. A free or allocated block of pageblock order
 * or more covering it comes back as one block. Bounded by PAGEBLOCK_FRAMES steps.
 */
export function pageblockBlocks(b: BuddyAllocator, pb: number): ZoneBlock[] {
  for (let order = PAGEBLOCK_ORDER; order <= MAX_PAGE_ORDER; order++) {
    const head = pb - (pb % (1 << order));
    const f = b.freeBlockAt(head);
    if (f && f.order === order) return [{ pfn: head, order, free: true, mt: null }];
    const a = b.allocatedAt(head);
    if (a && a.order === order) return [{ pfn: head, order, free: false, mt: a.mt }];
  }
  const out: ZoneBlock[] = [];
  let pfn = pb;
  for (let steps = 0; pfn < pb + PAGEBLOCK_FRAMES && steps < PAGEBLOCK_FRAMES; steps++) {
    const f = b.freeBlockAt(pfn);
    if (f) {
      out.push({ pfn, order: f.order, free: true, mt: null });
      pfn += 1 << f.order;
      continue;
    }
    const a = b.allocatedAt(pfn);
    if (a) {
      out.push({ pfn, order: a.order, free: false, mt: a.mt });
      pfn += 1 << a.order;
      continue;
    }
    pfn++; // not reachable while the allocator's blocks tile the zone; bounded anyway
  }
  return out;
}

/**
 * mm/compaction.c suitable_migration_target: the free scanner takes pages only from MOVABLE
 * (or CMA) pageblocks that are not isolated, and never breaks up a free block of pageblock
 * order or more ("If the page is a large free page, then disallow migration").
 */
export function suitableMigrationTarget(b: BuddyAllocator, pb: number): boolean {
  const mt = b.migratetypeOf(pb);
  if (mt !== 'MOVABLE' && mt !== 'CMA') return false;
  // A free block of pageblock order or more is the only block of the pageblocks it covers.
  const first = pageblockBlocks(b, pb)[0];
  return !(first?.free && first.order >= PAGEBLOCK_ORDER);
}

/**
 * The request is satisfiable now: a free block of at least `order` on a list a MOVABLE request
 * may take from directly or by fallback (mm/compaction.c __compact_finished: the free lists of
 * the order and above, with find_suitable_fallback).
 */
export function blockAvailable(b: BuddyAllocator, order: number): boolean {
  for (let o = order; o <= MAX_PAGE_ORDER; o++)
    for (const mt of ['MOVABLE', 'UNMOVABLE', 'RECLAIMABLE'] as const) if (b.freeBlocks(o, mt) > 0) return true;
  return false;
}

/** A free block of at least `order` sits on the ISOLATE list (nobody may allocate it). */
export function isolatedBlockAvailable(b: BuddyAllocator, order: number): boolean {
  for (let o = order; o <= MAX_PAGE_ORDER; o++) if (b.freeBlocks(o, 'ISOLATE') > 0) return true;
  return false;
}

/** Pageblock heads of the zone, low to high. */
export function pageblocks(b: BuddyAllocator): number[] {
  const out: number[] = [];
  for (let pb = b.base; pb < b.base + b.frames; pb += PAGEBLOCK_FRAMES) out.push(pb);
  return out;
}
