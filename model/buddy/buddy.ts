/**
 * The buddy page allocator of one zone, used by the host (over host frames) and by each guest
 * kernel (over guest frames).
 *
 * Modelled after Linux mm/page_alloc.c as of v6.1..v6.9 (the "classic" anti-fragmentation
 * rules), with the v6.10 `split_large_buddy` rule for freeing blocks larger than a pageblock:
 * - allocation: `__rmqueue` -> `__rmqueue_smallest` (with `expand`), then `__rmqueue_fallback`
 *   (`find_suitable_fallback`, `steal_suitable_fallback`, `move_freepages_block`) and retry;
 * - freeing: `__free_one_page` (buddy = pfn ^ (1 << order), merge while the buddy is a free
 *   block of the same order; no merge across an isolated pageblock at order >= pageblock_order);
 * - a specific range: `take_page_off_buddy` / `break_down_buddy_pages`;
 * - isolation: mm/page_isolation.c `set_migratetype_isolate`, `unset_migratetype_isolate`,
 *   with the split of a free block larger than a pageblock of `isolate_single_pageblock`.
 *
 * Assumptions (the model's choices, not the kernel's):
 * - one zone (ZONE_NORMAL) per allocator, one node; `base` and `frames` are multiples of
 *   2^MAX_PAGE_ORDER, so every buddy of an in-range block is in range (no zone holes);
 * - no per-cpu page lists (pcp): every free goes straight to `__free_one_page`;
 * - `alloc` does not check watermarks (`get_page_from_freelist` does that in the kernel; here
 *   the caller asks `zoneWatermarkOk` first if it wants to) and uses no ALLOC_NOFRAGMENT, no
 *   HIGHATOMIC reserve and no CMA balancing: CMA and HIGHATOMIC pageblocks exist only when a
 *   caller unisolates a pageblock to that type, and only requests of that type use them;
 * - a freed block goes to the head of its list (LIFO, hot reuse); the kernel's
 *   `buddy_merge_likely` tail heuristic and page shuffling are not modelled;
 * - "movable pages" of a pageblock (move_freepages counts PageLRU / __PageMovable pages) are
 *   the pages allocated with migrate type MOVABLE;
 * - isolation always succeeds (no `has_unmovable_pages` check): callers decide.
 *
 * Sparse: memory that was never split costs one list entry per max-order block; every other
 * structure holds only what differs from that default. Every operation is O(MAX_PAGE_ORDER),
 * except those that walk one pageblock (isolation, a pageblock steal), which are bounded by
 * PAGEBLOCK_FRAMES as move_freepages_block is in the kernel.
 *
 * Determinism: no clock, no randomness; Maps and Sets iterate in insertion order and the only
 * orders that matter (free lists, dirty pfns) are explicit.
 */
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES, PAGEBLOCK_ORDER } from '../constants';

const MAX_ORDER_FRAMES = 1 << MAX_PAGE_ORDER;
import { fragmentationIndex as fragIndex } from './fragmentation';
import { FreeList, type Membership } from './free-list';
import {
  FALLBACKS,
  MIGRATE_TYPES,
  MIGRATE_TYPE_COUNT,
  canStealFallback,
  isMigrateType,
  mayMergeAcrossPageblocks,
  migrateTypeIndex,
  shouldClaimPageblock,
  type MigrateType,
} from './migratetype';
import { zoneWatermarks, type WatermarkName, type Watermarks } from './watermarks';

/** Injected bug: __free_one_page merges across an isolated pageblock (pre-d9dddbf55667). */
export const FAULT_BUDDY_MERGE_ACROSS_ISOLATION = 'buddy-merge-across-isolation';

/** Largest pfn range the allocator accepts: pfn arithmetic uses 32-bit bitwise operators. */
export const BUDDY_PFN_LIMIT = 2 ** 30;

export interface BuddyOptions {
  /** "host" or "g0": used in messages. */
  readonly name: string;
  /** First pfn, aligned to 2^MAX_PAGE_ORDER. */
  readonly base: number;
  /** Number of frames, a positive multiple of 2^MAX_PAGE_ORDER. */
  readonly frames: number;
  /** Injected bugs by name (FAULT_BUDDY_MERGE_ACROSS_ISOLATION). */
  readonly faults: ReadonlySet<string>;
}

export type BuddyError =
  | { readonly error: 'out-of-range'; readonly pfn: number; readonly order: number }
  | { readonly error: 'no-memory'; readonly order: number; readonly mt: MigrateType }
  | { readonly error: 'bad-order'; readonly order: number }
  | { readonly error: 'bad-migratetype'; readonly mt: string }
  | { readonly error: 'misaligned'; readonly pfn: number; readonly order: number }
  /** Double free, a pfn that is not an allocated head, or the wrong order (allocatedOrder). */
  | {
      readonly error: 'not-allocated';
      readonly pfn: number;
      readonly order: number;
      readonly allocatedOrder: number | null;
    }
  /** allocAt: the range is not inside one free block. */
  | { readonly error: 'not-free'; readonly pfn: number; readonly order: number }
  /** allocAt: the range lies in an isolated pageblock. */
  | { readonly error: 'isolated'; readonly pfn: number }
  | { readonly error: 'already-isolated'; readonly pfn: number }
  | { readonly error: 'not-isolated'; readonly pfn: number };

export function isBuddyError(x: unknown): x is BuddyError {
  return typeof x === 'object' && x !== null && typeof (x as { error?: unknown }).error === 'string';
}

export interface FreeBlockInfo {
  readonly pfn: number;
  readonly order: number;
  /** The free list the block sits on (not necessarily its pageblock's type, see steal). */
  readonly list: MigrateType;
}

export interface AllocatedBlockInfo {
  readonly head: number;
  readonly order: number;
  readonly mt: MigrateType;
}

export interface BuddyStats {
  allocs: number;
  allocFailures: number;
  frees: number;
  /** Buddy pairs joined in __free_one_page. */
  merges: number;
  /** Halvings in expand / break_down_buddy_pages / isolation splits. */
  splits: number;
  /** Successful __rmqueue_fallback calls. */
  fallbacks: number;
  /** Pageblocks whose type a fallback claimed. */
  steals: number;
  isolations: number;
  unisolations: number;
}

/** Test-only corruptions (properties/buddy.test.ts shows each invariant can fail). */
export type BuddyCorruption =
  | { readonly kind: 'push-free'; readonly pfn: number; readonly order: number; readonly list: MigrateType }
  | { readonly kind: 'drop-free'; readonly pfn: number }
  | { readonly kind: 'drop-allocated'; readonly pfn: number }
  | { readonly kind: 'set-type'; readonly pfn: number; readonly mt: MigrateType }
  | { readonly kind: 'bump-nr-free'; readonly order: number; readonly list: MigrateType; readonly delta: number }
  | { readonly kind: 'bump-free-pages'; readonly delta: number }
  | { readonly kind: 'bump-allocated-pages'; readonly delta: number };

const MOVABLE_IDX = migrateTypeIndex('MOVABLE');
const ISOLATE_IDX = migrateTypeIndex('ISOLATE');
const HIGHATOMIC_IDX = migrateTypeIndex('HIGHATOMIC');
const MAX_BLOCK_FRAMES = 1 << MAX_PAGE_ORDER;

/** A free or allocated block's order and type, packed into one small integer Map value. */
function pack(order: number, mtIdx: number): number {
  return order | (mtIdx << 4);
}
function orderOf(packed: number): number {
  return packed & 0xf;
}
function mtIdxOf(packed: number): number {
  return packed >> 4;
}
function alignDown(pfn: number, order: number): number {
  return pfn & ~((1 << order) - 1);
}
function isOrder(order: number): boolean {
  return Number.isInteger(order) && order >= 0 && order <= MAX_PAGE_ORDER;
}

export class BuddyAllocator {
  readonly name: string;
  readonly base: number;
  readonly frames: number;
  readonly faults: ReadonlySet<string>;
  readonly stats: BuddyStats = {
    allocs: 0,
    allocFailures: 0,
    frees: 0,
    merges: 0,
    splits: 0,
    fallbacks: 0,
    steals: 0,
    isolations: 0,
    unisolations: 0,
  };

  /** free_area[order].free_list[mt], index order * MIGRATE_TYPE_COUNT + mt. */
  private readonly lists: FreeList[] = [];
  /** Per-list block counts the allocator keeps itself (free_area.nr_free, split by list). */
  private readonly nrFreeCounts: number[] = [];
  /** Head pfn of each free block -> pack(order, list): PageBuddy + buddy_order + the list. */
  private readonly freeHead = new Map<number, number>();
  /** Which lists hold each pfn, kept by the lists themselves (free-list.ts Membership). */
  private readonly membership: Membership = new Map();
  /** Free-block heads per max-order region (see setHead). */
  private readonly headsInRegion = new Map<number, number>();
  /** Head pfn of each allocated block -> pack(order, requested migrate type). */
  private readonly allocated = new Map<number, number>();
  /** Pageblock head pfn -> type index, only where it differs from MOVABLE (memmap_init). */
  private readonly pbType = new Map<number, number>();
  /** Pageblock head -> free pages in free blocks of order < pageblock_order inside it. */
  private readonly pbFreeSmall = new Map<number, number>();
  /** Pageblock head -> pages of MOVABLE allocations of order < pageblock_order inside it. */
  private readonly pbMovable = new Map<number, number>();
  /** NR_FREE_PAGES: free pages not on an ISOLATE list, adjusted where the kernel adjusts it. */
  private nrFreePages = 0;
  private allocatedPageCount = 0;
  private dirty = new Set<number>();
  private readonly marks: Watermarks;
  /**
   * PG_reported (include/linux/page-flags.h) on free block heads: set by free page reporting
   * (mm/page_reporting.c page_reporting_drain), cleared whenever the block leaves the free
   * lists, by allocation or merge (mm/page_alloc.c __del_page_from_free_list), and kept when
   * it only moves between lists (move_to_free_list).
   */
  private readonly reportedHeads = new Set<number>();

  constructor(opts: BuddyOptions) {
    const { base, frames } = opts;
    if (!Number.isInteger(base) || base < 0 || base % MAX_BLOCK_FRAMES !== 0) {
      throw new RangeError(`buddy ${opts.name}: base ${base} not aligned to 2^${MAX_PAGE_ORDER}`);
    }
    if (!Number.isInteger(frames) || frames < MAX_BLOCK_FRAMES || frames % MAX_BLOCK_FRAMES !== 0) {
      throw new RangeError(`buddy ${opts.name}: frames ${frames} not a multiple of 2^${MAX_PAGE_ORDER}`);
    }
    if (base + frames > BUDDY_PFN_LIMIT) {
      throw new RangeError(`buddy ${opts.name}: base + frames exceeds 2^30`);
    }
    this.name = opts.name;
    this.base = base;
    this.frames = frames;
    this.faults = opts.faults;
    for (let i = 0; i < (MAX_PAGE_ORDER + 1) * MIGRATE_TYPE_COUNT; i++) {
      this.lists.push(new FreeList(i, this.membership));
      this.nrFreeCounts.push(0);
    }
    // memmap_init + memblock_free_all: all memory free as max-order MOVABLE blocks, in pfn
    // order (the kernel frees them through __free_pages_core, each to the list's tail).
    for (let pfn = base; pfn < base + frames; pfn += MAX_BLOCK_FRAMES) {
      this.addFree(pfn, MAX_PAGE_ORDER, MOVABLE_IDX, true);
    }
    this.nrFreePages = frames;
    this.marks = zoneWatermarks(frames);
  }

  // ---------------------------------------------------------------------------------------
  // Allocation

  /**
   * mm/page_alloc.c `__rmqueue`: the smallest block of the request's list, else steal from a
   * fallback list and retry. Returns the head pfn. Never takes from an ISOLATE list.
   */
  alloc(order: number, mt: MigrateType): number | BuddyError {
    if (!isOrder(order)) return { error: 'bad-order', order };
    if (!isMigrateType(mt) || mt === 'ISOLATE') return { error: 'bad-migratetype', mt: String(mt) };
    const mtIdx = migrateTypeIndex(mt);
    let pfn = this.rmqueueSmallest(order, mtIdx);
    // "retry" in __rmqueue: a successful fallback moved a block of >= order onto our list, so
    // the second __rmqueue_smallest succeeds; one retry is enough.
    if (pfn === undefined && this.rmqueueFallback(order, mt)) pfn = this.rmqueueSmallest(order, mtIdx);
    if (pfn === undefined) {
      this.stats.allocFailures++;
      return { error: 'no-memory', order, mt };
    }
    // rmqueue_buddy: __mod_zone_freepage_state(zone, -(1 << order), ...).
    this.nrFreePages -= 1 << order;
    this.setAllocated(pfn, order, mtIdx);
    this.stats.allocs++;
    return pfn;
  }

  /**
   * Claim one specific range (mm/page_alloc.c `take_page_off_buddy` with
   * `break_down_buddy_pages`): find the free block containing [pfn, pfn + 2^order), split it
   * down, and put the other halves back on the block's list.
   */
  allocAt(pfn: number, order: number, mt: MigrateType): number | BuddyError {
    if (!isOrder(order)) return { error: 'bad-order', order };
    if (!isMigrateType(mt) || mt === 'ISOLATE') return { error: 'bad-migratetype', mt: String(mt) };
    if (!this.inRange(pfn, order)) return { error: 'out-of-range', pfn, order };
    if (pfn % (1 << order) !== 0) return { error: 'misaligned', pfn, order };
    const enclosing = this.enclosingFree(pfn, order);
    if (enclosing === undefined) return { error: 'not-free', pfn, order };
    const [head, packed] = enclosing;
    const listIdx = mtIdxOf(packed);
    // Isolated memory belongs to whoever isolated it (offlining, CMA): never hand it out.
    if (listIdx === ISOLATE_IDX || this.typeIdx(pfn) === ISOLATE_IDX) return { error: 'isolated', pfn };
    let cur = head;
    let curOrder = orderOf(packed);
    this.removeFree(head);
    while (curOrder > order) {
      curOrder--;
      const half = 1 << curOrder;
      if (pfn >= cur + half) {
        this.addFree(cur, curOrder, listIdx, false);
        cur += half;
      } else {
        this.addFree(cur + half, curOrder, listIdx, false);
      }
      this.stats.splits++;
    }
    this.nrFreePages -= 1 << order;
    this.setAllocated(pfn, order, migrateTypeIndex(mt));
    this.stats.allocs++;
    return pfn;
  }

  /**
   * mm/page_alloc.c `split_page` (and the folio side of mm/huge_memory.c `split_huge_page`):
   * one allocated block of order > 0 becomes 2^order allocated order-0 blocks of the same
   * type, each freed on its own later. Nothing moves between free lists, so NR_FREE_PAGES and
   * the allocated page count are unchanged; only the per-pageblock movable count learns about
   * pages it did not count while they formed a block of pageblock order or more.
   */
  splitAllocated(pfn: number): void | BuddyError {
    const packed = this.allocated.get(pfn);
    if (packed === undefined) return { error: 'not-allocated', pfn, order: 0, allocatedOrder: null };
    const order = orderOf(packed);
    const mtIdx = mtIdxOf(packed);
    if (order === 0) return;
    this.clearAllocated(pfn);
    for (let i = 0; i < 1 << order; i++) this.setAllocated(pfn + i, 0, mtIdx);
  }

  /** mm/page_alloc.c `__rmqueue_smallest` + `expand`. */
  private rmqueueSmallest(order: number, mtIdx: number): number | undefined {
    for (let current = order; current <= MAX_PAGE_ORDER; current++) {
      const list = this.list(current, mtIdx);
      const pfn = list.peekHead();
      if (pfn === undefined) continue;
      this.removeFree(pfn);
      // expand(): the upper halves go back on the same list, high order first.
      let high = current;
      while (high > order) {
        high--;
        this.addFree(pfn + (1 << high), high, mtIdx, false);
        this.stats.splits++;
      }
      return pfn;
    }
    return undefined;
  }

  /** mm/page_alloc.c `find_suitable_fallback(area, order, mt, only_stealable=false, ...)`. */
  private findSuitableFallback(
    order: number,
    startMt: MigrateType,
  ): { readonly fallback: MigrateType; readonly canSteal: boolean } | undefined {
    for (const fallback of FALLBACKS[startMt]) {
      if (this.list(order, migrateTypeIndex(fallback)).length === 0) continue;
      return { fallback, canSteal: canStealFallback(order, startMt) };
    }
    return undefined;
  }

  /**
   * mm/page_alloc.c `__rmqueue_fallback` (no ALLOC_NOFRAGMENT, so min_order = order): take the
   * largest block of a fallback list ("roughly approximates finding the pageblock with the
   * most free pages"), except that a MOVABLE request that cannot steal the block splits the
   * smallest one instead ("it won't cause permanent fragmentation").
   */
  private rmqueueFallback(order: number, startMt: MigrateType): boolean {
    for (let current = MAX_PAGE_ORDER; current >= order; current--) {
      const found = this.findSuitableFallback(current, startMt);
      if (found === undefined) continue;
      if (!found.canSteal && startMt === 'MOVABLE' && current > order) {
        // find_smallest:
        for (let small = order; small <= MAX_PAGE_ORDER; small++) {
          const f = this.findSuitableFallback(small, startMt);
          if (f === undefined) continue;
          this.doSteal(small, f.fallback, startMt, f.canSteal);
          return true;
        }
        return false; // VM_BUG_ON in the kernel: the largest search already found one.
      }
      this.doSteal(current, found.fallback, startMt, found.canSteal);
      return true;
    }
    return false;
  }

  /** `do_steal:` get_page_from_free_area (the list head) + steal_suitable_fallback. */
  private doSteal(order: number, fallback: MigrateType, startMt: MigrateType, wholeBlock: boolean): void {
    const pfn = this.list(order, migrateTypeIndex(fallback)).peekHead();
    if (pfn === undefined) return;
    this.stats.fallbacks++;
    this.stealSuitableFallback(pfn, order, startMt, wholeBlock);
  }

  /**
   * mm/page_alloc.c `steal_suitable_fallback`: a block of pageblock size or more changes the
   * type of all its pageblocks; a smaller one moves every free page of its pageblock to the
   * requested list and claims the pageblock when free + alike pages reach half of it.
   */
  private stealSuitableFallback(pfn: number, order: number, startMt: MigrateType, wholeBlock: boolean): void {
    const startIdx = migrateTypeIndex(startMt);
    const oldIdx = this.typeIdx(pfn);
    // "This can happen due to races and we want to prevent broken highatomic accounting."
    if (oldIdx !== HIGHATOMIC_IDX) {
      if (order >= PAGEBLOCK_ORDER) {
        // change_pageblock_range: "Take ownership for orders >= pageblock_order".
        for (let pb = pfn; pb < pfn + (1 << order); pb += PAGEBLOCK_FRAMES) this.setTypeIdx(pb, startIdx);
        this.stats.steals++;
      } else if (wholeBlock) {
        const pb = alignDown(pfn, PAGEBLOCK_ORDER);
        // The per-pageblock counters make the decision O(1); the kernel counts the same pages
        // while move_freepages_block walks the block.
        const free = this.pageblockFreePages(pb);
        const movable = this.pbMovable.get(pb) ?? 0;
        this.moveFreepagesBlock(pb, startIdx);
        if (shouldClaimPageblock(startMt, MIGRATE_TYPES[oldIdx]!, free, movable)) {
          this.setTypeIdx(pb, startIdx);
          this.stats.steals++;
        }
        return;
      }
    }
    // single_page: move_to_free_list(page, zone, current_order, start_type) (to the tail).
    this.moveFree(pfn, startIdx, true);
  }

  // ---------------------------------------------------------------------------------------
  // Freeing

  /**
   * Free an allocated block. Blocks larger than a pageblock are freed one pageblock at a time
   * with each pageblock's own type (v6.10 `split_large_buddy`), so a block spanning an
   * isolated and a normal pageblock is never put on one list whole.
   */
  free(pfn: number, order: number): void | BuddyError {
    if (!isOrder(order)) return { error: 'bad-order', order };
    if (!this.inRange(pfn, order)) return { error: 'out-of-range', pfn, order };
    if (pfn % (1 << order) !== 0) return { error: 'misaligned', pfn, order };
    const packed = this.allocated.get(pfn);
    // free_pages_check / bad_page: a double free or a wrong order is refused, never applied.
    if (packed === undefined || orderOf(packed) !== order) {
      return {
        error: 'not-allocated',
        pfn,
        order,
        allocatedOrder: packed === undefined ? null : orderOf(packed),
      };
    }
    this.clearAllocated(pfn);
    this.stats.frees++;
    if (order > PAGEBLOCK_ORDER) {
      for (let pb = pfn; pb < pfn + (1 << order); pb += PAGEBLOCK_FRAMES) {
        this.freeOnePage(pb, PAGEBLOCK_ORDER, this.typeIdx(pb), false);
      }
    } else {
      this.freeOnePage(pfn, order, this.typeIdx(pfn), false);
    }
  }

  /**
   * mm/page_alloc.c `__putback_isolated_page`: give back a block a caller isolated from the
   * free lists (page reporting), to the list's tail ("Return isolated page to tail of
   * freelist", FPI_TO_TAIL) so that unreported memory is handed out first.
   */
  putbackIsolated(pfn: number, order: number): void | BuddyError {
    const packed = this.allocated.get(pfn);
    if (!isOrder(order) || packed === undefined || orderOf(packed) !== order) {
      return { error: 'not-allocated', pfn, order, allocatedOrder: packed === undefined ? null : orderOf(packed) };
    }
    this.clearAllocated(pfn);
    // As free(): a block larger than a pageblock goes back one pageblock at a time.
    if (order > PAGEBLOCK_ORDER) {
      for (let pb = pfn; pb < pfn + (1 << order); pb += PAGEBLOCK_FRAMES) this.freeOnePage(pb, PAGEBLOCK_ORDER, this.typeIdx(pb), true);
    } else this.freeOnePage(pfn, order, this.typeIdx(pfn), true);
  }

  /**
   * mm/page_alloc.c `__free_one_page` (v6.1..v6.9): account the freed pages by the freed
   * page's pageblock type, then merge with the buddy `pfn ^ (1 << order)` while it is a free
   * block of the same order, and put the result on `mtIdx`'s list.
   */
  private freeOnePage(pfn: number, order: number, mtIdx: number, toTail: boolean): void {
    // __mod_zone_freepage_state: isolated pages are not counted in NR_FREE_PAGES. The buddies
    // merged below are taken off their lists without touching the counter, which is why a
    // merge across isolation makes the counter drift.
    if (mtIdx !== ISOLATE_IDX) this.nrFreePages += 1 << order;
    while (order < MAX_PAGE_ORDER) {
      const buddy = pfn ^ (1 << order);
      // page_is_buddy: same zone. Always true here (the zone is max-order aligned).
      if (!this.inRange(buddy, order)) break;
      const b = this.freeHead.get(buddy);
      if (b === undefined || orderOf(b) !== order) break;
      if (order >= PAGEBLOCK_ORDER) {
        const buddyMt = MIGRATE_TYPES[this.typeIdx(buddy)]!;
        // HAZARD (d9dddbf55667, 3c605096d315): merging an isolated pageblock's free pages
        // with a normal one's puts uncounted pages on a counted list (or the reverse);
        // NR_FREE_PAGES then drifts until MemFree exceeds MemTotal. The injected fault
        // restores the code before those fixes, which had no check here at all.
        if (
          !this.faults.has(FAULT_BUDDY_MERGE_ACROSS_ISOLATION) &&
          !mayMergeAcrossPageblocks(MIGRATE_TYPES[mtIdx]!, buddyMt)
        ) {
          break;
        }
      }
      this.removeFree(buddy);
      this.stats.merges++;
      pfn = pfn & buddy;
      order++;
    }
    this.addFree(pfn, order, mtIdx, toTail);
  }

  // ---------------------------------------------------------------------------------------
  // Isolation

  /**
   * mm/page_isolation.c `set_migratetype_isolate`: the pageblock's type becomes ISOLATE and its
   * free pages move to the ISOLATE lists, leaving NR_FREE_PAGES (`__mod_zone_freepage_state
   * (zone, -nr_pages, mt)`). A free block larger than the pageblock is split first, as
   * `isolate_single_pageblock` does (v5.19+), so no free block straddles the boundary.
   */
  isolatePageblock(pfn: number): void | BuddyError {
    if (!this.inRange(pfn, 0)) return { error: 'out-of-range', pfn, order: PAGEBLOCK_ORDER };
    const pb = alignDown(pfn, PAGEBLOCK_ORDER);
    if (this.typeIdx(pb) === ISOLATE_IDX) return { error: 'already-isolated', pfn: pb };
    this.splitCoveringFreeBlock(pb);
    this.setTypeIdx(pb, ISOLATE_IDX);
    this.nrFreePages -= this.moveFreepagesBlock(pb, ISOLATE_IDX);
    // Modelling choice: keep free memory fully merged. move_freepages_block never merges, so
    // in the kernel a wholly free pageblock isolated next to an isolated free buddy stays
    // split until unisolation; here it is re-freed (ISOLATE to ISOLATE is a legal merge in
    // __free_one_page, and uncounted either way), so the "fully merged" invariant needs no
    // exception for isolation.
    const whole = this.freeHead.get(pb);
    if (whole !== undefined && orderOf(whole) === PAGEBLOCK_ORDER) {
      this.removeFree(pb);
      this.freeOnePage(pb, PAGEBLOCK_ORDER, ISOLATE_IDX, true);
    }
    this.stats.isolations++;
  }

  /**
   * mm/page_isolation.c `unset_migratetype_isolate`: restore the type and put the free pages
   * back. The kernel re-frees a free pageblock-sized block through __putback_isolated_page
   * (FPI_TO_TAIL) so that it merges with its now-compatible buddy ("Isolation and free will
   * make these pages to be merged"); here every free block of the pageblock takes that path,
   * which for blocks smaller than the pageblock changes nothing (they were already merged).
   */
  unisolatePageblock(pfn: number, mt: MigrateType): void | BuddyError {
    if (!this.inRange(pfn, 0)) return { error: 'out-of-range', pfn, order: PAGEBLOCK_ORDER };
    if (!isMigrateType(mt) || mt === 'ISOLATE') return { error: 'bad-migratetype', mt: String(mt) };
    const pb = alignDown(pfn, PAGEBLOCK_ORDER);
    if (this.typeIdx(pb) !== ISOLATE_IDX) return { error: 'not-isolated', pfn: pb };
    this.splitCoveringFreeBlock(pb);
    const mtIdx = migrateTypeIndex(mt);
    this.setTypeIdx(pb, mtIdx);
    for (const [head, packed] of this.freeBlocksInPageblock(pb)) {
      // An earlier block of this walk may have merged this one away: only re-free a block
      // that is still free with the order the walk saw.
      if (this.freeHead.get(head) !== packed) continue;
      this.removeFree(head);
      this.freeOnePage(head, orderOf(packed), mtIdx, true);
    }
    this.stats.unisolations++;
  }

  /**
   * If a free block of order > pageblock_order covers the pageblock, split it into pageblock
   * sized blocks on the same list (mm/page_isolation.c `isolate_single_pageblock` /
   * `split_free_page`). The pages stay on the same list, so NR_FREE_PAGES does not change.
   */
  private splitCoveringFreeBlock(pb: number): void {
    for (let order = PAGEBLOCK_ORDER + 1; order <= MAX_PAGE_ORDER; order++) {
      const head = alignDown(pb, order);
      const packed = this.freeHead.get(head);
      if (packed === undefined || orderOf(packed) !== order) continue;
      this.removeFree(head);
      const listIdx = mtIdxOf(packed);
      for (let p = head; p < head + (1 << order); p += PAGEBLOCK_FRAMES) {
        this.addFree(p, PAGEBLOCK_ORDER, listIdx, false);
      }
      this.stats.splits += (1 << (order - PAGEBLOCK_ORDER)) - 1;
      return;
    }
  }

  /**
   * mm/page_alloc.c `move_freepages_block`: move every free block inside the pageblock to
   * `toIdx`'s list tail, in pfn order; returns the pages moved. The caller has made sure no
   * free block larger than the pageblock covers it.
   */
  private moveFreepagesBlock(pb: number, toIdx: number): number {
    let moved = 0;
    for (const [head, packed] of this.freeBlocksInPageblock(pb)) {
      this.moveFree(head, toIdx, true);
      moved += 1 << orderOf(packed);
    }
    return moved;
  }

  /**
   * The free blocks inside one pageblock, in pfn order: a walk over block heads like
   * move_freepages' loop, bounded by PAGEBLOCK_FRAMES steps.
   */
  private freeBlocksInPageblock(pb: number): [number, number][] {
    const out: [number, number][] = [];
    const whole = this.freeHead.get(pb);
    if (whole !== undefined && orderOf(whole) >= PAGEBLOCK_ORDER) return [[pb, whole]];
    let pfn = pb;
    for (let steps = 0; pfn < pb + PAGEBLOCK_FRAMES && steps < PAGEBLOCK_FRAMES; steps++) {
      const f = this.freeHead.get(pfn);
      if (f !== undefined) {
        out.push([pfn, f]);
        pfn += 1 << orderOf(f);
        continue;
      }
      const a = this.allocated.get(pfn);
      pfn += a !== undefined ? 1 << orderOf(a) : 1;
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Queries

  /** get_pageblock_migratetype; MOVABLE outside the range too (no pageblock there). */
  migratetypeOf(pfn: number): MigrateType {
    return MIGRATE_TYPES[this.typeIdx(pfn)]!;
  }

  /** Whether pfn lies inside a free block: look up its aligned ancestors (PageBuddy). */
  isFree(pfn: number): boolean {
    return this.freeBlockContaining(pfn) !== undefined;
  }

  /** The free block containing pfn (PageBuddy on one of its aligned ancestors), if any. */
  freeBlockContaining(pfn: number): FreeBlockInfo | undefined {
    const e = this.enclosingFree(pfn, 0);
    return e && this.freeBlockAt(e[0]);
  }

  /** The free block whose head is exactly `pfn`, per the allocator's own index. */
  freeBlockAt(pfn: number): FreeBlockInfo | undefined {
    const packed = this.freeHead.get(pfn);
    if (packed === undefined) return undefined;
    return { pfn, order: orderOf(packed), list: MIGRATE_TYPES[mtIdxOf(packed)]! };
  }

  /**
   * Every (order, list) whose free list holds `pfn`, read from the lists themselves (not the
   * head index): the checkers use this so that a list/index disagreement cannot hide.
   * One lookup in the lists' own membership map.
   */
  freeEntriesAt(pfn: number): { order: number; list: MigrateType }[] {
    const ids = this.membership.get(pfn);
    if (!ids) return [];
    return [...ids].sort((a, b) => a - b).map((i) => ({ order: Math.floor(i / MIGRATE_TYPE_COUNT), list: MIGRATE_TYPES[i % MIGRATE_TYPE_COUNT]! }));
  }

  /** The allocated block containing pfn, if any (aligned ancestors, O(MAX_PAGE_ORDER)). */
  allocatedBlock(pfn: number): AllocatedBlockInfo | undefined {
    if (!Number.isInteger(pfn) || pfn < 0) return undefined;
    for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
      const head = alignDown(pfn, order);
      const packed = this.allocated.get(head);
      if (packed !== undefined && orderOf(packed) === order) {
        return { head, order, mt: MIGRATE_TYPES[mtIdxOf(packed)]! };
      }
    }
    return undefined;
  }

  /** The allocated block whose head is exactly `pfn`. */
  allocatedAt(pfn: number): AllocatedBlockInfo | undefined {
    const packed = this.allocated.get(pfn);
    if (packed === undefined) return undefined;
    return { head: pfn, order: orderOf(packed), mt: MIGRATE_TYPES[mtIdxOf(packed)]! };
  }

  /** __SetPageReported on a free block head; false (nothing set) if pfn heads no free block. */
  setReported(pfn: number): boolean {
    if (!this.freeHead.has(pfn)) return false;
    this.reportedHeads.add(pfn);
    return true;
  }

  /** PageReported(pfn). */
  isReported(pfn: number): boolean {
    return this.reportedHeads.has(pfn);
  }

  /** Every head carrying PG_reported. */
  reportedAll(): IterableIterator<number> {
    return this.reportedHeads.values();
  }

  /** Free blocks on one free list, in list order (free_area[order].free_list[mt]). */
  freeListBlocks(order: number, mt: MigrateType): number[] {
    if (!isOrder(order) || !isMigrateType(mt)) return [];
    return [...this.list(order, migrateTypeIndex(mt))];
  }

  /** NR_FREE_PAGES: free pages outside isolated pageblocks (what watermarks see). */
  freePages(): number {
    return this.nrFreePages;
  }

  /** Pages in allocated blocks, as the allocator counts them. */
  allocatedPages(): number {
    return this.allocatedPageCount;
  }

  /** Blocks on the free lists of `order` (one list, or all lists when mt is omitted). */
  /** nr_free of one list by index (migrateTypeIndex order); the checkers' hot path. */
  nrFreeAt(order: number, mtIdx: number): number {
    return this.nrFreeCounts[order * MIGRATE_TYPE_COUNT + mtIdx]!;
  }

  freeBlocks(order: number, mt?: MigrateType): number {
    if (!isOrder(order)) return 0;
    if (mt !== undefined) return this.nrFreeCounts[order * MIGRATE_TYPE_COUNT + migrateTypeIndex(mt)]!;
    let n = 0;
    for (let i = 0; i < MIGRATE_TYPE_COUNT; i++) n += this.nrFreeCounts[order * MIGRATE_TYPE_COUNT + i]!;
    return n;
  }

  /** free_area[order].nr_free: all lists, ISOLATE included. */
  nrFree(order: number): number {
    return this.freeBlocks(order);
  }

  /** min/low/high of mm/page_alloc.c __setup_per_zone_wmarks for this zone. */
  watermarks(): Watermarks {
    return this.marks;
  }

  /**
   * mm/page_alloc.c `__zone_watermark_ok` (no lowmem_reserve: one zone; no ALLOC_HARDER/
   * ALLOC_CMA): free pages minus `(1 << order) - 1` must stay above the mark, and for order > 0
   * a block of at least `order` must sit on an UNMOVABLE, MOVABLE or RECLAIMABLE list.
   */
  zoneWatermarkOk(order: number, mark: WatermarkName): boolean {
    if (!isOrder(order)) return false;
    const freePages = this.nrFreePages - ((1 << order) - 1);
    if (freePages <= this.marks[mark]) return false;
    if (order === 0) return true;
    for (let o = order; o <= MAX_PAGE_ORDER; o++) {
      for (const mt of ['UNMOVABLE', 'MOVABLE', 'RECLAIMABLE'] as const) {
        if (this.freeBlocks(o, mt) > 0) return true;
      }
    }
    return false;
  }

  /** mm/vmstat.c __fragmentation_index over free_area[].nr_free. */
  fragmentationIndex(order: number): number {
    return fragIndex(order, this.buddyinfo());
  }

  /** /proc/buddyinfo numbers: nr_free per order 0..MAX_PAGE_ORDER. */
  buddyinfo(): number[] {
    const out: number[] = [];
    for (let order = 0; order <= MAX_PAGE_ORDER; order++) out.push(this.nrFree(order));
    return out;
  }

  /** /proc/pagetypeinfo numbers: per list, nr_free per order. */
  pagetypeCounts(): Record<MigrateType, number[]> {
    const out = {} as Record<MigrateType, number[]>;
    for (const mt of MIGRATE_TYPES) {
      out[mt] = [];
      for (let order = 0; order <= MAX_PAGE_ORDER; order++) out[mt].push(this.freeBlocks(order, mt));
    }
    return out;
  }

  /**
   * Every pfn that became or stopped being a free-block head, moved between free lists,
   * became or stopped being an allocated head, or is the head of a pageblock whose type
   * changed, since the last call; in the order first touched.
   */
  takeDirty(): number[] {
    const out = [...this.dirty];
    this.dirty = new Set();
    return out;
  }

  /** Every free block, read from the lists (order ascending, list in enum order, head first). */
  *freeBlocksAll(): IterableIterator<FreeBlockInfo> {
    for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
      for (let mt = 0; mt < MIGRATE_TYPE_COUNT; mt++) {
        const list = MIGRATE_TYPES[mt]!;
        for (const pfn of this.list(order, mt)) yield { pfn, order, list };
      }
    }
  }

  /** Every allocated block, in allocation order. */
  *allocatedBlocksAll(): IterableIterator<AllocatedBlockInfo> {
    for (const [head, packed] of this.allocated) {
      yield { head, order: orderOf(packed), mt: MIGRATE_TYPES[mtIdxOf(packed)]! };
    }
  }

  /** Every pageblock whose type is not the MOVABLE default. */
  *pageblockTypesAll(): IterableIterator<{ readonly pfn: number; readonly mt: MigrateType }> {
    for (const [pfn, idx] of this.pbType) yield { pfn, mt: MIGRATE_TYPES[idx]! };
  }

  /**
   * TEST ONLY: damage the structure the way a bug would, bypassing every rule, so the
   * invariant checkers can be shown to fail. Marks the touched pfns dirty (the dirty contract
   * is part of what the incremental checker trusts).
   */
  testOnlyCorrupt(c: BuddyCorruption): void {
    switch (c.kind) {
      case 'push-free': {
        const idx = c.order * MIGRATE_TYPE_COUNT + migrateTypeIndex(c.list);
        this.lists[idx]!.addHead(c.pfn);
        this.nrFreeCounts[idx]!++;
        if (!this.freeHead.has(c.pfn)) this.setHead(c.pfn, pack(c.order, migrateTypeIndex(c.list)));
        this.dirty.add(c.pfn);
        return;
      }
      case 'drop-free': {
        const packed = this.freeHead.get(c.pfn);
        if (packed !== undefined) {
          const idx = orderOf(packed) * MIGRATE_TYPE_COUNT + mtIdxOf(packed);
          this.lists[idx]!.remove(c.pfn);
          this.nrFreeCounts[idx]!--;
          this.deleteHead(c.pfn);
        }
        this.dirty.add(c.pfn);
        return;
      }
      case 'drop-allocated':
        this.allocated.delete(c.pfn);
        this.dirty.add(c.pfn);
        return;
      case 'set-type':
        this.setTypeIdx(alignDown(c.pfn, PAGEBLOCK_ORDER), migrateTypeIndex(c.mt));
        return;
      // A counter only ever changes inside an operation, and every operation dirties some
      // pfn; the incremental check relies on that to skip untouched allocators, so a counter
      // corruption dirties the allocator's first pfn as the operation that made it would.
      case 'bump-nr-free':
        this.nrFreeCounts[c.order * MIGRATE_TYPE_COUNT + migrateTypeIndex(c.list)]! += c.delta;
        this.dirty.add(this.base);
        return;
      case 'bump-free-pages':
        this.nrFreePages += c.delta;
        this.dirty.add(this.base);
        return;
      case 'bump-allocated-pages':
        this.allocatedPageCount += c.delta;
        this.dirty.add(this.base);
        return;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Internal bookkeeping: every list change goes through addFree/removeFree/moveFree, every
  // allocation record through setAllocated/clearAllocated, every type change through
  // setTypeIdx, so the counters and the dirty set cannot miss one.

  private list(order: number, mtIdx: number): FreeList {
    return this.lists[order * MIGRATE_TYPE_COUNT + mtIdx]!;
  }

  private inRange(pfn: number, order: number): boolean {
    return Number.isInteger(pfn) && pfn >= this.base && pfn + (1 << order) <= this.base + this.frames;
  }

  private typeIdx(pfn: number): number {
    return this.pbType.get(alignDown(pfn, PAGEBLOCK_ORDER)) ?? MOVABLE_IDX;
  }

  private setTypeIdx(pb: number, idx: number): void {
    if (this.typeIdx(pb) === idx) return;
    if (idx === MOVABLE_IDX) this.pbType.delete(pb);
    else this.pbType.set(pb, idx);
    this.dirty.add(pb);
  }

  /**
   * Free pages of one pageblock (move_freepages_block's count), asked only by a steal of a free
   * block smaller than the pageblock: that block lies inside the pageblock, so no free block of
   * pageblock order or more covers it, and every free page there is in a small block.
   */
  private pageblockFreePages(pb: number): number {
    return this.pbFreeSmall.get(pb) ?? 0;
  }

  /**
   * The head index, with a count of free-block heads per max-order region beside it: a free
   * block never straddles a region, so a region with no heads answers "not free" in one lookup
   * (the common case for allocated memory, and the checks ask it for every frame they touch).
   */
  private setHead(pfn: number, packed: number): void {
    if (!this.freeHead.has(pfn)) {
      const region = Math.floor(pfn / MAX_ORDER_FRAMES);
      this.headsInRegion.set(region, (this.headsInRegion.get(region) ?? 0) + 1);
    }
    this.freeHead.set(pfn, packed);
  }

  private deleteHead(pfn: number): void {
    if (!this.freeHead.delete(pfn)) return;
    const region = Math.floor(pfn / MAX_ORDER_FRAMES);
    const n = (this.headsInRegion.get(region) ?? 0) - 1;
    if (n <= 0) this.headsInRegion.delete(region);
    else this.headsInRegion.set(region, n);
  }

  /** The free block (head, packed) containing [pfn, pfn + 2^minOrder), if any. */
  private enclosingFree(pfn: number, minOrder: number): [number, number] | undefined {
    // A negative pfn falls in a negative region, which holds no heads.
    if (!Number.isInteger(pfn)) return undefined;
    if (!this.headsInRegion.has(Math.floor(pfn / MAX_ORDER_FRAMES))) return undefined;
    for (let order = minOrder; order <= MAX_PAGE_ORDER; order++) {
      const head = alignDown(pfn, order);
      const packed = this.freeHead.get(head);
      if (packed !== undefined && orderOf(packed) === order) return [head, packed];
    }
    return undefined;
  }

  private addFree(pfn: number, order: number, mtIdx: number, toTail: boolean): void {
    const idx = order * MIGRATE_TYPE_COUNT + mtIdx;
    if (toTail) this.lists[idx]!.addTail(pfn);
    else this.lists[idx]!.addHead(pfn);
    this.nrFreeCounts[idx]!++;
    this.setHead(pfn, pack(order, mtIdx));
    if (order < PAGEBLOCK_ORDER) this.bump(this.pbFreeSmall, alignDown(pfn, PAGEBLOCK_ORDER), 1 << order);
    this.dirty.add(pfn);
  }

  private removeFree(pfn: number): void {
    const packed = this.freeHead.get(pfn);
    if (packed === undefined) return;
    const order = orderOf(packed);
    const idx = order * MIGRATE_TYPE_COUNT + mtIdxOf(packed);
    this.lists[idx]!.remove(pfn);
    this.nrFreeCounts[idx]!--;
    this.deleteHead(pfn);
    this.reportedHeads.delete(pfn);
    if (order < PAGEBLOCK_ORDER) this.bump(this.pbFreeSmall, alignDown(pfn, PAGEBLOCK_ORDER), -(1 << order));
    this.dirty.add(pfn);
  }

  /**
   * mm/page_alloc.c `move_to_free_list`: same block, another list (tail by default). Both
   * callers pass the head of a free block (the block a fallback found, or one of a pageblock's).
   */
  private moveFree(pfn: number, toIdx: number, toTail: boolean): void {
    const packed = this.freeHead.get(pfn)!;
    const reported = this.reportedHeads.has(pfn);
    this.removeFree(pfn);
    this.addFree(pfn, orderOf(packed), toIdx, toTail);
    if (reported) this.reportedHeads.add(pfn);
  }

  private setAllocated(pfn: number, order: number, mtIdx: number): void {
    this.allocated.set(pfn, pack(order, mtIdx));
    this.allocatedPageCount += 1 << order;
    if (mtIdx === MOVABLE_IDX && order < PAGEBLOCK_ORDER) {
      this.bump(this.pbMovable, alignDown(pfn, PAGEBLOCK_ORDER), 1 << order);
    }
    this.dirty.add(pfn);
  }

  private clearAllocated(pfn: number): void {
    const packed = this.allocated.get(pfn);
    if (packed === undefined) return;
    const order = orderOf(packed);
    this.allocated.delete(pfn);
    this.allocatedPageCount -= 1 << order;
    if (mtIdxOf(packed) === MOVABLE_IDX && order < PAGEBLOCK_ORDER) {
      this.bump(this.pbMovable, alignDown(pfn, PAGEBLOCK_ORDER), -(1 << order));
    }
    this.dirty.add(pfn);
  }

  /** Sparse counter update: a zero count is no entry at all. */
  private bump(m: Map<number, number>, key: number, delta: number): void {
    const v = (m.get(key) ?? 0) + delta;
    if (v === 0) m.delete(key);
    else m.set(key, v);
  }
}
