/**
 * Pageblock migrate types and the anti-fragmentation fallback rules of the buddy allocator.
 *
 * Sources (Linux, the "classic" rules of v5.x..v6.9, before the freelist/pageblock
 * consolidation of v6.10):
 * - include/linux/mmzone.h `enum migratetype` (order of the types, MIGRATE_PCPTYPES);
 * - mm/page_alloc.c `fallbacks[]`, `can_steal_fallback`, `steal_suitable_fallback`,
 *   `migratetype_is_mergeable` (include/linux/mmzone.h).
 */
import { PAGEBLOCK_FRAMES, PAGEBLOCK_ORDER } from '../constants';

/** include/linux/mmzone.h enum migratetype, in the kernel's order (HIGHATOMIC == PCPTYPES). */
export type MigrateType = 'UNMOVABLE' | 'MOVABLE' | 'RECLAIMABLE' | 'HIGHATOMIC' | 'CMA' | 'ISOLATE';

export const MIGRATE_TYPES: readonly MigrateType[] = [
  'UNMOVABLE',
  'MOVABLE',
  'RECLAIMABLE',
  'HIGHATOMIC',
  'CMA',
  'ISOLATE',
];
export const MIGRATE_TYPE_COUNT = MIGRATE_TYPES.length;

/** Index of a type in MIGRATE_TYPES (the kernel's enum value). */
export function migrateTypeIndex(mt: MigrateType): number {
  switch (mt) {
    case 'UNMOVABLE':
      return 0;
    case 'MOVABLE':
      return 1;
    case 'RECLAIMABLE':
      return 2;
    case 'HIGHATOMIC':
      return 3;
    case 'CMA':
      return 4;
    case 'ISOLATE':
      return 5;
  }
}

export function isMigrateType(x: unknown): x is MigrateType {
  return typeof x === 'string' && (MIGRATE_TYPES as readonly string[]).includes(x);
}

/** mm/vmstat.c `migratetype_names`, as /proc/pagetypeinfo prints them. */
export const MIGRATE_TYPE_NAMES: Readonly<Record<MigrateType, string>> = {
  UNMOVABLE: 'Unmovable',
  MOVABLE: 'Movable',
  RECLAIMABLE: 'Reclaimable',
  HIGHATOMIC: 'HighAtomic',
  CMA: 'CMA',
  ISOLATE: 'Isolate',
};

/**
 * mm/page_alloc.c `fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1]`: the lists an allocation
 * of a type may fall back to, in order. HIGHATOMIC, CMA and ISOLATE have no entry: the kernel
 * never falls back into them from here (CMA is reached through __rmqueue_cma_fallback, which
 * this model does not implement: see buddy.ts).
 */
export const FALLBACKS: Readonly<Record<MigrateType, readonly MigrateType[]>> = {
  UNMOVABLE: ['RECLAIMABLE', 'MOVABLE'],
  MOVABLE: ['RECLAIMABLE', 'UNMOVABLE'],
  RECLAIMABLE: ['UNMOVABLE', 'MOVABLE'],
  HIGHATOMIC: [],
  CMA: [],
  ISOLATE: [],
};

/**
 * include/linux/mmzone.h `migratetype_is_mergeable`: `mt < MIGRATE_PCPTYPES`. Only these
 * three may be merged with a buddy of a different pageblock type.
 */
export function isMergeable(mt: MigrateType): boolean {
  return mt === 'UNMOVABLE' || mt === 'MOVABLE' || mt === 'RECLAIMABLE';
}

/**
 * mm/page_alloc.c `__free_one_page`, at `order >= pageblock_order`: two buddies in different
 * pageblocks merge unless their types differ and one of them is not mergeable (ISOLATE, CMA,
 * HIGHATOMIC). This is the fix of d9dddbf55667 ("mm/page_alloc: prevent merging between
 * isolated and other pageblocks") and 3c605096d315; without it, an isolated pageblock's
 * (uncounted) free pages joined a counted block and NR_FREE_PAGES drifted.
 */
export function mayMergeAcrossPageblocks(freed: MigrateType, buddy: MigrateType): boolean {
  return freed === buddy || (isMergeable(freed) && isMergeable(buddy));
}

/**
 * mm/page_alloc.c `can_steal_fallback(order, start_mt)`: whether a fallback allocation that
 * found a free block of `order` on another type's list may try to take the whole pageblock.
 * `pageblock_order / 2` is C integer division (9 / 2 = 4).
 */
export function canStealFallback(order: number, startMt: MigrateType): boolean {
  // The kernel tests order >= pageblock_order first ("we can actually steal whole pageblock if
  // this condition met"); every such order also passes order >= pageblock_order / 2.
  return order >= Math.floor(PAGEBLOCK_ORDER / 2) || startMt === 'RECLAIMABLE' || startMt === 'UNMOVABLE';
}

/**
 * mm/page_alloc.c `steal_suitable_fallback`: the pages of the block "compatible with our
 * allocation". For a MOVABLE request, the movable pages found in the block; for UNMOVABLE or
 * RECLAIMABLE falling back into a MOVABLE block, every page that is neither free nor movable;
 * UNMOVABLE <-> RECLAIMABLE is conservative (0) since the kernel cannot tell them apart.
 */
export function alikePages(
  startMt: MigrateType,
  oldBlockMt: MigrateType,
  freePages: number,
  movablePages: number,
): number {
  if (startMt === 'MOVABLE') return movablePages;
  if (oldBlockMt === 'MOVABLE') return PAGEBLOCK_FRAMES - (freePages + movablePages);
  return 0;
}

/**
 * mm/page_alloc.c `steal_suitable_fallback`: claim the pageblock's type when
 * `free_pages + alike_pages >= 1 << (pageblock_order - 1)` (256 pages on x86-64).
 */
export const PAGEBLOCK_CLAIM_THRESHOLD = 1 << (PAGEBLOCK_ORDER - 1);

export function shouldClaimPageblock(
  startMt: MigrateType,
  oldBlockMt: MigrateType,
  freePages: number,
  movablePages: number,
): boolean {
  return freePages + alikePages(startMt, oldBlockMt, freePages, movablePages) >= PAGEBLOCK_CLAIM_THRESHOLD;
}
