/**
 * `npm run fuzz -- merge DIR...`: folds several campaign directories (shards of one campaign,
 * or campaigns of several nights) into one report. Counts are summed, failures united by key
 * with one counterexample kept per key (from the first directory that has one, in the order
 * given), coverage summed. Every input is validated; the same campaign given twice is refused,
 * since its runs would be counted twice.
 */
import * as fs from 'fs';
import * as path from 'path';
import { removeStaleTemps, writeFileAtomic } from '../counterexample/atomic-write';
import { loadCounterexample } from '../counterexample/load';
import { FAILURES_DIR } from '../counterexample/naming';
import { buildReport, type CampaignReport, type MergedSource } from '../report/report';
import { readReport } from '../report/read';
import { writeReports } from '../report/write';
import { CAMPAIGNS_DIR } from './campaign';
import type { EngineRef } from './engine-port';
import { addTotals, emptyTotals, type Totals } from './fold';
import { renderJunit } from './junit';
import { SAMPLES_MAX, type Sample, type SampleSeries } from './samples';
import { statePath, type WorkerFigures } from './state';
import { UsageError } from './usage-error';
import { REPORT_JSON } from '../report/report';

export interface MergeInvocation {
  readonly dirs: readonly string[];
  readonly out: string | null;
  readonly junit: string | null;
}

export interface MergeResult {
  readonly dir: string;
  readonly report: CampaignReport;
  readonly files: { readonly json: string; readonly html: string; readonly junit: string | null };
}

/** What identifies a campaign's seed stream: two reports with the same identity ran the same runs. */
function identity(r: CampaignReport): string | null {
  return r.config === null ? null : JSON.stringify(r.config);
}

function totalsOf(r: CampaignReport, order: number): Totals {
  const t = emptyTotals();
  t.batches = r.batches;
  t.runs = r.runs;
  t.operations = r.operations.total;
  t.coverage = {
    operations: structuredClone(r.coverage.operations),
    transitions: structuredClone(r.coverage.transitions),
    declared: structuredClone(r.coverage.declared) as Record<string, string[]>,
  };
  for (const f of r.failures) t.failures[f.key] = { ...f, firstBatch: order };
  return t;
}

/** Sums cumulative series of campaigns that ran side by side: total runs/ops at each time. */
export function sumSeries(series: readonly SampleSeries[]): SampleSeries {
  const times = [...new Set(series.flatMap((s) => s.samples.map((x) => x.elapsedMs)))].sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(times.length / (SAMPLES_MAX - 1)));
  const picked = times.filter((_, i) => i % step === 0 || i === times.length - 1);
  const at = (s: SampleSeries, t: number): Sample | null => {
    let last: Sample | null = null;
    for (const x of s.samples) if (x.elapsedMs <= t) last = x;
    return last;
  };
  const samples = picked.map((t) => {
    let runs = 0;
    let operations = 0;
    for (const s of series) {
      const x = at(s, t) ?? null;
      if (x) (runs += x.runs), (operations += x.operations);
    }
    return { elapsedMs: t, runs, operations };
  });
  return { intervalMs: Math.max(1, ...series.map((s) => s.intervalMs)), samples };
}

export function mergeCampaigns(inv: MergeInvocation, env: { engineRef: EngineRef; now: () => Date }): MergeResult {
  const { engine } = env.engineRef;
  const dirs = inv.dirs.map((d) => path.resolve(d));
  const out = path.resolve(inv.out ?? path.join(CAMPAIGNS_DIR, `merged-${env.now().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`));
  if (dirs.includes(out)) throw new UsageError(`merge: --out ${out} is one of the directories being merged`);
  if (fs.existsSync(path.join(out, REPORT_JSON)) || fs.existsSync(statePath(out))) throw new UsageError(`merge: ${out} already holds a report; choose another --out`);
  const seen = new Map<string, string>();
  const reports = dirs.map((dir, i) => {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`merge: ${inv.dirs[i]} is not a directory`);
    if (dirs.indexOf(dir) !== i) throw new UsageError(`merge: ${inv.dirs[i]} is given twice`);
    const r = readReport(dir);
    const id = identity(r);
    if (id !== null && seen.has(id)) {
      throw new UsageError(`merge: ${inv.dirs[i]} and ${seen.get(id)} are the same campaign (seed ${r.seed}, shard ${r.config!.shard.index}/${r.config!.shard.count}); merging would count its runs twice`);
    }
    if (id !== null) seen.set(id, inv.dirs[i]);
    return r;
  });
  reports.forEach((r, i) => {
    if (r.modelVersion !== reports[0].modelVersion) {
      throw new UsageError(`merge: ${inv.dirs[i]} ran model ${r.modelVersion}, ${inv.dirs[0]} ran ${reports[0].modelVersion}; merge campaigns of one model only`);
    }
  });

  const totals = emptyTotals();
  reports.forEach((r, i) => addTotals(totals, totalsOf(r, i)));
  fs.mkdirSync(path.join(out, FAILURES_DIR), { recursive: true });
  removeStaleTemps(path.join(out, FAILURES_DIR));
  for (const f of Object.values(totals.failures)) {
    if (!f.file) continue;
    const source = path.join(dirs[f.firstBatch], f.file);
    // Validate before copying: a merged report must not launder a bad file.
    const cx = loadCounterexample(source, engine);
    writeFileAtomic(path.join(out, f.file), JSON.stringify(cx, null, 2) + '\n');
  }

  const seeds = [...new Set(reports.map((r) => r.seed))];
  const configs = [...new Set(reports.map((r) => JSON.stringify(r.config)))];
  const merged: MergedSource[] = reports.flatMap((r, i) =>
    r.merged.length > 0 ? r.merged : [{ dir: dirs[i], seed: r.seed, shard: r.config?.shard ?? null, runs: r.runs }],
  );
  let workerId = 0;
  const workers: WorkerFigures[] = reports.flatMap((r) => r.workers.map((w) => ({ ...w, id: workerId++ })));
  const report = buildReport(totals, {
    seed: seeds.length === 1 ? seeds[0] : null,
    config: configs.length === 1 ? reports[0].config : null,
    modelVersion: reports[0].modelVersion,
    commit: [...new Set(reports.map((r) => r.commit))].join(','),
    stopReason: 'merged',
    properties: [...new Set(reports.flatMap((r) => r.properties))],
    operationKinds: engine.inventory().operations.map((o) => o.name),
    merged,
    startedAt: reports.map((r) => r.startedAt).sort()[0],
    finishedAt: reports.map((r) => r.finishedAt).sort().reverse()[0],
    elapsedMs: Math.max(...reports.map((r) => r.elapsedMs)),
    throughput: sumSeries(reports.map((r) => r.throughput)),
    workers,
  });
  // Every kept file was validated above, so replay problems (if any) show in the page only.
  const { json, html } = writeReports(out, report, engine);
  let junit: string | null = null;
  if (inv.junit) {
    junit = path.resolve(inv.junit);
    writeFileAtomic(junit, renderJunit(report, out));
  }
  return { dir: out, report, files: { json, html, junit } };
}
