import * as fs from 'fs';
import * as path from 'path';
import { InlinePool } from './pool';
import { resumeCampaign, startCampaign, type CampaignEnv } from './campaign';
import { silentProgress } from './progress';
import { readState } from './state';
import type { CampaignInvocation } from './options';
import { createFakeEngine } from '../testing/fake-engine';
import { failureFiles, fakeRef, readJson, ScramblingPool, tmpDir, withoutTiming } from '../testing/helpers';
import type { CampaignReport } from '../report/report';
import { loadCounterexample } from '../counterexample/load';

function env(overrides: Partial<CampaignEnv> = {}): CampaignEnv {
  const ref = fakeRef();
  return {
    engineRef: ref,
    makePool: (n) => new ScramblingPool(ref.engine, n),
    clock: (() => {
      let t = 0;
      return () => (t += 1);
    })(),
    now: () => new Date('2025-01-01T00:00:00.000Z'),
    progress: silentProgress,
    stop: { requested: false },
    commit: () => 'test-commit',
    warn: () => {},
    ...overrides,
  };
}

function invocation(out: string, config: Partial<CampaignInvocation['config']> = {}, workers = 2): CampaignInvocation {
  return {
    workers,
    json: false,
    junit: null,
    out,
    config: { seed: 7, shard: { index: 0, count: 1 }, runs: 300, durationMs: null, faults: ['buddy-double-merge', 'balloon-leak'], mechanisms: [], properties: [], ...config },
  };
}

describe('a --runs campaign', () => {
  test('gives the same report and failure files with 1, 3 or 8 workers and any completion order', async () => {
    const dirs = [tmpDir(), tmpDir(), tmpDir()];
    const results = [];
    for (const [i, workers] of [1, 3, 8].entries()) {
      const e = env();
      const pool = i === 0 ? (n: number) => new InlinePool(e.engineRef.engine, n) : e.makePool;
      results.push(await startCampaign(invocation(dirs[i], {}, workers), { ...e, makePool: pool }));
    }
    expect(results[0].report.failures.length).toBeGreaterThan(1);
    expect(withoutTiming(results[1].report)).toEqual(withoutTiming(results[0].report));
    expect(withoutTiming(results[2].report)).toEqual(withoutTiming(results[0].report));
    expect(failureFiles(dirs[1])).toEqual(failureFiles(dirs[0]));
    expect(failureFiles(dirs[2])).toEqual(failureFiles(dirs[0]));
  });

  test('folds failures by key, counts every hit and writes one valid file per key', async () => {
    const dir = tmpDir();
    const { report } = await startCampaign(invocation(dir), env());
    expect(report.runs).toBe(300);
    const keys = report.failures.map((f) => f.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(expect.arrayContaining(['balloon.accounting|balloon.deflate|leak', 'buddy.no-overlap|buddy.free|overlap']));
    expect(report.failures.reduce((s, f) => s + f.count, 0)).toBeGreaterThan(report.failures.length);
    const engine = createFakeEngine();
    for (const f of report.failures) {
      const cx = loadCounterexample(path.join(dir, f.file!), engine);
      expect(cx.violation.property).toBe(f.property);
      expect(cx.origin.commit).toBe('test-commit');
      expect(cx.origin.date).toBe('2025-01-01T00:00:00.000Z');
    }
    expect(fs.readdirSync(path.join(dir, 'failures'))).toHaveLength(report.failures.length);
  });

  test('reports coverage, including transitions never exercised', async () => {
    const { report } = await startCampaign(invocation(tmpDir(), { runs: 40 }), env());
    expect(report.coverage.neverExercised).toEqual({ buddy: ['free->isolated', 'isolated->free'] });
    expect(report.operations.total).toBe(Object.values(report.operations.byKind).reduce((s, c) => s + c.ran, 0));
    expect(report.coverage.transitions.balloon['guest->ballooned']).toBeGreaterThan(0);
  });

  test('focus: --mechanisms limits generated operations, --properties limits what fails', async () => {
    const { report } = await startCampaign(invocation(tmpDir(), { mechanisms: ['balloon'], properties: ['balloon.accounting'] }), env());
    expect(Object.keys(report.operations.byKind).sort()).toEqual(['balloon.deflate', 'balloon.inflate']);
    expect(report.failures.map((f) => f.property)).toEqual(['balloon.accounting']);
    expect(report.properties).toEqual(['balloon.accounting']);
  });

  test('different shards of one seed run disjoint batches', async () => {
    const seeds: number[][] = [];
    for (const index of [0, 1]) {
      const ref = fakeRef();
      const seen: number[] = [];
      const engine = { ...ref.engine, runBatch: (req: Parameters<typeof ref.engine.runBatch>[0]) => (seen.push(req.seed), ref.engine.runBatch(req)) };
      await startCampaign(invocation(tmpDir(), { shard: { index, count: 2 }, runs: 200 }), env({ engineRef: { ...ref, engine }, makePool: (n) => new InlinePool(engine, n) }));
      seeds.push(seen);
    }
    expect(seeds[0]).toHaveLength(10);
    expect(seeds[0].filter((s) => seeds[1].includes(s))).toEqual([]);
  });
});

describe('a time-bounded campaign', () => {
  test('stops dealing batches at its deadline and reports the bound', async () => {
    // The clock advances 1 ms per reading; a 40 ms budget allows a handful of batches.
    const { report, outcome } = await startCampaign(invocation(tmpDir(), { runs: null, durationMs: 40 }), env());
    expect(outcome.reason).toBe('bound');
    expect(report.runs).toBeGreaterThan(0);
    expect(report.runs % 20).toBe(0);
  });
});

describe('stopping and resuming', () => {
  test('a stop request lets batches in flight finish, writes the report, and keeps the failures', async () => {
    const dir = tmpDir();
    const stop = { requested: false };
    const ref = fakeRef();
    let batches = 0;
    const e = env({ stop, makePool: (n) => new ScramblingPool(ref.engine, n, () => (++batches === 4 ? (stop.requested = true) : undefined)) });
    const { report, outcome } = await startCampaign(invocation(dir, {}, 2), e);
    expect(outcome.reason).toBe('interrupted');
    expect(report.stopReason).toBe('interrupted');
    expect(report.batches).toBeGreaterThanOrEqual(4);
    expect(report.batches).toBeLessThan(15);
    expect(report.failures.length).toBeGreaterThan(0);
    expect(readJson<CampaignReport>(path.join(dir, 'report.json')).failures).toEqual(report.failures);
    expect(readState(dir).finished).toBe(false);
  });

  test('resuming an interrupted --runs campaign ends with the report of an uninterrupted one', async () => {
    const whole = await startCampaign(invocation(tmpDir()), env());
    const dir = tmpDir();
    const stop = { requested: false };
    const ref = fakeRef();
    let batches = 0;
    await startCampaign(invocation(dir, {}, 3), env({ stop, makePool: (n) => new ScramblingPool(ref.engine, n, () => (++batches === 5 ? (stop.requested = true) : undefined)) }));
    const first = readState(dir);
    expect(first.totals.batches).toBeLessThan(15);
    const resumed = await resumeCampaign({ dir, workers: 2, json: false, junit: null, durationMs: null }, env());
    expect(resumed.outcome.reason).toBe('bound');
    expect(withoutTiming({ ...resumed.report, stopReason: 'bound' })).toEqual(withoutTiming(whole.report));
    expect(failureFiles(dir)).toEqual(failureFiles(whole.dir));
  });

  test('resume refuses a finished campaign without a new bound, and another model version', async () => {
    const dir = tmpDir();
    await startCampaign(invocation(dir, { runs: 20 }), env());
    await expect(resumeCampaign({ dir, workers: 1, json: false, junit: null, durationMs: 1000 }, env())).rejects.toThrow(/continues its remaining runs/);
    const other = fakeRef();
    await expect(
      resumeCampaign({ dir, workers: 1, json: false, junit: null, durationMs: null }, env({ engineRef: { ...other, engine: { ...other.engine, MODEL_VERSION: 'fake-2' } } })),
    ).rejects.toThrow(/ran on model fake-1, this engine is fake-2/);
    const timed = tmpDir();
    await startCampaign(invocation(timed, { runs: null, durationMs: 5 }), env());
    await expect(resumeCampaign({ dir: timed, workers: 1, json: false, junit: null, durationMs: null }, env())).rejects.toThrow(/already ran/);
    const extended = await resumeCampaign({ dir: timed, workers: 1, json: false, junit: null, durationMs: 20 }, env());
    expect(extended.report.config?.durationMs).toBeGreaterThan(20);
  });

  test('a new campaign refuses a directory that already holds one', async () => {
    const dir = tmpDir();
    await startCampaign(invocation(dir, { runs: 20 }), env());
    await expect(startCampaign(invocation(dir, { runs: 20 }), env())).rejects.toThrow(/already holds a campaign: continue it with --resume/);
  });

  test('an engine crash stops the campaign with its state saved', async () => {
    const ref = fakeRef();
    let n = 0;
    const engine = { ...ref.engine, runBatch: (req: Parameters<typeof ref.engine.runBatch>[0]) => (++n === 3 ? (() => { throw new Error('engine bug'); })() : ref.engine.runBatch(req)) };
    const dir = tmpDir();
    const { outcome } = await startCampaign(invocation(dir), env({ engineRef: { ...ref, engine }, makePool: (k) => new InlinePool(engine, k) }));
    expect(outcome.reason).toBe('error');
    expect(outcome.error?.message).toBe('engine bug');
    expect(readState(dir).totals.batches).toBeGreaterThanOrEqual(2);
  });
});
