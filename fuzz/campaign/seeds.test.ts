import { batchCount, batchRuns, batchSeed, RUNS_PER_BATCH } from './seeds';

describe('batch seeds', () => {
  test('are a pure function of (seed, shard, batch)', () => {
    expect(batchSeed(1, { index: 0, count: 1 }, 5)).toBe(batchSeed(1, { index: 0, count: 1 }, 5));
    expect(batchSeed(1, { index: 0, count: 1 }, 5)).not.toBe(batchSeed(2, { index: 0, count: 1 }, 5));
  });

  test('never repeat across the shards of one campaign', () => {
    const seen = new Set<number>();
    for (let index = 0; index < 8; index++) for (let k = 0; k < 2000; k++) seen.add(batchSeed(77, { index, count: 8 }, k));
    expect(seen.size).toBe(8 * 2000);
  });

  test('are unsigned 32-bit integers', () => {
    for (let k = 0; k < 100; k++) {
      const s = batchSeed(0xffffffff, { index: 3, count: 4 }, k);
      expect(Number.isInteger(s) && s >= 0 && s <= 0xffffffff).toBe(true);
    }
  });
});

describe('the --runs schedule', () => {
  test('splits the run count into fixed batches, the last one shorter', () => {
    const runs = 2 * RUNS_PER_BATCH + 7;
    expect(batchCount(runs)).toBe(3);
    expect([0, 1, 2, 3].map((k) => batchRuns(runs, k))).toEqual([RUNS_PER_BATCH, RUNS_PER_BATCH, 7, 0]);
  });
  test('is unbounded for time-bounded campaigns', () => {
    expect(batchCount(null)).toBeNull();
    expect(batchRuns(null, 10_000)).toBe(RUNS_PER_BATCH);
  });
});
