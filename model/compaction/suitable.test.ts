/**
 * compaction_suitable (mm/compaction.c __compaction_suitable, compaction_suit_allocation_order)
 * as compactZone applies it before a direct run: not needed when a block of the order is free
 * on a usable list; skipped when free pages are at or below the watermark (min, or low for
 * costly orders > PAGE_ALLOC_COSTLY_ORDER) plus compact_gap (2 << order); skipped for a costly
 * order when the fragmentation index says lack of memory (0 <= index <= extfrag_threshold).
 * A proactive run skips every check. The zones here are laid out page by page on a guest
 * buddy of 4096 frames (watermarks min 128, low 160) with no owner anywhere, so a run that
 * is not skipped finds nothing to move and ends 'complete'.
 */
import { Runner } from '../../fuzz/run';
import { machine } from '../../fuzz/testing/scenario';
import type { BuddyAllocator } from '../buddy/buddy';
import { PAGEBLOCK_FRAMES, PAGEBLOCK_ORDER } from '../constants';
import { compactGap, compactZone, EXTFRAG_THRESHOLD_DEFAULT } from './compact';
import { compactionState } from './state';

function world(options: Record<string, number> = {}) {
  const r = new Runner(machine(options), { check: 'incremental' });
  const g = r.world.guests[0]!;
  return { w: r.world, g, b: g.buddy };
}

/** Allocate [pfn, pfn + 2^order) but the kept pages, in blocks as large as they allow. */
function take(b: BuddyAllocator, kept: Set<number>, pfn: number, order: number, end: number): void {
  if (pfn >= end) return;
  let mixed = false;
  for (let i = 0; i < 1 << order && !mixed; i++) mixed = kept.has(pfn + i);
  if (!mixed) {
    if (b.allocAt(pfn, order, 'MOVABLE') !== pfn) throw new Error(`allocAt ${pfn} order ${order}`);
    return;
  }
  if (order === 0) return;
  take(b, kept, pfn, order - 1, end);
  take(b, kept, pfn + (1 << (order - 1)), order - 1, end);
}

/** Allocate every frame below `end` except `keep` (heads of free blocks of `order`, naturally aligned). */
function leaveFree(b: BuddyAllocator, keep: number[], order = 0, end = b.frames): void {
  const kept = new Set<number>();
  for (const k of keep) for (let i = 0; i < 1 << order; i++) kept.add(k + i);
  for (let pfn = 0; pfn < end; pfn += PAGEBLOCK_FRAMES) take(b, kept, pfn, PAGEBLOCK_ORDER, end);
  expect(b.freePages()).toBe(kept.size + b.frames - end);
}

/** `n` free order-0 pages that cannot merge (even pfns). */
const holes = (n: number): number[] => Array.from({ length: n }, (_, i) => 2 * i);

test('the limits: compact_gap is 2 << order and the default extfrag threshold is 500; the zone marks are min 128, low 160', () => {
  expect([compactGap(0), compactGap(1), compactGap(4), compactGap(9)]).toEqual([2, 4, 32, 1024]);
  expect(EXTFRAG_THRESHOLD_DEFAULT).toBe(500);
  const { b } = world();
  expect(b.watermarks()).toMatchObject({ min: 128, low: 160 });
});

test('a free block of the order already: a direct run is not needed (no ghost, nothing moved); a proactive run still walks the zone', () => {
  const { w, g } = world();
  const run = compactZone(w, g, { order: 9, proactive: false });
  expect(run).toMatchObject({ outcome: 'not-needed', ghost: null, migrated: 0, failures: 0, side: 'guest', guest: g.id, order: 9 });
  expect(compactionState(w).runs.get(run.id)).toBe(run);
  const pro = compactZone(w, g, { order: 9, proactive: true });
  expect(pro.outcome).toBe('success');
  expect(pro.ghost?.pageblocks).toHaveLength(g.buddy.frames / PAGEBLOCK_FRAMES);
  expect(pro.id).toBeGreaterThan(run.id);
});

test('order 1 (not costly): skipped at exactly min + compact_gap free pages, run one page above', () => {
  const at = world();
  leaveFree(at.b, holes(128 + 4));
  expect(compactZone(at.w, at.g, { order: 1, proactive: false })).toMatchObject({ outcome: 'skipped', ghost: null });
  const above = world();
  leaveFree(above.b, holes(128 + 5));
  const run = compactZone(above.w, above.g, { order: 1, proactive: false });
  expect(run.outcome).toBe('complete');
  expect(run.ghost).not.toBeNull();
  // Proactive: no watermark check at all.
  expect(compactZone(at.w, at.g, { order: 1, proactive: true }).outcome).toBe('complete');
});

test('order 4 (costly): the mark is low + compact_gap; scattered free pages are fragmentation (index > 500), so one page above it the run goes ahead', () => {
  const at = world();
  leaveFree(at.b, holes(160 + 32));
  expect(compactZone(at.w, at.g, { order: 4, proactive: false }).outcome).toBe('skipped');
  const above = world();
  leaveFree(above.b, holes(160 + 33));
  expect(above.b.fragmentationIndex(4)).toBeGreaterThan(EXTFRAG_THRESHOLD_DEFAULT);
  expect(compactZone(above.w, above.g, { order: 4, proactive: false }).outcome).toBe('complete');
});

test('order 4 with free memory in order-3 blocks: index 490 is lack of memory under the default threshold, fragmentation under a threshold of 489', () => {
  // 100 blocks of 8 pages: index = 1000 - (1000 + 800 * 1000 / 16) / 100 = 490.
  const heads = Array.from({ length: 100 }, (_, i) => 16 * i);
  const dflt = world();
  leaveFree(dflt.b, heads, 3);
  expect(dflt.b.fragmentationIndex(4)).toBe(490);
  expect(compactZone(dflt.w, dflt.g, { order: 4, proactive: false }).outcome).toBe('skipped');
  const at = world({ 'compaction.extfrag-threshold': 490 });
  leaveFree(at.b, heads, 3);
  expect(compactZone(at.w, at.g, { order: 4, proactive: false }).outcome).toBe('skipped');
  const below = world({ 'compaction.extfrag-threshold': 489 });
  leaveFree(below.b, heads, 3);
  expect(compactZone(below.w, below.g, { order: 4, proactive: false }).outcome).toBe('complete');
  // Order 3 is not costly: the index is not consulted (and a block of the order is free).
  expect(compactZone(dflt.w, dflt.g, { order: 3, proactive: false }).outcome).toBe('not-needed');
});

test('order 2 (not costly) with free memory in order-1 blocks: the fragmentation index is never consulted, so the run goes ahead', () => {
  // 200 blocks of 2 pages: order 2's index is 1000 - (1000 + 400 * 1000 / 4) / 200 = 495 (lack of memory if it counted).
  const { w, g, b } = world();
  leaveFree(b, Array.from({ length: 200 }, (_, i) => 4 * i), 1);
  expect(b.fragmentationIndex(2)).toBe(495);
  expect(compactZone(w, g, { order: 2, proactive: false }).outcome).toBe('complete');
});

test('a free block of the order only on the ISOLATE list: the index is -1000 (a block exists), which is not lack of memory, so the run goes ahead', () => {
  const { w, g, b } = world();
  // An isolated free pageblock at the top, and 300 scattered free pages below.
  const top = b.frames - PAGEBLOCK_FRAMES;
  leaveFree(b, holes(300), 0, top);
  expect(b.isolatePageblock(top)).toBeUndefined();
  expect(b.fragmentationIndex(4)).toBe(-1000);
  expect(compactZone(w, g, { order: 4, proactive: false }).outcome).toBe('complete');
});

test('order 3 is PAGE_ALLOC_COSTLY_ORDER itself, not costly: its mark is min + 16, and its fragmentation index is not consulted', () => {
  // 145 scattered pages: above min + 16 (144), at or below low + 16 (176).
  const scattered = world();
  leaveFree(scattered.b, holes(145));
  expect(compactZone(scattered.w, scattered.g, { order: 3, proactive: false }).outcome).toBe('complete');
  // 100 blocks of 4 pages: order 3's index is 1000 - (1000 + 400 * 1000 / 8) / 100 = 490.
  const { w, g, b } = world();
  leaveFree(b, Array.from({ length: 100 }, (_, i) => 8 * i), 2);
  expect(b.fragmentationIndex(3)).toBe(490);
  expect(compactZone(w, g, { order: 3, proactive: false }).outcome).toBe('complete');
});
