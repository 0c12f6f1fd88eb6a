import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES } from '../constants';
import { BuddyAllocator, isBuddyError, type BuddyError } from './buddy';
import { zoneWatermarks } from './watermarks';

const NO_FAULTS: ReadonlySet<string> = new Set();

function make(frames: number, base = 0, faults = NO_FAULTS): BuddyAllocator {
  return new BuddyAllocator({ name: 'host', base, frames, faults });
}

function ok(x: number | BuddyError): number {
  if (isBuddyError(x)) throw new Error(`unexpected refusal ${JSON.stringify(x)}`);
  return x;
}

function orders(partial: Record<number, number>): number[] {
  return Array.from({ length: MAX_PAGE_ORDER + 1 }, (_, o) => partial[o] ?? 0);
}

/** A deterministic generator for the tests (the model itself never draws randomness). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

describe('BuddyAllocator: initial state (memmap_init)', () => {
  test('all memory free as max-order MOVABLE blocks', () => {
    const b = make(4096, 1024);
    expect(b.buddyinfo()).toEqual(orders({ 10: 4 }));
    expect(b.freePages()).toBe(4096);
    expect(b.freeBlocks(10, 'MOVABLE')).toBe(4);
    expect(b.migratetypeOf(1024 + 3 * PAGEBLOCK_FRAMES)).toBe('MOVABLE');
    expect([...b.freeBlocksAll()].map((e) => e.pfn)).toEqual([1024, 2048, 3072, 4096]);
    expect(b.isFree(1024)).toBe(true);
    expect(b.isFree(1023)).toBe(false);
  });

  test('rejects a base or size that is not a multiple of 2^MAX_PAGE_ORDER', () => {
    expect(() => make(1000)).toThrow(RangeError);
    expect(() => make(1024, 512)).toThrow(RangeError);
    expect(() => make(512)).toThrow(RangeError);
    // The message names the allocator and what is wrong.
    expect(() => make(1024, 512)).toThrow('buddy host: base 512 not aligned to 2^10');
    expect(() => make(1000)).toThrow('buddy host: frames 1000 not a multiple of 2^10');
    expect(() => make(0)).toThrow('buddy host: frames 0 not a multiple of 2^10');
    expect(() => make(1024, -1024)).toThrow('buddy host: base -1024 not aligned to 2^10');
    expect(() => make(1024, 1024.5)).toThrow('buddy host: base 1024.5 not aligned to 2^10');
    expect(() => make(1536)).toThrow('buddy host: frames 1536 not a multiple of 2^10');
    expect(() => make(1024.5 * 1024)).toThrow('buddy host: frames 1049088 not a multiple of 2^10');
  });

  test('isBuddyError: an object with a string `error`, nothing else', () => {
    expect([null, undefined, 5, 'no-memory', {}, { error: 1 }, { error: 'no-memory' }].map(isBuddyError)).toEqual([false, false, false, false, false, false, true]);
  });

  test('allocatedBlock: a pfn that is not an integer is in no block', () => {
    const b = make(1024);
    expect(ok(b.alloc(1, 'MOVABLE'))).toBe(0);
    expect(b.allocatedBlock(1)).toEqual({ head: 0, order: 1, mt: 'MOVABLE' });
    expect(b.allocatedBlock(0.5)).toBeUndefined();
  });

  test('stats count each event once: allocations, failures, frees, merges, splits (expand, allocAt, isolation), isolations', () => {
    const b = make(2048);
    ok(b.alloc(0, 'MOVABLE')); // expand: 10 splits
    ok(b.allocAt(1024 + 5, 0, 'MOVABLE')); // break_down_buddy_pages: 10 splits
    expect(isBuddyError(b.alloc(10, 'MOVABLE'))).toBe(true); // both max-order blocks are split
    expect(isBuddyError(b.alloc(11, 'MOVABLE'))).toBe(true); // bad order: no attempt counted
    b.free(0, 0); // 10 merges back to order 10
    expect(isBuddyError(b.free(0, 0))).toBe(true); // double free: refused, not counted
    b.isolatePageblock(0); // the order-10 block split into 2 pageblocks: 1 split; no merge with the MOVABLE half
    b.unisolatePageblock(0, 'MOVABLE'); // re-freed: merges with its buddy
    expect({ ...b.stats }).toEqual({ allocs: 2, allocFailures: 1, frees: 1, merges: 11, splits: 21, fallbacks: 0, steals: 0, isolations: 1, unisolations: 1 });
  });
});

describe('split and merge (expand, __free_one_page)', () => {
  test('an order-0 allocation splits one max-order block into one block per order', () => {
    const b = make(2048);
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(0);
    // expand(): halves 512, 256, ..., 1 go back on the list.
    expect(b.buddyinfo()).toEqual(orders({ 0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 10: 1 }));
    expect(b.stats.splits).toBe(10);
    for (let o = 0; o < 10; o++) expect(b.freeBlockAt(1 << o)).toEqual({ pfn: 1 << o, order: o, list: 'MOVABLE' });
    expect(b.allocatedBlock(0)).toEqual({ head: 0, order: 0, mt: 'MOVABLE' });
    expect(b.freePages()).toBe(2047);
  });

  test('freeing merges with pfn ^ (1 << order) all the way back up', () => {
    const b = make(2048);
    const p = ok(b.alloc(0, 'MOVABLE'));
    b.free(p, 0);
    expect(b.buddyinfo()).toEqual(orders({ 10: 2 }));
    expect(b.stats.merges).toBe(10);
    expect(b.freePages()).toBe(2048);
  });

  test('the buddy is pfn ^ (1 << order): no merge while it is allocated', () => {
    const b = make(1024);
    const a = ok(b.alloc(0, 'MOVABLE'));
    const c = ok(b.alloc(0, 'MOVABLE'));
    expect([a, c]).toEqual([0, 1]);
    const d = ok(b.alloc(1, 'MOVABLE'));
    expect(d).toBe(2);
    b.free(c, 0); // buddy 1 ^ 1 = 0 is allocated
    expect(b.freeBlockAt(1)).toEqual({ pfn: 1, order: 0, list: 'MOVABLE' });
    b.free(d, 1); // buddy 2 ^ 2 = 0 is an order-0 block's head, but allocated: no merge
    expect(b.freeBlockAt(2)).toEqual({ pfn: 2, order: 1, list: 'MOVABLE' });
    b.free(a, 0); // 0 + 1 -> order 1 at 0, + 2 -> order 2, ... -> order 10
    expect(b.freeBlockAt(0)).toEqual({ pfn: 0, order: 10, list: 'MOVABLE' });
    expect(b.buddyinfo()).toEqual(orders({ 10: 1 }));
  });

  test('LIFO: the block freed last is allocated first (hot reuse)', () => {
    const b = make(1024);
    const ps = [0, 1, 2, 3, 4, 5].map(() => ok(b.alloc(0, 'MOVABLE')));
    b.free(ps[1]!, 0);
    b.free(ps[4]!, 0);
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(ps[4]);
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(ps[1]);
  });

  test('allocAt claims a specific range and splits the enclosing block around it', () => {
    const b = make(1024);
    expect(ok(b.allocAt(0x2a4, 2, 'UNMOVABLE'))).toBe(0x2a4);
    expect(b.isFree(0x2a4)).toBe(false);
    expect(b.isFree(0x2a3)).toBe(true);
    expect(b.isFree(0x2a8)).toBe(true);
    expect(b.allocatedBlock(0x2a7)).toEqual({ head: 0x2a4, order: 2, mt: 'UNMOVABLE' });
    expect(b.freePages()).toBe(1020);
    expect(b.allocAt(0x2a4, 0, 'MOVABLE')).toEqual({ error: 'not-free', pfn: 0x2a4, order: 0 });
    expect(b.allocAt(0x2a0, 3, 'MOVABLE')).toEqual({ error: 'not-free', pfn: 0x2a0, order: 3 });
    b.free(0x2a4, 2);
    expect(b.buddyinfo()).toEqual(orders({ 10: 1 }));
  });

  test('the other entry points: allocAt, free, unisolate, splitAllocated refuse bad input and leave the state as it was', () => {
    const b = make(1024, 1024);
    const p = ok(b.alloc(0, 'MOVABLE'));
    const before = { info: b.buddyinfo(), free: b.freePages(), alloc: b.allocatedPages(), type: b.migratetypeOf(1024) };
    expect(b.allocAt(1024, 11, 'MOVABLE')).toEqual({ error: 'bad-order', order: 11 });
    expect(b.allocAt(1024, 0, 'ISOLATE')).toEqual({ error: 'bad-migratetype', mt: 'ISOLATE' });
    expect(b.allocAt(1024, 0, 'BOGUS' as never)).toEqual({ error: 'bad-migratetype', mt: 'BOGUS' });
    expect(b.free(p, 11)).toEqual({ error: 'bad-order', order: 11 });
    expect(b.unisolatePageblock(0, 'MOVABLE')).toEqual({ error: 'out-of-range', pfn: 0, order: 9 });
    expect(b.unisolatePageblock(1024, 'ISOLATE')).toEqual({ error: 'bad-migratetype', mt: 'ISOLATE' });
    expect(b.splitAllocated(p + 1)).toEqual({ error: 'not-allocated', pfn: p + 1, order: 0, allocatedOrder: null });
    // An order-0 block is already split: nothing to do, nothing refused.
    expect(b.splitAllocated(p)).toBeUndefined();
    expect(b.allocatedAt(p)).toEqual({ head: p, order: 0, mt: 'MOVABLE' });
    expect({ info: b.buddyinfo(), free: b.freePages(), alloc: b.allocatedPages(), type: b.migratetypeOf(1024) }).toEqual(before);
  });

  test('queries answer "nothing" for impossible input rather than throwing', () => {
    const b = make(1024, 1024);
    const p = ok(b.alloc(0, 'MOVABLE'));
    expect(b.allocatedBlock(-1)).toBeUndefined();
    expect(b.allocatedBlock(0.5)).toBeUndefined();
    expect(b.allocatedBlock(p)).toEqual({ head: p, order: 0, mt: 'MOVABLE' });
    expect(b.isFree(-1)).toBe(false);
    expect(b.isFree(p)).toBe(false);
    expect(b.isFree(p + 1)).toBe(true);
    expect(b.isFree(p + 1.5)).toBe(false);
    expect(b.isFree(Number.NaN)).toBe(false);
    // PG_reported only lands on a free block's head: not on an allocated page, not mid-block.
    expect(b.setReported(p)).toBe(false);
    expect(b.setReported(p + 3)).toBe(false);
    expect([...b.reportedAll()]).toEqual([]);
    expect(b.freeListBlocks(11, 'MOVABLE')).toEqual([]);
    expect(b.freeListBlocks(0, 'BOGUS' as never)).toEqual([]);
    expect(b.freeListBlocks(0, 'MOVABLE')).toEqual([p + 1]);
    expect(b.freeBlocks(-1)).toBe(0);
    expect(b.freeBlocks(0)).toBe(1);
    expect(b.zoneWatermarkOk(11, 'min')).toBe(false);
    expect(b.zoneWatermarkOk(0, 'min')).toBe(true);
  });

  test('a zone beyond the pfn limit is refused at construction', () => {
    expect(() => make(1024, 2 ** 30)).toThrow(RangeError);
    expect(() => make(2048, 2 ** 30 - 1024)).toThrow(/exceeds 2\^30/);
    expect(() => make(1024, 2 ** 30 - 1024)).not.toThrow();
  });
});

describe('fallback and stealing (__rmqueue_fallback, steal_suitable_fallback)', () => {
  test('UNMOVABLE falls back to RECLAIMABLE before MOVABLE', () => {
    const b = make(2048);
    // Make block 0 RECLAIMABLE: isolate then unisolate its first pageblock as RECLAIMABLE; the
    // re-free merges with the MOVABLE buddy pageblock onto the RECLAIMABLE list.
    b.isolatePageblock(0);
    b.unisolatePageblock(0, 'RECLAIMABLE');
    expect(b.freeBlocks(10, 'RECLAIMABLE')).toBe(1);
    expect(b.freeBlocks(10, 'MOVABLE')).toBe(1);
    expect(ok(b.alloc(0, 'UNMOVABLE'))).toBe(0);
    // Order >= pageblock_order: the whole range changes type (change_pageblock_range).
    expect(b.migratetypeOf(0)).toBe('UNMOVABLE');
    expect(b.migratetypeOf(512)).toBe('UNMOVABLE');
    expect(b.migratetypeOf(1024)).toBe('MOVABLE');
    expect(b.stats.fallbacks).toBe(1);
    expect(b.stats.steals).toBe(1);
  });

  test('MOVABLE falls back to RECLAIMABLE, then UNMOVABLE; RECLAIMABLE to UNMOVABLE, then MOVABLE', () => {
    const b = make(1024);
    expect(ok(b.alloc(0, 'RECLAIMABLE'))).toBe(0); // only MOVABLE exists: second choice
    expect(b.migratetypeOf(0)).toBe('RECLAIMABLE');
    // Now only RECLAIMABLE lists hold memory; MOVABLE takes the largest (512, order 9).
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(512);
    expect(b.migratetypeOf(512)).toBe('MOVABLE');
    expect(b.migratetypeOf(0)).toBe('RECLAIMABLE');
  });

  test('a MOVABLE request that cannot steal splits the smallest fallback block (find_smallest)', () => {
    const b = make(1024);
    expect(ok(b.alloc(0, 'UNMOVABLE'))).toBe(0); // whole block becomes UNMOVABLE
    for (const o of [9, 8, 7, 6, 5, 4]) ok(b.alloc(o, 'UNMOVABLE'));
    // Left free: 1 (order 0), 2 (order 1), 4 (order 2), 8 (order 3), all UNMOVABLE.
    expect(b.freePages()).toBe(15);
    const before = b.stats.steals;
    // Largest fallback is order 3 < pageblock_order / 2 and the request is MOVABLE:
    // can_steal is false, so the kernel takes the smallest suitable block, order 1 at 2.
    expect(ok(b.alloc(1, 'MOVABLE'))).toBe(2);
    expect(b.migratetypeOf(0)).toBe('UNMOVABLE');
    expect(b.stats.steals).toBe(before);
  });

  test('claim threshold: 256 free + alike pages claim the pageblock', () => {
    const b = make(1024);
    ok(b.allocAt(512, 9, 'MOVABLE')); // second pageblock out of the way
    expect(ok(b.alloc(8, 'MOVABLE'))).toBe(0); // pageblock 0: 256 movable, 256 free
    // UNMOVABLE into a MOVABLE block: alike = 512 - (free + movable) = 0; 256 + 0 >= 256.
    expect(ok(b.alloc(0, 'UNMOVABLE'))).toBe(256);
    expect(b.migratetypeOf(0)).toBe('UNMOVABLE');
    expect(b.stats.steals).toBe(1);
    expect(b.freeBlocks(7, 'UNMOVABLE')).toBe(1);
  });

  test('claim threshold: 255 free + 0 alike pages do not claim, but the free pages move', () => {
    const b = make(1024);
    ok(b.allocAt(512, 9, 'MOVABLE'));
    expect(ok(b.alloc(8, 'MOVABLE'))).toBe(0);
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(256); // 257 movable, 255 free
    expect(ok(b.alloc(0, 'UNMOVABLE'))).toBe(257);
    expect(b.migratetypeOf(0)).toBe('MOVABLE');
    expect(b.stats.steals).toBe(0);
    expect(b.stats.fallbacks).toBe(1);
    // move_freepages_block moved every free block of the pageblock to the UNMOVABLE lists.
    for (let o = 1; o <= 7; o++) expect(b.freeBlocks(o, 'UNMOVABLE')).toBe(1);
    expect(b.freeBlocks(7, 'MOVABLE')).toBe(0);
  });

  test('MOVABLE into an UNMOVABLE block counts only movable pages as alike', () => {
    const b = make(1024);
    expect(ok(b.alloc(0, 'UNMOVABLE'))).toBe(0);
    expect(ok(b.alloc(9, 'UNMOVABLE'))).toBe(512);
    // Pageblock 0: 511 free, 0 movable; largest fallback order 8 >= pageblock_order / 2.
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(1);
    expect(b.migratetypeOf(0)).toBe('MOVABLE');
    expect(b.migratetypeOf(512)).toBe('UNMOVABLE');
  });
});

describe('isolation (set_migratetype_isolate / unset_migratetype_isolate)', () => {
  test('isolated free pages leave NR_FREE_PAGES and are never allocated', () => {
    const b = make(2048);
    b.isolatePageblock(512);
    expect(b.migratetypeOf(700)).toBe('ISOLATE');
    expect(b.freeBlocks(9, 'ISOLATE')).toBe(1);
    expect(b.freePages()).toBe(2048 - 512);
    expect(b.isolatePageblock(600)).toEqual({ error: 'already-isolated', pfn: 512 });
    const got: number[] = [];
    for (;;) {
      const p = b.alloc(0, 'MOVABLE');
      if (isBuddyError(p)) {
        expect(p).toEqual({ error: 'no-memory', order: 0, mt: 'MOVABLE' });
        break;
      }
      got.push(p);
    }
    expect(got.length).toBe(2048 - 512);
    expect(got.some((p) => p >= 512 && p < 1024)).toBe(false);
    expect(b.allocAt(600, 0, 'MOVABLE')).toEqual({ error: 'isolated', pfn: 600 });
  });

  test('no merge across an isolated pageblock at order >= pageblock_order; unisolate merges', () => {
    const b = make(1024);
    const a = ok(b.alloc(9, 'MOVABLE'));
    const c = ok(b.alloc(9, 'MOVABLE'));
    b.isolatePageblock(a);
    b.free(a, 9); // into an isolated pageblock: ISOLATE list, not counted
    expect(b.freeBlocks(9, 'ISOLATE')).toBe(1);
    expect(b.freePages()).toBe(0);
    b.free(c, 9);
    expect(b.freeBlocks(9, 'MOVABLE')).toBe(1);
    expect(b.freeBlocks(10)).toBe(0);
    expect(b.freePages()).toBe(512);
    b.unisolatePageblock(a, 'MOVABLE');
    expect(b.buddyinfo()).toEqual(orders({ 10: 1 }));
    expect(b.freePages()).toBe(1024);
    expect(b.unisolatePageblock(a, 'MOVABLE')).toEqual({ error: 'not-isolated', pfn: 0 });
  });

  test('freeing a block larger than a pageblock splits it per pageblock type (split_large_buddy)', () => {
    const b = make(1024);
    const p = ok(b.alloc(10, 'MOVABLE'));
    b.isolatePageblock(512);
    b.free(p, 10);
    expect(b.freeBlockAt(0)).toEqual({ pfn: 0, order: 9, list: 'MOVABLE' });
    expect(b.freeBlockAt(512)).toEqual({ pfn: 512, order: 9, list: 'ISOLATE' });
    expect(b.freePages()).toBe(512);
  });

  test('isolating inside a free max-order block splits it first', () => {
    const b = make(1024);
    b.isolatePageblock(512);
    expect(b.freeBlockAt(0)).toEqual({ pfn: 0, order: 9, list: 'MOVABLE' });
    expect(b.freeBlockAt(512)).toEqual({ pfn: 512, order: 9, list: 'ISOLATE' });
    b.unisolatePageblock(512, 'MOVABLE');
    expect(b.freeBlockAt(0)).toEqual({ pfn: 0, order: 10, list: 'MOVABLE' });
  });

  test('small free blocks of an isolated pageblock move to the ISOLATE lists and back', () => {
    const b = make(1024);
    const p = ok(b.alloc(0, 'MOVABLE'));
    b.isolatePageblock(0);
    for (let o = 0; o <= 8; o++) expect(b.freeBlocks(o, 'ISOLATE')).toBe(1);
    expect(b.freePages()).toBe(512);
    b.free(p, 0);
    expect(b.freeBlockAt(0)).toEqual({ pfn: 0, order: 9, list: 'ISOLATE' });
    b.unisolatePageblock(0, 'MOVABLE');
    expect(b.buddyinfo()).toEqual(orders({ 10: 1 }));
    expect(b.freePages()).toBe(1024);
  });
});

describe('watermarks and fragmentation through the allocator', () => {
  test('watermarks() follows __setup_per_zone_wmarks for the zone size', () => {
    expect(make(1024).watermarks()).toEqual({ min: 64, low: 80, high: 96 });
    expect(make(2 ** 18).watermarks()).toEqual(zoneWatermarks(2 ** 18));
  });

  test('zoneWatermarkOk: free pages minus the request must stay above the mark', () => {
    const b = make(1024); // min 64, low 80, high 96
    for (let i = 0; i < 1024 - 97; i++) ok(b.alloc(0, 'MOVABLE'));
    expect(b.freePages()).toBe(97);
    expect(b.zoneWatermarkOk(0, 'high')).toBe(true); // 97 > 96
    ok(b.alloc(0, 'MOVABLE'));
    expect(b.zoneWatermarkOk(0, 'high')).toBe(false); // 96 <= 96
    expect(b.zoneWatermarkOk(0, 'low')).toBe(true);
    // order 4: 96 - 15 = 81 > 80 and a block of order >= 4 exists
    expect(b.zoneWatermarkOk(4, 'low')).toBe(true);
    expect(b.zoneWatermarkOk(5, 'low')).toBe(false); // 96 - 31 = 65 <= 80
    // free blocks are 928 (order 5) and 960 (order 6): 96 - 31 = 65 > 64
    expect(b.zoneWatermarkOk(5, 'min')).toBe(true);
    expect(b.zoneWatermarkOk(7, 'min')).toBe(false); // 96 - 127 < 64
  });

  test('zoneWatermarkOk: enough pages but no block of the order', () => {
    const b = make(1024);
    const ps: number[] = [];
    for (let i = 0; i < 1024; i++) ps.push(ok(b.alloc(0, 'MOVABLE')));
    for (let i = 0; i < 1024; i += 2) b.free(ps[i]!, 0); // every other page: 512 order-0 blocks
    expect(b.freePages()).toBe(512);
    expect(b.zoneWatermarkOk(0, 'high')).toBe(true);
    expect(b.zoneWatermarkOk(1, 'min')).toBe(false);
    // 512 pages in 512 blocks, order 1: 1000 - (1000 + 512000/2) / 512 = 1000 - 501 = 499.
    expect(b.fragmentationIndex(1)).toBe(499);
    expect(b.fragmentationIndex(0)).toBe(-1000);
  });

  test('fragmentation index: -1000 when fresh, 0 when full', () => {
    const b = make(1024);
    expect(b.fragmentationIndex(10)).toBe(-1000);
    ok(b.alloc(10, 'MOVABLE'));
    expect(b.fragmentationIndex(3)).toBe(0);
    expect(b.pagetypeCounts().MOVABLE).toEqual(orders({}));
  });
});

describe('refusals never throw and change nothing', () => {
  test('double free, wrong order, out of range, misaligned, bad order, bad type, no memory', () => {
    const b = make(1024, 1024);
    const p = ok(b.alloc(2, 'MOVABLE'));
    const before = { info: b.buddyinfo(), free: b.freePages(), alloc: b.allocatedPages() };
    expect(b.free(p, 1)).toEqual({ error: 'not-allocated', pfn: p, order: 1, allocatedOrder: 2 });
    expect(b.free(p + 1, 0)).toEqual({ error: 'not-allocated', pfn: p + 1, order: 0, allocatedOrder: null });
    expect(b.free(0, 0)).toEqual({ error: 'out-of-range', pfn: 0, order: 0 });
    expect(b.free(2047, 1)).toEqual({ error: 'out-of-range', pfn: 2047, order: 1 });
    expect(b.free(p + 2, 2)).toEqual({ error: 'misaligned', pfn: p + 2, order: 2 });
    expect(b.alloc(11, 'MOVABLE')).toEqual({ error: 'bad-order', order: 11 });
    expect(b.alloc(-1, 'MOVABLE')).toEqual({ error: 'bad-order', order: -1 });
    expect(b.alloc(1.5, 'MOVABLE')).toEqual({ error: 'bad-order', order: 1.5 });
    expect(b.alloc(0, 'ISOLATE')).toEqual({ error: 'bad-migratetype', mt: 'ISOLATE' });
    expect(b.allocAt(1025, 1, 'MOVABLE')).toEqual({ error: 'misaligned', pfn: 1025, order: 1 });
    expect(b.allocAt(4096, 0, 'MOVABLE')).toEqual({ error: 'out-of-range', pfn: 4096, order: 0 });
    expect(b.alloc(10, 'MOVABLE')).toEqual({ error: 'no-memory', order: 10, mt: 'MOVABLE' });
    expect(b.isolatePageblock(99)).toEqual({ error: 'out-of-range', pfn: 99, order: 9 });
    expect({ info: b.buddyinfo(), free: b.freePages(), alloc: b.allocatedPages() }).toEqual(before);
    expect(b.free(p, 2)).toBeUndefined();
    expect(b.free(p, 2)).toEqual({ error: 'not-allocated', pfn: p, order: 2, allocatedOrder: null });
    expect(b.buddyinfo()).toEqual(orders({ 10: 1 }));
  });
});

describe('determinism and sparseness', () => {
  function run(seed: number): { pfns: number[]; info: number[]; dirty: number[] } {
    const b = make(1 << 14);
    const next = lcg(seed);
    const live: [number, number][] = [];
    const pfns: number[] = [];
    const types = ['UNMOVABLE', 'MOVABLE', 'RECLAIMABLE'] as const;
    for (let i = 0; i < 2000; i++) {
      const r = next();
      if (live.length > 0 && r % 3 === 0) {
        const [p, o] = live.splice(next() % live.length, 1)[0]!;
        b.free(p, o);
      } else if (r % 17 === 1) {
        b.isolatePageblock((next() % (1 << 14)) & ~511);
      } else if (r % 17 === 2) {
        b.unisolatePageblock((next() % (1 << 14)) & ~511, types[next() % 3]!);
      } else {
        const o = next() % 6;
        const p = b.alloc(o, types[next() % 3]!);
        if (!isBuddyError(p)) {
          live.push([p, o]);
          pfns.push(p);
        }
      }
    }
    return { pfns, info: b.buddyinfo(), dirty: b.takeDirty() };
  }

  test('the same sequence gives the same pfns, lists and dirty order', () => {
    expect(run(7)).toEqual(run(7));
    expect(run(7).pfns).not.toEqual(run(8).pfns);
  });

  test('2^24 frames (64 GiB): 10,000 alloc/free pairs touch only what they use', () => {
    const frames = 2 ** 24;
    const b = new BuddyAllocator({ name: 'host', base: 0, frames, faults: NO_FAULTS });
    expect(b.takeDirty().length).toBe(frames / 1024);
    const next = lcg(1);
    const live: [number, number][] = [];
    for (let i = 0; i < 10_000; i++) {
      const o = next() % (MAX_PAGE_ORDER + 1);
      live.push([ok(b.alloc(o, 'MOVABLE')), o]);
      if (live.length > 64) {
        const [p, po] = live.splice(next() % live.length, 1)[0]!;
        expect(b.free(p, po)).toBeUndefined();
      }
    }
    for (const [p, o] of live) b.free(p, o);
    expect(b.freePages()).toBe(frames);
    expect(b.buddyinfo()).toEqual(orders({ 10: frames / 1024 }));
    expect(b.stats.allocs).toBe(10_000);
  }, 20_000);

  test('takeDirty reports touched heads once, then nothing', () => {
    const b = make(1024);
    b.takeDirty();
    const p = ok(b.alloc(1, 'MOVABLE'));
    const d = b.takeDirty();
    expect(d).toContain(0);
    expect(d).toContain(p);
    expect(d).toContain(2);
    expect(d).toContain(512);
    expect(b.takeDirty()).toEqual([]);
    b.isolatePageblock(512);
    expect(b.takeDirty()).toContain(512);
  });
});

describe("the allocator's own bookkeeping, rule by rule", () => {
  test('allocAt never hands out a page of an isolated pageblock', () => {
    const b = make(2048);
    b.isolatePageblock(512);
    expect(b.allocAt(600, 0, 'MOVABLE')).toEqual({ error: 'isolated', pfn: 600 });
  });

  test('allocAt puts each half it splits off at the head of its list (break_down_buddy_pages)', () => {
    const b = make(4096);
    expect(ok(b.alloc(9, 'MOVABLE'))).toBe(0); // leaves 512 on the order-9 list
    expect(ok(b.allocAt(2048 + 512, 9, 'MOVABLE'))).toBe(2560); // the lower half, 2048, goes back
    expect(ok(b.allocAt(3072, 9, 'MOVABLE'))).toBe(3072); // the upper half, 3584, goes back
    expect(b.freeListBlocks(9, 'MOVABLE')).toEqual([3584, 2048, 512]);
  });

  test('putbackIsolated refuses what is not an allocated block of that order, and gives back to the tail (FPI_TO_TAIL)', () => {
    const b = make(1024);
    for (let i = 0; i < 4; i++) expect(ok(b.alloc(0, 'MOVABLE'))).toBe(i);
    expect(b.putbackIsolated(5, 0)).toEqual({ error: 'not-allocated', pfn: 5, order: 0, allocatedOrder: null });
    expect(b.putbackIsolated(2, 1)).toEqual({ error: 'not-allocated', pfn: 2, order: 1, allocatedOrder: 0 });
    expect(b.putbackIsolated(2, 11)).toEqual({ error: 'not-allocated', pfn: 2, order: 11, allocatedOrder: 0 });
    expect(b.freePages()).toBe(1020);
    b.free(0, 0); // its buddy 1 is allocated: it stays order 0, at the head
    expect(b.putbackIsolated(2, 0)).toBeUndefined(); // buddy 3 allocated: no merge, to the tail
    expect(b.freeListBlocks(0, 'MOVABLE')).toEqual([0, 2]);
    expect(b.freePages()).toBe(1022);
    // A block larger than a pageblock goes back one pageblock at a time, to the tail too.
    const c = make(2048);
    expect(ok(c.alloc(10, 'MOVABLE'))).toBe(0);
    expect(c.putbackIsolated(0, 10)).toBeUndefined();
    expect(c.freeListBlocks(10, 'MOVABLE')).toEqual([1024, 0]);
    // Each pageblock with its own type: an isolated half goes to the ISOLATE list, uncounted.
    const d = make(2048);
    expect(ok(d.alloc(10, 'MOVABLE'))).toBe(0);
    d.isolatePageblock(512);
    expect(d.putbackIsolated(0, 10)).toBeUndefined();
    expect([d.freeBlockAt(0), d.freeBlockAt(512), d.freePages()]).toEqual([{ pfn: 0, order: 9, list: 'MOVABLE' }, { pfn: 512, order: 9, list: 'ISOLATE' }, 1536]);
  });

  test('allocatedBlock finds the max-order block around a pfn', () => {
    const b = make(1024);
    expect(ok(b.alloc(10, 'MOVABLE'))).toBe(0);
    expect(b.allocatedBlock(700)).toEqual({ head: 0, order: 10, mt: 'MOVABLE' });
  });

  test('zoneWatermarkOk: a max-order block is a block of the order; an order that is not one is never ok', () => {
    const b = make(2048);
    expect(b.zoneWatermarkOk(10, 'min')).toBe(true);
    expect(b.zoneWatermarkOk(-1, 'min')).toBe(false);
  });

  test('pageblockTypesAll lists exactly the pageblocks that are not MOVABLE', () => {
    const b = make(2048);
    b.isolatePageblock(512);
    expect([...b.pageblockTypesAll()]).toEqual([{ pfn: 512, mt: 'ISOLATE' }]);
    b.unisolatePageblock(512, 'MOVABLE');
    expect([...b.pageblockTypesAll()]).toEqual([]);
  });

  test('a reported block keeps PG_reported when it only moves between lists (move_to_free_list)', () => {
    const b = make(2048);
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(0);
    expect(b.setReported(1)).toBe(true);
    b.isolatePageblock(0);
    expect(b.freeBlockAt(1)).toEqual({ pfn: 1, order: 0, list: 'ISOLATE' });
    expect(b.isReported(1)).toBe(true);
  });

  test("taking a free block forgets its head in its own max-order region's count, and no other region's", () => {
    // 2^21 frames: region 1024 (pfns 2^20 .. 2^20 + 1023) holds one head, the max-order block.
    const b = make(2 ** 21);
    expect(ok(b.allocAt(0, 0, 'MOVABLE'))).toBe(0);
    expect(ok(b.allocAt(1, 0, 'MOVABLE'))).toBe(1); // removes the head at pfn 1, in region 0
    expect(b.freeBlockContaining(2 ** 20 + 5)).toEqual({ pfn: 2 ** 20, order: MAX_PAGE_ORDER, list: 'MOVABLE' });
    expect(b.freeBlockContaining(1)).toBeUndefined();
    expect(b.freeBlockContaining(3)).toEqual({ pfn: 2, order: 1, list: 'MOVABLE' });
  });

  test('freeEntriesAt lists every list holding a pfn, in list order, so a disagreement cannot hide', () => {
    const b = make(1024);
    b.testOnlyCorrupt({ kind: 'push-free', pfn: 0, order: 0, list: 'UNMOVABLE' });
    expect(b.freeEntriesAt(0)).toEqual([{ order: 0, list: 'UNMOVABLE' }, { order: 10, list: 'MOVABLE' }]);
  });
});

describe('fallback rules the steal tests above leave open', () => {
  test('zoneWatermarkOk at order 0 needs free pages only, on any list: memory all on CMA lists still passes', () => {
    const b = make(1024);
    for (const pb of [0, 512]) {
      b.isolatePageblock(pb);
      b.unisolatePageblock(pb, 'CMA');
    }
    expect(b.freeBlocks(10, 'CMA')).toBe(1);
    expect(b.freePages()).toBe(1024);
    expect(b.zoneWatermarkOk(0, 'min')).toBe(true);
    expect(b.zoneWatermarkOk(1, 'min')).toBe(false);
  });

  test('a MOVABLE request that cannot steal the pageblock moves the one block it takes, not the pageblock\'s other free pages (single_page)', () => {
    const b = make(1024);
    b.isolatePageblock(512);
    b.unisolatePageblock(512, 'UNMOVABLE');
    expect(ok(b.alloc(9, 'MOVABLE'))).toBe(0); // no MOVABLE memory left
    for (let i = 0; i < PAGEBLOCK_FRAMES; i++) ok(b.alloc(0, 'UNMOVABLE'));
    for (const p of [512, 600, 700, 800]) b.free(p, 0); // four lone pages, their buddies in use
    expect(b.freeBlocks(0, 'UNMOVABLE')).toBe(4);
    expect(isBuddyError(b.alloc(0, 'MOVABLE'))).toBe(false);
    expect([b.freeBlocks(0, 'UNMOVABLE'), b.freeBlocks(0, 'MOVABLE'), b.migratetypeOf(512)]).toEqual([3, 0, 'UNMOVABLE']);
  });
});

test('testOnlyCorrupt does exactly the damage it names (properties/buddy.test.ts relies on each form)', () => {
  const b = make(1024);
  b.testOnlyCorrupt({ kind: 'push-free', pfn: 3, order: 0, list: 'UNMOVABLE' });
  expect([b.freeBlocks(0, 'UNMOVABLE'), b.freeBlockAt(3)]).toEqual([1, { pfn: 3, order: 0, list: 'UNMOVABLE' }]);
  // A pfn that already heads a block keeps its head record: only the list and its count change.
  b.testOnlyCorrupt({ kind: 'push-free', pfn: 0, order: 1, list: 'RECLAIMABLE' });
  expect([b.freeBlocks(1, 'RECLAIMABLE'), b.freeBlockAt(0)]).toEqual([1, { pfn: 0, order: 10, list: 'MOVABLE' }]);
  b.testOnlyCorrupt({ kind: 'drop-free', pfn: 0 });
  expect([b.freeBlocks(10, 'MOVABLE'), b.freeBlockAt(0), b.freeListBlocks(10, 'MOVABLE')]).toEqual([0, undefined, []]);
  b.testOnlyCorrupt({ kind: 'bump-nr-free', order: 2, list: 'RECLAIMABLE', delta: 5 });
  expect([b.freeBlocks(2, 'RECLAIMABLE'), b.freeBlocks(2, 'UNMOVABLE'), b.freeBlocks(2, 'MOVABLE')]).toEqual([5, 0, 0]);
  b.testOnlyCorrupt({ kind: 'bump-free-pages', delta: 7 });
  b.testOnlyCorrupt({ kind: 'bump-allocated-pages', delta: 3 });
  expect([b.freePages(), b.allocatedPages()]).toEqual([1031, 3]);
});

test('isolation puts the blocks it moves and the blocks it splits where the kernel does: moved ones and re-freed ones to the tail, split halves to the head', () => {
  const b = make(2048);
  expect(ok(b.alloc(0, 'MOVABLE'))).toBe(0);
  expect(ok(b.allocAt(513, 0, 'MOVABLE'))).toBe(513);
  // Lone free pages 1 (pageblock 0) and 512 (pageblock 512), their buddies in use.
  b.isolatePageblock(0);
  b.isolatePageblock(512);
  expect(b.freeListBlocks(0, 'ISOLATE')).toEqual([1, 512]); // move_freepages_block: to the tail
  b.unisolatePageblock(0, 'MOVABLE');
  b.unisolatePageblock(512, 'MOVABLE');
  expect(b.freeListBlocks(0, 'MOVABLE')).toEqual([1, 512]); // __putback_isolated_page: to the tail
  // A wholly free pageblock isolated is re-freed to the ISOLATE list's tail.
  const c = make(3072);
  expect(ok(c.alloc(9, 'MOVABLE'))).toBe(0); // leaves 512 on the order-9 MOVABLE list
  c.isolatePageblock(1024); // splits 1024's max-order block: 1536 stays MOVABLE, at the head
  c.isolatePageblock(2048); // and 2560 likewise
  expect(c.freeListBlocks(9, 'MOVABLE')).toEqual([2560, 1536, 512]);
  expect(c.freeListBlocks(9, 'ISOLATE')).toEqual([1024, 2048]);
});

describe('the per-pageblock counts a steal decides by (free pages in small blocks, movable pages)', () => {
  /** Pageblock 512 UNMOVABLE, the MOVABLE memory (pageblock 0) all allocated. */
  function unmovableBlock(): BuddyAllocator {
    const b = make(1024);
    expect(ok(b.alloc(9, 'MOVABLE'))).toBe(0);
    b.isolatePageblock(512);
    b.unisolatePageblock(512, 'UNMOVABLE'); // its buddy, pageblock 0, is allocated: no merge
    expect([b.migratetypeOf(512), b.freeBlockAt(512)]).toEqual(['UNMOVABLE', { pfn: 512, order: 9, list: 'UNMOVABLE' }]);
    return b;
  }
  /** allocAt each page of [lo, hi) as its own order-0 block of type mt. */
  function take(b: BuddyAllocator, lo: number, hi: number, mt: 'MOVABLE' | 'UNMOVABLE'): void {
    for (let p = lo; p < hi; p++) expect(ok(b.allocAt(p, 0, mt))).toBe(p);
  }
  function release(b: BuddyAllocator, lo: number, hi: number): void {
    for (let p = lo; p < hi; p++) expect(b.free(p, 0)).toBeUndefined();
  }

  test('movable pages freed and taken again as UNMOVABLE no longer count: 112 free + 100 movable < 256, not claimed', () => {
    const b = unmovableBlock();
    take(b, 512, 912, 'MOVABLE');
    release(b, 512, 812);
    take(b, 512, 812, 'UNMOVABLE');
    // Free: 912..1023 (orders 4, 5, 6). The MOVABLE request finds the order-6 block; the
    // pageblock's free pages all move to the MOVABLE lists, and the smallest block is split.
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(912);
    expect(b.migratetypeOf(512)).toBe('UNMOVABLE');
  });

  test('UNMOVABLE pages freed and taken again leave the movable count alone: 16 free + 256 movable, claimed', () => {
    const b = unmovableBlock();
    take(b, 512, 768, 'MOVABLE');
    take(b, 768, 1008, 'UNMOVABLE');
    release(b, 768, 868);
    take(b, 768, 868, 'UNMOVABLE');
    // Free: 1008..1023, one order-4 block, which a MOVABLE request may steal whole.
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(1008);
    expect(b.migratetypeOf(512)).toBe('MOVABLE');
  });

  test('300 free pages in small blocks reach the threshold alone: claimed', () => {
    const b = unmovableBlock();
    take(b, 512, 724, 'UNMOVABLE');
    expect(isBuddyError(b.alloc(0, 'MOVABLE'))).toBe(false);
    expect(b.migratetypeOf(512)).toBe('MOVABLE');
  });

  /**
   * Pageblock 0 held one MOVABLE block of pageblock order, freed and made UNMOVABLE; pageblock
   * 512 is allocated. A block of pageblock order is never counted as movable (the kernel's
   * move_freepages counts pages while it walks, and a steal only walks a pageblock it has not
   * taken whole), so it must leave no trace in either direction.
   */
  function formerlyMovablePageblock(): BuddyAllocator {
    const b = make(1024);
    expect(ok(b.allocAt(512, 9, 'MOVABLE'))).toBe(512);
    expect(ok(b.allocAt(0, 9, 'MOVABLE'))).toBe(0);
    expect(b.free(0, 9)).toBeUndefined();
    b.isolatePageblock(0);
    b.unisolatePageblock(0, 'UNMOVABLE');
    expect(b.freeBlockAt(0)).toEqual({ pfn: 0, order: 9, list: 'UNMOVABLE' });
    return b;
  }

  test('a freed MOVABLE block of pageblock order leaves no movable count behind: 112 free + 0 movable, not claimed', () => {
    const b = formerlyMovablePageblock();
    take(b, 0, 400, 'UNMOVABLE');
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(400);
    expect(b.migratetypeOf(0)).toBe('UNMOVABLE');
  });

  test('nor a negative one: 300 free + 0 movable, claimed', () => {
    const b = formerlyMovablePageblock();
    take(b, 0, 212, 'UNMOVABLE');
    expect(isBuddyError(b.alloc(0, 'MOVABLE'))).toBe(false);
    expect(b.migratetypeOf(0)).toBe('MOVABLE');
  });

  test('a free block of exactly pageblock order is taken whole: its pageblock changes type (change_pageblock_range)', () => {
    const b = unmovableBlock();
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(512);
    expect(b.migratetypeOf(512)).toBe('MOVABLE');
  });

  test("a HIGHATOMIC pageblock is never claimed, even when its free block sits on another type's list (the kernel's race guard)", () => {
    const b = unmovableBlock();
    // Only a race makes this state in the kernel; here the test damages the type directly.
    b.testOnlyCorrupt({ kind: 'set-type', pfn: 512, mt: 'HIGHATOMIC' });
    expect(ok(b.alloc(0, 'MOVABLE'))).toBe(512); // single_page: the block alone moves
    expect(b.migratetypeOf(512)).toBe('HIGHATOMIC');
  });
});
