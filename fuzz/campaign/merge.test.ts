import * as fs from 'fs';
import * as path from 'path';
import { fuzzInline, readJson, tmpDir } from '../testing/helpers';
import type { CampaignReport } from '../report/report';
import { sumSeries } from './merge';

const FAULTS = ['--fault', 'balloon-leak', '--fault', 'tlb-skip-flush'];

async function shard(i: number, n: number, extra: string[] = []): Promise<{ dir: string; report: CampaignReport }> {
  const dir = tmpDir();
  const { code } = await fuzzInline(['--runs', '100', '--seed', '3', '--shard', `${i}/${n}`, '--out', dir, ...FAULTS, ...extra]);
  expect(code).toBe(1);
  return { dir, report: readJson<CampaignReport>(path.join(dir, 'report.json')) };
}

test('merge sums counts, unites failures by key with one counterexample each, and exits 1', async () => {
  const a = await shard(0, 2);
  const b = await shard(1, 2);
  const out = path.join(tmpDir(), 'merged');
  const { code, stdout } = await fuzzInline(['merge', a.dir, b.dir, '--out', out, '--json']);
  expect(code).toBe(1);
  const merged = JSON.parse(stdout) as CampaignReport;
  expect(merged.runs).toBe(200);
  expect(merged.operations.total).toBe(a.report.operations.total + b.report.operations.total);
  const keys = [...new Set([...a.report.failures, ...b.report.failures].map((f) => f.key))].sort();
  expect(merged.failures.map((f) => f.key)).toEqual(keys);
  for (const f of merged.failures) {
    const hits = [...a.report.failures, ...b.report.failures].filter((x) => x.key === f.key).reduce((s, x) => s + x.count, 0);
    expect(f.count).toBe(hits);
    expect(fs.existsSync(path.join(out, f.file!))).toBe(true);
  }
  expect(fs.readdirSync(path.join(out, 'failures'))).toHaveLength(keys.length);
  expect(merged.merged.map((m) => m.shard)).toEqual([{ index: 0, count: 2 }, { index: 1, count: 2 }]);
  expect(merged.seed).toBe(3);
  expect(merged.config).toBeNull();
  expect(fs.existsSync(path.join(out, 'report.html'))).toBe(true);
  for (const op of Object.keys(merged.operations.byKind)) {
    expect(merged.operations.byKind[op].ran).toBe((a.report.operations.byKind[op]?.ran ?? 0) + (b.report.operations.byKind[op]?.ran ?? 0));
  }
});

test('merge refuses the same campaign twice, a non-campaign directory and an existing report', async () => {
  const a = await shard(0, 2);
  const copy = tmpDir();
  fs.cpSync(a.dir, copy, { recursive: true });
  let r = await fuzzInline(['merge', a.dir, copy, '--out', path.join(tmpDir(), 'm')]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/are the same campaign \(seed 3, shard 0\/2\); merging would count its runs twice/);
  r = await fuzzInline(['merge', a.dir, tmpDir(), '--out', path.join(tmpDir(), 'm')]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/report\.json: cannot read \(ENOENT\)/);
  r = await fuzzInline(['merge', a.dir, '--out', a.dir]);
  expect(r.code).toBe(2);
  fs.writeFileSync(path.join(copy, 'report.json'), '{"format":"nested-mm-campaign-report","version":2}');
  r = await fuzzInline(['merge', a.dir, copy, '--out', path.join(tmpDir(), 'm')]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/report\.json: \$\.version: /);
});

test('throughput series of side-by-side campaigns add up', () => {
  const s = sumSeries([
    { intervalMs: 1000, samples: [{ elapsedMs: 0, runs: 0, operations: 0 }, { elapsedMs: 1000, runs: 10, operations: 100 }] },
    { intervalMs: 1000, samples: [{ elapsedMs: 0, runs: 0, operations: 0 }, { elapsedMs: 1000, runs: 5, operations: 50 }] },
  ]);
  expect(s.samples).toEqual([{ elapsedMs: 0, runs: 0, operations: 0 }, { elapsedMs: 1000, runs: 15, operations: 150 }]);
});
