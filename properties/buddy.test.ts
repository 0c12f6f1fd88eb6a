import fc from 'fast-check';
import { PAGEBLOCK_FRAMES } from '../model/constants';
import { BuddyAllocator, FAULT_BUDDY_MERGE_ACROSS_ISOLATION, isBuddyError } from '../model/buddy/buddy';
import type { MigrateType } from '../model/buddy/migratetype';
import {
  BUDDY_PROPERTY,
  checkAlignedInRange,
  checkBuddyFull,
  checkBuddyIncremental,
  checkCounts,
  checkDisjoint,
  checkFullyMerged,
  checkIsolationRespected,
  snapshotBuddy,
  type BuddySnapshot,
} from './buddy';
import { ViolationList, type Reporter } from './violation';

const NO_FAULTS: ReadonlySet<string> = new Set();
const MERGE_FAULT: ReadonlySet<string> = new Set([FAULT_BUDDY_MERGE_ACROSS_ISOLATION]);

function make(frames: number, faults = NO_FAULTS): BuddyAllocator {
  return new BuddyAllocator({ name: 'host', base: 0, frames, faults });
}

function kindsOf(r: ViolationList): string[] {
  return [...new Set(r.violations.map((v) => `${v.property}|${v.kind}`))].sort();
}

function full(b: BuddyAllocator): string[] {
  const r = new ViolationList(0);
  checkBuddyFull(b, r);
  return kindsOf(r);
}

/** Incremental check of what changed since the last takeDirty (builds the shadow on first use). */
function incremental(b: BuddyAllocator): string[] {
  const r = new ViolationList(0);
  checkBuddyIncremental(b, b.takeDirty(), r);
  return kindsOf(r);
}

function run(pred: (s: BuddySnapshot, r: Reporter) => void, b: BuddyAllocator): string[] {
  const r = new ViolationList(0);
  pred(snapshotBuddy(b), r);
  return r.violations.map((v) => v.kind);
}

// ---------------------------------------------------------------------------------------
// Random operation sequences, generated as choices and interpreted against the state, so
// frees hit allocated blocks and (un)isolations hit real pageblocks.

type Op =
  | { op: 'alloc'; order: number; mt: number }
  | { op: 'allocAt'; at: number; order: number; mt: number }
  | { op: 'free'; pick: number }
  | { op: 'isolate'; pb: number }
  | { op: 'unisolate'; pb: number; mt: number };

const TYPES: readonly MigrateType[] = ['UNMOVABLE', 'MOVABLE', 'RECLAIMABLE'];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('alloc' as const), order: fc.nat(10), mt: fc.nat(2) }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('allocAt' as const), at: fc.nat(4095), order: fc.nat(10), mt: fc.nat(2) }),
  },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('isolate' as const), pb: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unisolate' as const), pb: fc.nat(7), mt: fc.nat(2) }) },
);

const FRAMES = 4096; // 8 pageblocks, 4 max-order blocks: small enough to collide often

function apply(b: BuddyAllocator, live: [number, number][], o: Op): void {
  switch (o.op) {
    case 'alloc': {
      const p = b.alloc(o.order, TYPES[o.mt]!);
      if (!isBuddyError(p)) live.push([p, o.order]);
      return;
    }
    case 'allocAt': {
      const at = o.at - (o.at % 2 ** o.order);
      const p = b.allocAt(at, o.order, TYPES[o.mt]!);
      if (!isBuddyError(p)) live.push([p, o.order]);
      return;
    }
    case 'free': {
      if (live.length === 0) return;
      const [p, order] = live.splice(o.pick % live.length, 1)[0]!;
      expect(b.free(p, order)).toBeUndefined();
      return;
    }
    case 'isolate':
      b.isolatePageblock(o.pb * PAGEBLOCK_FRAMES);
      return;
    case 'unisolate':
      b.unisolatePageblock(o.pb * PAGEBLOCK_FRAMES, TYPES[o.mt]!);
      return;
  }
}

const opsArb = fc.array(opArb, { minLength: 1, maxLength: 80 });

describe('buddy invariants hold on the correct allocator', () => {
  test('full check finds nothing after any random sequence', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        const b = make(FRAMES);
        const live: [number, number][] = [];
        for (const o of ops) {
          apply(b, live, o);
          expect(full(b)).toEqual([]);
        }
        for (const [p, order] of live) b.free(p, order);
        for (let pb = 0; pb < FRAMES; pb += PAGEBLOCK_FRAMES) b.unisolatePageblock(pb, 'MOVABLE');
        expect(full(b)).toEqual([]);
        // Everything freed and unisolated: back to max-order blocks only.
        expect(b.freePages()).toBe(FRAMES);
        expect(b.nrFree(10)).toBe(FRAMES / 1024);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('each predicate passes on a fresh and on a busy allocator', () => {
    const b = make(FRAMES);
    const preds = [checkAlignedInRange, checkDisjoint, checkFullyMerged, checkIsolationRespected, checkCounts];
    for (const p of preds) expect(run(p, b)).toEqual([]);
    const live: [number, number][] = [];
    for (let i = 0; i < 50; i++) apply(b, live, { op: 'alloc', order: i % 4, mt: i % 3 });
    b.isolatePageblock(1024);
    for (let i = 0; i < live.length; i += 2) apply(b, live, { op: 'free', pick: i });
    for (const p of preds) expect(run(p, b)).toEqual([]);
  });
});

describe('each predicate fails on a broken allocator', () => {
  test('aligned and in range: a misaligned and an out-of-range free block', () => {
    const b = make(FRAMES);
    b.testOnlyCorrupt({ kind: 'drop-free', pfn: 0 });
    b.testOnlyCorrupt({ kind: 'push-free', pfn: 1, order: 1, list: 'MOVABLE' });
    b.testOnlyCorrupt({ kind: 'push-free', pfn: FRAMES, order: 0, list: 'MOVABLE' });
    expect(run(checkAlignedInRange, b).sort()).toEqual(['misaligned', 'out-of-range']);
  });

  test('disjoint: a free block inside another, and a free block inside an allocated one', () => {
    const b = make(FRAMES);
    b.testOnlyCorrupt({ kind: 'push-free', pfn: 1024 + 8, order: 3, list: 'UNMOVABLE' });
    expect(run(checkDisjoint, b)).toEqual(['overlap']);
    const c = make(FRAMES);
    const p = c.alloc(4, 'MOVABLE') as number;
    c.testOnlyCorrupt({ kind: 'push-free', pfn: p + 4, order: 2, list: 'MOVABLE' });
    expect(run(checkDisjoint, c)).toEqual(['allocated-overlap']);
  });

  test('fully merged: two free buddies of the same order', () => {
    const b = make(FRAMES);
    const p = b.alloc(0, 'MOVABLE') as number;
    b.testOnlyCorrupt({ kind: 'drop-allocated', pfn: p });
    b.testOnlyCorrupt({ kind: 'push-free', pfn: p, order: 0, list: 'MOVABLE' });
    expect(run(checkFullyMerged, b)).toEqual(['not-merged', 'not-merged']);
  });

  test('fully merged: buddies split by an isolation boundary are not a violation', () => {
    const b = make(1024);
    const a = b.alloc(9, 'MOVABLE') as number;
    const c = b.alloc(9, 'MOVABLE') as number;
    b.isolatePageblock(a);
    b.free(a, 9);
    b.free(c, 9);
    expect(full(b)).toEqual([]);
  });

  test('isolation: the merge fault joins an isolated pageblock with its buddy (d9dddbf55667)', () => {
    for (const faults of [NO_FAULTS, MERGE_FAULT]) {
      const b = make(1024, faults);
      const a = b.alloc(9, 'MOVABLE') as number;
      const c = b.alloc(9, 'MOVABLE') as number;
      b.isolatePageblock(a);
      b.free(a, 9);
      b.free(c, 9);
      const kinds = run(checkIsolationRespected, b);
      const counts = run(checkCounts, b);
      if (faults === NO_FAULTS) {
        expect(kinds).toEqual([]);
        expect(counts).toEqual([]);
      } else {
        expect(kinds).toContain('merged-across-isolation');
        expect(kinds).toContain('isolate-list-mismatch');
        // The kernel symptom: NR_FREE_PAGES drifted from the lists.
        expect(counts).toEqual(['free-count-mismatch']);
      }
    }
  });

  test('isolation: a pageblock isolated without moving its free pages', () => {
    const b = make(FRAMES);
    b.testOnlyCorrupt({ kind: 'set-type', pfn: 2048, mt: 'ISOLATE' });
    expect(run(checkIsolationRespected, b)).toEqual(['merged-across-isolation', 'isolate-list-mismatch']);
  });

  test('counts: per-list counter, free counter, allocated counter, conservation', () => {
    const b = make(FRAMES);
    b.testOnlyCorrupt({ kind: 'bump-nr-free', order: 3, list: 'CMA', delta: 1 });
    expect(run(checkCounts, b)).toEqual(['nr-free-mismatch']);
    const c = make(FRAMES);
    c.testOnlyCorrupt({ kind: 'bump-free-pages', delta: 512 });
    expect(run(checkCounts, c)).toEqual(['free-count-mismatch']);
    const d = make(FRAMES);
    d.testOnlyCorrupt({ kind: 'bump-allocated-pages', delta: -1 });
    expect(run(checkCounts, d)).toEqual(['allocated-count-mismatch']);
    const e = make(FRAMES);
    e.alloc(3, 'MOVABLE');
    e.testOnlyCorrupt({ kind: 'drop-allocated', pfn: 0 });
    expect(run(checkCounts, e).sort()).toEqual(['allocated-count-mismatch', 'conservation']);
  });

  test('violations are data: property, subject, expected and actual', () => {
    const b = make(1024, MERGE_FAULT);
    b.alloc(9, 'MOVABLE');
    b.alloc(9, 'MOVABLE');
    b.isolatePageblock(0);
    b.free(0, 9);
    b.free(512, 9);
    const r = new ViolationList(3);
    checkBuddyFull(b, r);
    const v = r.violations.find((x) => x.kind === 'merged-across-isolation')!;
    expect(v).toMatchObject({
      property: BUDDY_PROPERTY,
      step: 3,
      subject: 'host pfn 0x0 order 10 (free, MOVABLE list)',
      expected: 'all its pageblocks ISOLATE or none',
      actual: '0x0:ISOLATE 0x200:MOVABLE',
    });
    const f = r.violations.find((x) => x.kind === 'free-count-mismatch')!;
    expect(f).toMatchObject({ expected: '1024 (pages on non-ISOLATE lists)', actual: '512 (counter)' });
  });

  test('the fault is found by random sequences: the no-violation property fails with it', () => {
    const seen = new Set<string>();
    const prop = fc.property(opsArb, (ops) => {
      const b = make(FRAMES, MERGE_FAULT);
      const live: [number, number][] = [];
      for (const o of ops) {
        apply(b, live, o);
        const kinds = full(b);
        for (const k of kinds) seen.add(k);
        expect(kinds).toEqual([]);
      }
    });
    expect(() => fc.assert(prop, { seed: 42, numRuns: 200 })).toThrow(/Property failed/);
    expect(seen).toContain(`${BUDDY_PROPERTY}|merged-across-isolation`);
  });
});

describe('incremental check is exactly as strong as the full check', () => {
  for (const [label, faults] of [
    ['without faults', NO_FAULTS],
    ['with buddy-merge-across-isolation', MERGE_FAULT],
  ] as const) {
    test(`same (property, kind) set after every step, ${label}`, () => {
      let sawViolation = false;
      fc.assert(
        fc.property(opsArb, (ops) => {
          const b = make(FRAMES, faults);
          expect(incremental(b)).toEqual(full(b));
          const live: [number, number][] = [];
          for (const o of ops) {
            apply(b, live, o);
            const f = full(b);
            expect(incremental(b)).toEqual(f);
            if (f.length > 0) sawViolation = true;
          }
        }),
        { seed: 42, numRuns: 200 },
      );
      expect(sawViolation).toBe(faults === MERGE_FAULT);
    });
  }

  test('same set after each test-only corruption, and after it is repaired', () => {
    const corruptions = [
      { kind: 'push-free', pfn: 1, order: 1, list: 'MOVABLE' },
      { kind: 'push-free', pfn: FRAMES, order: 0, list: 'MOVABLE' },
      { kind: 'push-free', pfn: 3072 + 8, order: 3, list: 'UNMOVABLE' },
      { kind: 'push-free', pfn: 1024, order: 10, list: 'ISOLATE' },
      { kind: 'push-free', pfn: 0, order: 2, list: 'MOVABLE' },
      { kind: 'set-type', pfn: 2048, mt: 'ISOLATE' },
      { kind: 'set-type', pfn: 2560, mt: 'ISOLATE' },
      { kind: 'bump-nr-free', order: 3, list: 'CMA', delta: 1 },
      { kind: 'bump-free-pages', delta: 3 },
      { kind: 'bump-allocated-pages', delta: 1 },
      { kind: 'drop-allocated', pfn: 0 },
      { kind: 'drop-free', pfn: 3072 },
    ] as const;
    // (A CMA pageblock inside a free max-order MOVABLE block would not be reported: the
    // isolation rule is about ISOLATE only, as in d9dddbf55667.)
    for (const c of corruptions) {
      const b = make(FRAMES);
      const p = b.alloc(2, 'MOVABLE') as number;
      b.alloc(0, 'UNMOVABLE');
      expect(incremental(b)).toEqual([]);
      b.testOnlyCorrupt(c);
      const f = full(b);
      expect(f.length).toBeGreaterThan(0);
      expect(incremental(b)).toEqual(f);
      // Later steps keep reporting what persists, and stop when it is gone.
      b.free(p, 2);
      expect(incremental(b)).toEqual(full(b));
    }
  });

  test('a violation that persists is reported again at later steps', () => {
    const b = make(1024, MERGE_FAULT);
    expect(incremental(b)).toEqual([]);
    b.alloc(9, 'MOVABLE');
    b.alloc(9, 'MOVABLE');
    b.isolatePageblock(0);
    b.free(0, 9);
    b.free(512, 9);
    const first = incremental(b);
    expect(first).toContain(`${BUDDY_PROPERTY}|merged-across-isolation`);
    b.takeDirty(); // nothing else changes
    expect(incremental(b)).toEqual(first);
    expect(full(b)).toEqual(first);
  });

  test('cost does not grow with memory: a 2^24-frame allocator checks a step by its dirty pfns', () => {
    const b = make(2 ** 24);
    expect(incremental(b)).toEqual([]); // one-time shadow build
    for (let i = 0; i < 2000; i++) {
      const p = b.alloc(i % 11, 'MOVABLE') as number;
      expect(incremental(b)).toEqual([]);
      if (i % 2 === 0) {
        b.free(p, i % 11);
        expect(incremental(b)).toEqual([]);
      }
    }
  }, 30_000);
});
