/**
 * The buddy allocator's invariants (domain.md section 10 item 6) as named predicates that
 * report through a Reporter, under the property `buddy-invariants`.
 *
 * What each rule comes from (Linux):
 * - disjoint / aligned: a free block is `2^order` pages at a pfn aligned to `2^order`
 *   (mm/page_alloc.c `__find_buddy_pfn`, `page_is_buddy`); overlapping blocks would hand the
 *   same page out twice;
 * - fully merged: `__free_one_page` merges while the buddy is free with the same order, so a
 *   free block never sits beside a mergeable free buddy of its order;
 * - nothing merged across isolation: `__free_one_page`'s `migratetype_is_mergeable` check at
 *   `order >= pageblock_order` (d9dddbf55667, 3c605096d315), and mm/page_isolation.c keeping
 *   an isolated pageblock's free pages on the ISOLATE list;
 * - counts: `free_area[order].nr_free` against the lists; NR_FREE_PAGES against the free
 *   pages outside ISOLATE lists (the drift of d9dddbf55667 was exactly this mismatch).
 *
 * Precise definitions, shared by the full and the incremental checker:
 * - the free entries are what the free lists hold (the same pfn on two lists is two entries);
 *   the allocated entries are the allocator's allocation records;
 * - `misaligned`: an entry with pfn % 2^order != 0; `out-of-range`: an entry not inside
 *   [base, base + frames). The structural rules below look only at aligned entries (a
 *   misaligned one is already a violation and has no buddy);
 * - `overlap`: two free entries intersect; `allocated-overlap`: an allocated entry intersects
 *   a free or another allocated entry;
 * - `not-merged`: a free entry of order < MAX_PAGE_ORDER whose buddy (pfn ^ 2^order) is a free
 *   entry of the same order, and the kernel would have merged them (same pageblock, or
 *   `mayMergeAcrossPageblocks` of the two pageblock types);
 * - `merged-across-isolation`: a free entry of order > pageblock_order covering ISOLATE and
 *   non-ISOLATE pageblocks; `isolate-list-mismatch`: a free entry on the ISOLATE list covering a
 *   non-ISOLATE pageblock, or on another list covering an ISOLATE pageblock;
 * - `nr-free-mismatch`: the allocator's per-list block counter differs from the list;
 *   `free-count-mismatch`: freePages() differs from the pages of the entries not on ISOLATE
 *   lists; `allocated-count-mismatch`: allocatedPages() differs from the allocated entries;
 *   `conservation`: free plus allocated pages differ from `frames`.
 */
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES, PAGEBLOCK_ORDER } from '../model/constants';
import type { AllocatedBlockInfo, BuddyAllocator, FreeBlockInfo } from '../model/buddy/buddy';
import { MIGRATE_TYPES, mayMergeAcrossPageblocks, migrateTypeIndex, type MigrateType } from '../model/buddy/migratetype';
import { hex, type Reporter } from './violation';

export const BUDDY_PROPERTY = 'buddy-invariants';

export type BuddyViolationKind =
  | 'overlap'
  | 'allocated-overlap'
  | 'misaligned'
  | 'out-of-range'
  | 'not-merged'
  | 'merged-across-isolation'
  | 'isolate-list-mismatch'
  | 'nr-free-mismatch'
  | 'free-count-mismatch'
  | 'allocated-count-mismatch'
  | 'conservation';

export const BUDDY_VIOLATION_KINDS: readonly BuddyViolationKind[] = [
  'overlap',
  'allocated-overlap',
  'misaligned',
  'out-of-range',
  'not-merged',
  'merged-across-isolation',
  'isolate-list-mismatch',
  'nr-free-mismatch',
  'free-count-mismatch',
  'allocated-count-mismatch',
  'conservation',
];

/** Everything the full check reads, taken once through the allocator's public read API. */
export interface BuddySnapshot {
  readonly name: string;
  readonly base: number;
  readonly frames: number;
  readonly free: readonly FreeBlockInfo[];
  readonly allocated: readonly AllocatedBlockInfo[];
  readonly typeOf: (pfn: number) => MigrateType;
  readonly nrFreeCounter: (order: number, list: MigrateType) => number;
  readonly freePagesCounter: number;
  readonly allocatedPagesCounter: number;
}

export function snapshotBuddy(b: BuddyAllocator): BuddySnapshot {
  return {
    name: b.name,
    base: b.base,
    frames: b.frames,
    free: [...b.freeBlocksAll()],
    allocated: [...b.allocatedBlocksAll()],
    typeOf: (pfn) => b.migratetypeOf(pfn),
    nrFreeCounter: (order, list) => b.freeBlocks(order, list),
    freePagesCounter: b.freePages(),
    allocatedPagesCounter: b.allocatedPages(),
  };
}

// ----------------------------------------------------------------------------------------
// Shared definitions

function size(order: number): number {
  return 1 << order; // orders stay below 31: a shift, not Math.pow, on the hot path
}
function aligned(pfn: number, order: number): boolean {
  return Number.isInteger(pfn) && pfn >= 0 && pfn % size(order) === 0;
}
function inRange(base: number, frames: number, pfn: number, order: number): boolean {
  return pfn >= base && pfn + size(order) <= base + frames;
}
function alignDown(pfn: number, order: number): number {
  return pfn - (pfn % size(order));
}
/** Pageblock heads an aligned block covers. */
function pageblocksOf(pfn: number, order: number): number[] {
  if (order < PAGEBLOCK_ORDER) return [alignDown(pfn, PAGEBLOCK_ORDER)];
  const out: number[] = [];
  for (let pb = pfn; pb < pfn + size(order); pb += PAGEBLOCK_FRAMES) out.push(pb);
  return out;
}
/** Whether __free_one_page would merge the aligned free blocks (pfn, order) and its buddy. */
function mergeAllowed(typeOf: (pfn: number) => MigrateType, pfn: number, order: number): boolean {
  if (order < PAGEBLOCK_ORDER) return true;
  return mayMergeAcrossPageblocks(typeOf(pfn), typeOf(pfn ^ size(order)));
}
function mixedIsolation(typeOf: (pfn: number) => MigrateType, pfn: number, order: number): boolean {
  if (order <= PAGEBLOCK_ORDER) return false;
  let iso = 0;
  const pbs = pageblocksOf(pfn, order);
  for (const pb of pbs) if (typeOf(pb) === 'ISOLATE') iso++;
  return iso > 0 && iso < pbs.length;
}
function listMismatches(typeOf: (pfn: number) => MigrateType, e: FreeBlockInfo): number[] {
  return pageblocksOf(e.pfn, e.order).filter(
    (pb) => (typeOf(pb) === 'ISOLATE') !== (e.list === 'ISOLATE'),
  );
}
function block(name: string, pfn: number, order: number): string {
  return `${name} pfn ${hex(pfn)} order ${order}`;
}
/** A violation subject, formatted lazily. */
type Subject = string | (() => string);

function freeSubject(name: string, e: FreeBlockInfo): string {
  return `${block(name, e.pfn, e.order)} (free, ${e.list} list)`;
}
function allocSubject(name: string, a: AllocatedBlockInfo): string {
  return `${block(name, a.head, a.order)} (allocated ${a.mt})`;
}

// ----------------------------------------------------------------------------------------
// Full check: a deliberately plain re-scan, the oracle the incremental check is held to.

/** Naturally aligned and inside the allocator's range: free and allocated entries. */
export function checkAlignedInRange(s: BuddySnapshot, r: Reporter): void {
  const one = (pfn: number, order: number, subject: string): void => {
    if (!aligned(pfn, order)) {
      r.report({
        property: BUDDY_PROPERTY,
        kind: 'misaligned',
        subject,
        message: 'a block must start at a multiple of its size (__find_buddy_pfn relies on it)',
        expected: `pfn % ${size(order)} == 0`,
        actual: `pfn % ${size(order)} == ${pfn % size(order)}`,
      });
    }
    if (!inRange(s.base, s.frames, pfn, order)) {
      r.report({
        property: BUDDY_PROPERTY,
        kind: 'out-of-range',
        subject,
        message: 'a block lies outside the zone',
        expected: `inside [${hex(s.base)}, ${hex(s.base + s.frames)})`,
        actual: `[${hex(pfn)}, ${hex(pfn + size(order))})`,
      });
    }
  };
  for (const e of s.free) one(e.pfn, e.order, freeSubject(s.name, e));
  for (const a of s.allocated) one(a.head, a.order, allocSubject(s.name, a));
}

/** No free block overlaps another, and no allocated block overlaps any other block. */
export function checkDisjoint(s: BuddySnapshot, r: Reporter): void {
  interface Item {
    readonly pfn: number;
    readonly order: number;
    readonly free: boolean;
    readonly subject: string;
  }
  const items: Item[] = [];
  for (const e of s.free) {
    if (aligned(e.pfn, e.order)) items.push({ pfn: e.pfn, order: e.order, free: true, subject: freeSubject(s.name, e) });
  }
  for (const a of s.allocated) {
    if (aligned(a.head, a.order)) {
      items.push({ pfn: a.head, order: a.order, free: false, subject: allocSubject(s.name, a) });
    }
  }
  // Aligned power-of-two blocks are nested or disjoint, so a sweep in (pfn, larger first)
  // order keeps on its stack exactly the blocks containing the current one.
  items.sort((x, y) => x.pfn - y.pfn || y.order - x.order);
  const stack: Item[] = [];
  for (const x of items) {
    while (stack.length > 0 && stack[stack.length - 1]!.pfn + size(stack[stack.length - 1]!.order) <= x.pfn) {
      stack.pop();
    }
    for (const y of stack) {
      const both = x.free && y.free;
      r.report({
        property: BUDDY_PROPERTY,
        kind: both ? 'overlap' : 'allocated-overlap',
        subject: x.subject,
        message: both
          ? 'two free blocks share pages: the same page can be allocated twice'
          : 'an allocated block shares pages with another block',
        expected: 'disjoint',
        actual: `inside ${y.subject}`,
      });
    }
    stack.push(x);
  }
}

/** No free block sits beside a free buddy of its order that __free_one_page would merge. */
export function checkFullyMerged(s: BuddySnapshot, r: Reporter): void {
  const present = new Set<number>();
  for (const e of s.free) if (aligned(e.pfn, e.order)) present.add(e.pfn * 16 + e.order);
  for (const e of s.free) {
    if (!aligned(e.pfn, e.order) || e.order >= MAX_PAGE_ORDER) continue;
    const buddy = e.pfn ^ size(e.order);
    if (!present.has(buddy * 16 + e.order) || !mergeAllowed(s.typeOf, e.pfn, e.order)) continue;
    r.report({
      property: BUDDY_PROPERTY,
      kind: 'not-merged',
      subject: freeSubject(s.name, e),
      message: 'free buddies of the same order were left unmerged',
      expected: `one free block of order ${e.order + 1} at ${hex(Math.min(e.pfn, buddy))}`,
      actual: `buddy ${hex(buddy)} is also free with order ${e.order}`,
    });
  }
}

/** Nothing merged across an isolated pageblock; ISOLATE lists hold exactly isolated pages. */
export function checkIsolationRespected(s: BuddySnapshot, r: Reporter): void {
  for (const e of s.free) {
    if (!aligned(e.pfn, e.order)) continue;
    if (mixedIsolation(s.typeOf, e.pfn, e.order)) {
      r.report({
        property: BUDDY_PROPERTY,
        kind: 'merged-across-isolation',
        subject: freeSubject(s.name, e),
        message: 'a free block joins isolated and non-isolated pageblocks (d9dddbf55667)',
        expected: 'all its pageblocks ISOLATE or none',
        actual: pageblocksOf(e.pfn, e.order)
          .map((pb) => `${hex(pb)}:${s.typeOf(pb)}`)
          .join(' '),
      });
    }
    const bad = listMismatches(s.typeOf, e);
    if (bad.length > 0) {
      r.report({
        property: BUDDY_PROPERTY,
        kind: 'isolate-list-mismatch',
        subject: freeSubject(s.name, e),
        message:
          e.list === 'ISOLATE'
            ? 'a block on the ISOLATE list lies in a pageblock that is not isolated'
            : 'a block in an isolated pageblock is on an allocatable list',
        expected: e.list === 'ISOLATE' ? 'ISOLATE pageblocks' : 'no ISOLATE pageblock',
        actual: bad.map((pb) => `${hex(pb)}:${s.typeOf(pb)}`).join(' '),
      });
    }
  }
}

/** The allocator's own counters against the lists and records, and frame conservation. */
export function checkCounts(s: BuddySnapshot, r: Reporter): void {
  const perList = new Map<string, number>();
  let nonIsolated = 0;
  let freeAll = 0;
  for (const e of s.free) {
    const k = `${e.order}/${e.list}`;
    perList.set(k, (perList.get(k) ?? 0) + 1);
    freeAll += size(e.order);
    if (e.list !== 'ISOLATE') nonIsolated += size(e.order);
  }
  let allocatedSum = 0;
  for (const a of s.allocated) allocatedSum += size(a.order);
  for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
    for (const list of MIGRATE_TYPES) {
      reportNrFree(r, s.name, order, list, perList.get(`${order}/${list}`) ?? 0, s.nrFreeCounter(order, list));
    }
  }
  reportTotals(r, s.name, s.frames, nonIsolated, s.freePagesCounter, allocatedSum, s.allocatedPagesCounter, freeAll);
}

function reportNrFree(r: Reporter, name: string, order: number, list: MigrateType, listed: number, counter: number): void {
  if (listed === counter) return;
  r.report({
    property: BUDDY_PROPERTY,
    kind: 'nr-free-mismatch',
    subject: `${name} order ${order} ${list} list`,
    message: 'free_area nr_free disagrees with the list',
    expected: `${listed} (blocks on the list)`,
    actual: `${counter} (counter)`,
  });
}

function reportTotals(
  r: Reporter,
  name: string,
  frames: number,
  nonIsolated: number,
  freeCounter: number,
  allocatedSum: number,
  allocatedCounter: number,
  freeAll: number,
): void {
  if (nonIsolated !== freeCounter) {
    r.report({
      property: BUDDY_PROPERTY,
      kind: 'free-count-mismatch',
      subject: `${name} NR_FREE_PAGES`,
      message: 'the free page counter drifted from the free lists (MemFree vs. reality)',
      expected: `${nonIsolated} (pages on non-ISOLATE lists)`,
      actual: `${freeCounter} (counter)`,
    });
  }
  if (allocatedSum !== allocatedCounter) {
    r.report({
      property: BUDDY_PROPERTY,
      kind: 'allocated-count-mismatch',
      subject: `${name} allocated pages`,
      message: 'the allocated page counter disagrees with the allocation records',
      expected: `${allocatedSum} (pages in allocated blocks)`,
      actual: `${allocatedCounter} (counter)`,
    });
  }
  if (freeAll + allocatedSum !== frames) {
    r.report({
      property: BUDDY_PROPERTY,
      kind: 'conservation',
      subject: `${name} frames`,
      message: 'free and allocated pages do not add up to the zone',
      expected: `${frames}`,
      actual: `${freeAll} free + ${allocatedSum} allocated = ${freeAll + allocatedSum}`,
    });
  }
}

/** Every invariant, re-scanning the whole allocator (end of run, naive checker). */
export function checkBuddyFull(b: BuddyAllocator, r: Reporter): void {
  const s = snapshotBuddy(b);
  checkAlignedInRange(s, r);
  checkDisjoint(s, r);
  checkFullyMerged(s, r);
  checkIsolationRespected(s, r);
  checkCounts(s, r);
}

// ----------------------------------------------------------------------------------------
// Incremental check: the checker's own shadow of the free lists, allocation records and
// pageblock types, updated from the dirty pfns through the allocator's public read API, with
// a count per rule kept exactly (pairs, entries, pageblocks), so that after any step it
// reports a kind exactly when the full check would.

interface ShadowFree {
  readonly order: number;
  readonly list: MigrateType;
}

type CountKind = Exclude<
  BuddyViolationKind,
  'nr-free-mismatch' | 'free-count-mismatch' | 'allocated-count-mismatch' | 'conservation'
>;

class BuddyShadow {
  private readonly freeAt = new Map<number, ShadowFree[]>();
  private readonly allocAt = new Map<number, AllocatedBlockInfo>();
  private readonly types = new Map<number, MigrateType>();
  /** Aligned entries per (pfn, order), free and allocated. */
  private readonly cntF = new Map<number, number>();
  private readonly cntA = new Map<number, number>();
  /** Aligned entries strictly inside the aligned block (head, order), free and allocated. */
  private readonly covF = new Map<number, number>();
  private readonly covA = new Map<number, number>();
  /** Per pageblock: aligned free entries covering it, on the ISOLATE list and on others. */
  private readonly pbIso = new Map<number, number>();
  private readonly pbNon = new Map<number, number>();
  private readonly pbContrib = new Map<number, number>();
  private readonly pairContrib = new Map<number, number>();
  private readonly mixedContrib = new Map<number, number>();
  readonly counts: Record<CountKind, number> = {
    overlap: 0,
    'allocated-overlap': 0,
    misaligned: 0,
    'out-of-range': 0,
    'not-merged': 0,
    'merged-across-isolation': 0,
    'isolate-list-mismatch': 0,
  };
  /** A subject that caused each positive count (kept while the count stays positive). */
  readonly witness = new Map<CountKind, string>();
  readonly perList = new Map<number, number>();
  nonIsolatedPages = 0;
  freePages = 0;
  allocatedPages = 0;

  constructor(
    readonly name: string,
    readonly base: number,
    readonly frames: number,
  ) {}

  typeOf = (pfn: number): MigrateType => this.types.get(alignDown(pfn, PAGEBLOCK_ORDER)) ?? 'MOVABLE';

  /** Re-read everything the allocator says about one pfn. O(MAX_PAGE_ORDER * lists). */
  /** No violation counted and no totals off: the last check found nothing. */
  clean(): boolean {
    for (const k in this.counts) if (this.counts[k as CountKind] !== 0) return false;
    return this.lastClean;
  }

  /** Whether the last full comparison of counters and lists agreed (set by the checker). */
  lastClean = false;

  refresh(b: BuddyAllocator, pfn: number): void {
    for (const e of this.freeAt.get(pfn) ?? []) this.removeFree(pfn, e);
    this.freeAt.delete(pfn);
    const oldA = this.allocAt.get(pfn);
    if (oldA !== undefined) this.removeAlloc(oldA);
    for (const e of b.freeEntriesAt(pfn)) this.addFree(pfn, e);
    const a = b.allocatedAt(pfn);
    if (a !== undefined) this.addAlloc(a);
    const pb = alignDown(pfn, PAGEBLOCK_ORDER);
    const t = b.migratetypeOf(pb);
    if (t !== this.typeOf(pb)) this.setType(pb, t);
  }

  setType(pb: number, t: MigrateType): void {
    if (t === 'MOVABLE') this.types.delete(pb);
    else this.types.set(pb, t);
    this.refreshPageblock(pb);
    if (PAGEBLOCK_ORDER < MAX_PAGE_ORDER) this.refreshPair(pb, PAGEBLOCK_ORDER);
    for (let k = PAGEBLOCK_ORDER + 1; k <= MAX_PAGE_ORDER; k++) this.refreshMixed(alignDown(pb, k), k);
  }

  addFree(pfn: number, e: ShadowFree): void {
    const list = this.freeAt.get(pfn);
    if (list === undefined) this.freeAt.set(pfn, [e]);
    else list.push(e);
    this.freeEntryDelta(pfn, e, +1);
  }

  private removeFree(pfn: number, e: ShadowFree): void {
    this.freeEntryDelta(pfn, e, -1);
  }

  private freeEntryDelta(pfn: number, e: ShadowFree, d: 1 | -1): void {
    const sz = size(e.order);
    this.freePages += d * sz;
    if (e.list !== 'ISOLATE') this.nonIsolatedPages += d * sz;
    bump(this.perList, listKey(e.order, e.list), d);
    const subject = (): string => freeSubject(this.name, { pfn, order: e.order, list: e.list });
    if (!inRange(this.base, this.frames, pfn, e.order)) this.count('out-of-range', d, subject);
    if (!aligned(pfn, e.order)) {
      this.count('misaligned', d, subject);
      return;
    }
    if (d < 0) this.unindex(this.cntF, this.covF, pfn, e.order);
    const ancF = this.ancestors(this.cntF, pfn, e.order);
    const ancA = this.ancestors(this.cntA, pfn, e.order);
    const key = pfn * 16 + e.order;
    this.count('overlap', d * (ancF + (this.covF.get(key) ?? 0) + (this.cntF.get(key) ?? 0)), subject);
    this.count('allocated-overlap', d * (ancA + (this.covA.get(key) ?? 0) + (this.cntA.get(key) ?? 0)), subject);
    if (d > 0) this.index(this.cntF, this.covF, pfn, e.order);
    for (const pb of pageblocksOf(pfn, e.order)) {
      bump(e.list === 'ISOLATE' ? this.pbIso : this.pbNon, pb, d);
      this.refreshPageblock(pb, subject);
    }
    if (e.order < MAX_PAGE_ORDER) this.refreshPair(pfn, e.order, subject);
    if (e.order > PAGEBLOCK_ORDER) this.refreshMixed(pfn, e.order, subject);
  }

  addAlloc(a: AllocatedBlockInfo): void {
    this.allocAt.set(a.head, a);
    this.allocEntryDelta(a, +1);
  }

  private removeAlloc(a: AllocatedBlockInfo): void {
    this.allocAt.delete(a.head);
    this.allocEntryDelta(a, -1);
  }

  private allocEntryDelta(a: AllocatedBlockInfo, d: 1 | -1): void {
    this.allocatedPages += d * size(a.order);
    const subject = (): string => allocSubject(this.name, a);
    if (!inRange(this.base, this.frames, a.head, a.order)) this.count('out-of-range', d, subject);
    if (!aligned(a.head, a.order)) {
      this.count('misaligned', d, subject);
      return;
    }
    if (d < 0) this.unindex(this.cntA, this.covA, a.head, a.order);
    const key = a.head * 16 + a.order;
    const pairs =
      this.ancestors(this.cntF, a.head, a.order) +
      this.ancestors(this.cntA, a.head, a.order) +
      (this.covF.get(key) ?? 0) +
      (this.covA.get(key) ?? 0) +
      (this.cntF.get(key) ?? 0) +
      (this.cntA.get(key) ?? 0);
    this.count('allocated-overlap', d * pairs, subject);
    if (d > 0) this.index(this.cntA, this.covA, a.head, a.order);
  }

  /** Entries at the aligned ancestors (orders above `order`) of pfn. O(MAX_PAGE_ORDER). */
  private ancestors(cnt: Map<number, number>, pfn: number, order: number): number {
    let n = 0;
    for (let k = order + 1; k <= MAX_PAGE_ORDER; k++) n += cnt.get(alignDown(pfn, k) * 16 + k) ?? 0;
    return n;
  }

  private index(cnt: Map<number, number>, cov: Map<number, number>, pfn: number, order: number): void {
    bump(cnt, pfn * 16 + order, 1);
    for (let k = order + 1; k <= MAX_PAGE_ORDER; k++) bump(cov, alignDown(pfn, k) * 16 + k, 1);
  }

  private unindex(cnt: Map<number, number>, cov: Map<number, number>, pfn: number, order: number): void {
    bump(cnt, pfn * 16 + order, -1);
    for (let k = order + 1; k <= MAX_PAGE_ORDER; k++) bump(cov, alignDown(pfn, k) * 16 + k, -1);
  }

  /** Mismatching free entries covering one pageblock, given its current type. */
  private refreshPageblock(pb: number, subject?: Subject): void {
    const now = this.typeOf(pb) === 'ISOLATE' ? (this.pbNon.get(pb) ?? 0) : (this.pbIso.get(pb) ?? 0);
    this.replace(this.pbContrib, pb, now, 'isolate-list-mismatch', subject ?? ((): string => `${this.name} pageblock ${hex(pb)}`));
  }

  /** Unmerged buddy pairs of (pfn, order): (entries at one) x (entries at the other). */
  private refreshPair(pfn: number, order: number, subject?: Subject): void {
    const lo = Math.min(pfn, pfn ^ size(order));
    const hi = lo + size(order);
    const now = mergeAllowed(this.typeOf, lo, order)
      ? (this.cntF.get(lo * 16 + order) ?? 0) * (this.cntF.get(hi * 16 + order) ?? 0)
      : 0;
    this.replace(this.pairContrib, lo * 16 + order, now, 'not-merged', subject ?? ((): string => block(this.name, lo, order)));
  }

  private refreshMixed(pfn: number, order: number, subject?: Subject): void {
    const now = mixedIsolation(this.typeOf, pfn, order) ? (this.cntF.get(pfn * 16 + order) ?? 0) : 0;
    this.replace(this.mixedContrib, pfn * 16 + order, now, 'merged-across-isolation', subject ?? ((): string => block(this.name, pfn, order)));
  }

  private replace(m: Map<number, number>, key: number, now: number, kind: CountKind, subject: Subject): void {
    const before = m.get(key) ?? 0;
    if (now === 0) m.delete(key);
    else m.set(key, now);
    this.count(kind, now - before, subject);
  }

  private count(kind: CountKind, delta: number, subject: Subject): void {
    if (delta === 0) return;
    this.counts[kind] += delta;
    // Subjects are formatted only when they become a witness (hot path: most deltas are 0).
    if (delta > 0) this.witness.set(kind, typeof subject === 'string' ? subject : subject());
    if (this.counts[kind] === 0) this.witness.delete(kind);
  }
}

function listKey(order: number, list: MigrateType): number {
  return order * 8 + migrateTypeIndex(list);
}

function bump(m: Map<number, number>, key: number, d: number): void {
  const v = (m.get(key) ?? 0) + d;
  if (v === 0) m.delete(key);
  else m.set(key, v);
}

const shadows = new WeakMap<BuddyAllocator, BuddyShadow>();

/**
 * The checker's shadow of one allocator, built by one full scan the first time (O(state),
 * once per allocator) and afterwards kept in step by `checkBuddyIncremental`. Every dirty pfn
 * the allocator returns from takeDirty() must be passed to checkBuddyIncremental, or the
 * shadow falls behind.
 */
function shadowOf(b: BuddyAllocator): BuddyShadow {
  let s = shadows.get(b);
  if (s !== undefined) return s;
  s = new BuddyShadow(b.name, b.base, b.frames);
  for (const { pfn, mt } of b.pageblockTypesAll()) s.setType(pfn, mt);
  for (const e of b.freeBlocksAll()) s.addFree(e.pfn, { order: e.order, list: e.list });
  for (const a of b.allocatedBlocksAll()) s.addAlloc(a);
  shadows.set(b, s);
  return s;
}

const KIND_MESSAGES: Record<CountKind, [string, string]> = {
  overlap: ['two free blocks share pages: the same page can be allocated twice', 'disjoint'],
  'allocated-overlap': ['an allocated block shares pages with another block', 'disjoint'],
  misaligned: ['a block must start at a multiple of its size', 'pfn % 2^order == 0'],
  'out-of-range': ['a block lies outside the zone', 'inside the zone'],
  'not-merged': ['free buddies of the same order were left unmerged', 'merged'],
  'merged-across-isolation': [
    'a free block joins isolated and non-isolated pageblocks (d9dddbf55667)',
    'all its pageblocks ISOLATE or none',
  ],
  'isolate-list-mismatch': [
    'a free block sits on a list that disagrees with its pageblock being isolated',
    'ISOLATE list iff ISOLATE pageblock',
  ],
};

/**
 * Every invariant, looking only at what changed: O(dirty * MAX_PAGE_ORDER * lists) plus a
 * constant (the per-list counters), independent of memory size. After any step it reports
 * the same (property, kind) set as checkBuddyFull; a violation that persists from an earlier
 * step is reported again (from the shadow's counts, with the subject that first caused it).
 */
export function checkBuddyIncremental(b: BuddyAllocator, dirty: readonly number[], r: Reporter): void {
  const s = shadowOf(b);
  // An allocator this step did not touch has the lists and counters it had at the last check,
  // which agreed then (a disagreement stops the run): nothing to compare.
  if (dirty.length === 0 && s.clean()) return;
  let reported = 0;
  const outer = r;
  r = { step: outer.step, report: (v) => { reported++; outer.report(v); } };
  for (const pfn of dirty) s.refresh(b, pfn);
  for (const kind of BUDDY_VIOLATION_KINDS) {
    if (!(kind in s.counts)) continue;
    const n = s.counts[kind as CountKind];
    if (n === 0) continue;
    const [message, expected] = KIND_MESSAGES[kind as CountKind];
    r.report({
      property: BUDDY_PROPERTY,
      kind,
      subject: s.witness.get(kind as CountKind) ?? `${b.name}`,
      message,
      expected,
      actual: `${n} violating ${kind === 'overlap' || kind === 'allocated-overlap' || kind === 'not-merged' ? 'pairs' : 'entries'}`,
    });
  }
  // Every list's counter against the shadow's count of its entries: integer compares, and
  // the message is built only for a list that disagrees.
  for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
    for (let li = 0; li < MIGRATE_TYPES.length; li++) {
      const listed = s.perList.get(order * 8 + li) ?? 0;
      const counter = b.nrFreeAt(order, li);
      if (listed !== counter) reportNrFree(r, b.name, order, MIGRATE_TYPES[li]!, listed, counter);
    }
  }
  reportTotals(r, b.name, b.frames, s.nonIsolatedPages, b.freePages(), s.allocatedPages, b.allocatedPages(), s.freePages);
  s.lastClean = reported === 0;
}
