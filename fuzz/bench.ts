/**
 * `npm run bench -- [--json] [--quick] [--throughput-only]`: the figures that say whether the harness is fast
 * enough to run all night, measured in one run and printed (never asserted in tests):
 *
 * - raw model operations per second (no properties), checked (every property after every
 *   step, incrementally) and naive (every property re-scanning the whole state after every
 *   step), on the same operation sequences, with the cost of each property per operation;
 * - cost per operation and peak memory as host memory grows from 2^12 to 2^24 frames with the
 *   same guest activity (each size in its own process, so peak RSS is that size's own);
 * - time to first failure and shrunk length of every catalogue fault, median over seeds;
 * - campaign throughput with 1, 2 and all cores (the real campaign, its own report's figures).
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import type { ModelConfig } from '../model/config';
import { createWorld, faults, operationNamed } from '../model/registry';
import { isRefusal, type OpResult } from '../model/result';
import { Oracle } from '../properties/oracle';
import { oracleEffects, properties } from '../properties';
import type { StepContext } from '../properties/property';
import { ViolationList } from '../properties/violation';
import type { Operation, SwarmConfig } from './contract';
import { modelConfigOf, STEPS_MAX } from './engine';
import { hunt } from './hunt';
import { generate, KindTable, type Choice } from './generate';
import { runTrace, type CheckMode } from './run';
import { defaultSwarm } from './swarm';

const quick = process.argv.includes('--quick');
const TRACES = quick ? 10 : 40;
const SCALE_TRACES = quick ? 4 : 12;
const SCALE_STEPS = 400;
const FAULT_SEEDS = quick ? 1 : 3;
const FAULT_BUDGET_SECONDS = 60;
const WORKER_SECONDS = quick ? 4 : 10;
const REPEATS = quick ? 2 : 3;

function choicesArb(n: number): fc.Arbitrary<Choice[]> {
  return fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: n, maxLength: n });
}

/** Fixed operation sequences generated once against the live state of a given machine. */
function traces(cfg: SwarmConfig, count: number, steps: number, seed: number): Operation[][] {
  return fc.sample(choicesArb(steps), { seed, numRuns: count }).map((cs) => {
    const w = createWorld(modelConfigOf(cfg, []));
    if (isRefusal(w)) throw new Error(w.detail);
    const t = new KindTable(cfg.weights);
    return cs.map((c) => {
      const op = generate(w, t, c);
      operationNamed(op.kind)!.apply(w, op.args);
      w.journal.clear();
      return op;
    });
  });
}

/**
 * Operations per second over the traces: the best of REPEATS passes (the usual way to read
 * through noise from other processes on a shared machine; every pass does the same work).
 */
function opsPerSec(cfg: ModelConfig, ts: Operation[][], check: CheckMode): number {
  let best = 0;
  for (let rep = 0; rep < REPEATS; rep++) {
    let ops = 0;
    const t0 = performance.now();
    for (const t of ts) {
      const r = runTrace(cfg, t, { check, settle: false });
      if (r.violation) throw new Error(`bench trace violates ${r.violation.property}: the model or a property is wrong`);
      ops += t.length;
    }
    best = Math.max(best, ops / ((performance.now() - t0) / 1000));
  }
  return best;
}

/** Microseconds per operation spent in each property's incremental check. */
function perProperty(cfg: ModelConfig, ts: Operation[][]): Record<string, number> {
  const spent: Record<string, number> = {};
  let ops = 0;
  for (const t of ts) {
    const w = createWorld(cfg);
    if (isRefusal(w)) throw new Error(w.detail);
    const oracle = new Oracle(oracleEffects);
    for (const [i, op] of t.entries()) {
      w.step = i;
      const result: OpResult = operationNamed(op.kind)!.apply(w, op.args);
      oracle.apply(op.kind, op.args, result);
      const ctx: StepContext = { world: w, journal: w.journal, oracle, op, result };
      const l = new ViolationList(i);
      for (const p of properties) {
        const t0 = performance.now();
        p.checkStep(ctx, l);
        spent[p.name] = (spent[p.name] ?? 0) + (performance.now() - t0);
      }
      w.journal.clear();
      ops++;
    }
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(spent)) out[k] = +((v * 1000) / ops).toFixed(2);
  return out;
}

/** The scale machine: one small guest, the same activity whatever the host size. */
function scaleSwarm(hostFrames: number): SwarmConfig {
  const base = defaultSwarm();
  return { ...base, hostFrames, guests: [{ frames: 2 ** 11, guestLevels: 4, eptLevels: 4, hugePages: false }] };
}

interface ScaleRow {
  readonly frames: number;
  readonly nsPerOp: number;
  readonly peakRssBytes: number;
  readonly createMs: number;
}

/** Runs in a child process: one host size, checked operations only (creation timed apart). */
function scaleChild(hostFrames: number): ScaleRow {
  const sw = scaleSwarm(hostFrames);
  const ts = traces(scaleSwarm(2 ** 12), SCALE_TRACES, SCALE_STEPS, 7);
  const cfg = modelConfigOf(sw, []);
  let ns = 0;
  let ops = 0;
  let createMs = 0;
  for (let rep = 0; rep < 2; rep++)
    for (const t of ts) {
      const c0 = performance.now();
      const w = createWorld(cfg);
      if (isRefusal(w)) throw new Error(w.detail);
      const oracle = new Oracle(oracleEffects);
      // Setup: the world, and the checkers' first look at it (the buddy checker's shadow of
      // the initial free lists, one entry per max-order block). Timed apart from operations.
      const prime = new ViolationList(-1);
      for (const p of properties) p.checkStep({ world: w, journal: w.journal, oracle, op: null, result: null }, prime);
      createMs += performance.now() - c0;
      const t0 = performance.now();
      for (const [i, op] of t.entries()) {
        w.step = i;
        const result = operationNamed(op.kind)!.apply(w, op.args);
        oracle.apply(op.kind, op.args, result);
        const ctx: StepContext = { world: w, journal: w.journal, oracle, op, result };
        const l = new ViolationList(i);
        for (const p of properties) p.checkStep(ctx, l);
        if (l.violations.length > 0) throw new Error(`scale trace violates ${l.violations[0]!.property}`);
        w.journal.clear();
      }
      if (rep === 1) {
        ns += (performance.now() - t0) * 1e6;
        ops += t.length;
      }
    }
  return { frames: hostFrames, nsPerOp: Math.round(ns / ops), peakRssBytes: process.resourceUsage().maxRSS * 1024, createMs: +(createMs / (2 * ts.length)).toFixed(2) };
}

function scale(): Promise<ScaleRow[]> {
  const sizes = quick ? [12, 18, 24] : [12, 14, 16, 18, 20, 22, 24];
  return sizes.reduce<Promise<ScaleRow[]>>(
    (acc, log2) =>
      acc.then(
        (rows) =>
          new Promise((resolve, reject) => {
            const child = fork(__filename, ['--scale-child', String(2 ** log2)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
            child.on('message', (row: ScaleRow) => resolve([...rows, row]));
            child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`scale child for 2^${log2} exited ${code}`))));
          }),
      ),
    Promise.resolve([]),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

interface FaultRow {
  readonly name: string;
  readonly medianSecondsToFailure: number | null;
  readonly medianShrunkLength: number | null;
  readonly found: number;
  readonly seeds: number;
}

/** Time to first failure and shrunk length per fault (fuzz/hunt.ts), median over seeds. */
function faultFigures(): FaultRow[] {
  return faults.map((f) => {
    const found = Array.from({ length: FAULT_SEEDS }, (_, i) => hunt(f, i + 1, FAULT_BUDGET_SECONDS)).filter((h) => h.found);
    return {
      name: f.name,
      medianSecondsToFailure: found.length ? +median(found.map((h) => h.secondsToFailure!)).toFixed(3) : null,
      medianShrunkLength: found.length ? median(found.map((h) => h.shrunk!.length)) : null,
      found: found.length,
      seeds: FAULT_SEEDS,
    };
  });
}

/** The real campaign for a few seconds with W workers; ops/s from its own report. */
function workerFigures(): { workers: number; opsPerSec: number }[] {
  const all = os.availableParallelism();
  const counts = [...new Set([1, 2, all])].sort((a, b) => a - b);
  const cli = path.join(__dirname, 'cli.js');
  return counts.map((workers) => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'bench-workers-'));
    try {
      try {
        execFileSync(process.execPath, [cli, '--seconds', String(WORKER_SECONDS), '--workers', String(workers), '--seed', '5', '--out', out], { stdio: 'ignore' });
      } catch (e) {
        if ((e as { status?: number }).status !== 1) throw e; // 1: found something; still a measurement
      }
      const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as { operations: { total: number }; elapsedMs: number };
      return { workers, opsPerSec: Math.round(report.operations.total / (report.elapsedMs / 1000)) };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

async function main(): Promise<void> {
  const child = process.argv.indexOf('--scale-child');
  if (child >= 0) {
    process.send!(scaleChild(Number(process.argv[child + 1])));
    return;
  }
  const json = process.argv.includes('--json');
  const say = (s: string): void => {
    if (!json) process.stdout.write(s + '\n');
  };
  const sw = defaultSwarm();
  const cfg = modelConfigOf(sw, []);
  const ts = traces(sw, TRACES, STEPS_MAX, 42);
  opsPerSec(cfg, ts, 'incremental'); // warm-up
  const raw = opsPerSec(cfg, ts, 'none');
  const checked = opsPerSec(cfg, ts, 'incremental');
  const naive = opsPerSec(cfg, ts, 'full');
  const costs = perProperty(cfg, ts);
  say(`default configuration, ${TRACES} traces x ${STEPS_MAX} operations`);
  say(`  raw model         ${Math.round(raw)} ops/s`);
  say(`  checked           ${Math.round(checked)} ops/s  (${(checked / raw).toFixed(2)} of raw; target >= 0.5)`);
  say(`  naive re-scan     ${Math.round(naive)} ops/s  (checked is ${(checked / naive).toFixed(1)}x faster; target >= 10x)`);
  say(`  per property, us/op: ${Object.entries(costs).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (process.argv.includes('--throughput-only')) return;
  const rows = await scale();
  say('host memory scale (one guest of 2^11 frames, same traces, checked, creation timed apart)');
  for (const r of rows) say(`  2^${Math.log2(r.frames)} frames  ${r.nsPerOp} ns/op  peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB  setup (world + first check) ${r.createMs} ms`);
  const ratio = rows[rows.length - 1]!.nsPerOp / rows[0]!.nsPerOp;
  say(`  cost at 2^24 / cost at 2^12 = ${ratio.toFixed(2)} (target <= 3); peak RSS at 2^24 ${(rows[rows.length - 1]!.peakRssBytes / 2 ** 30).toFixed(2)} GiB (target < 1)`);
  const fr = faultFigures();
  say(`catalogue faults, median over ${FAULT_SEEDS} seed(s), one core (target: under 5 s each)`);
  for (const f of fr) say(`  ${f.name.padEnd(34)} ${f.medianSecondsToFailure === null ? 'NOT FOUND' : `${f.medianSecondsToFailure} s`}  shrunk to ${f.medianShrunkLength ?? '-'} ops  (${f.found}/${f.seeds})`);
  const wk = workerFigures();
  say(`campaign throughput (${WORKER_SECONDS} s campaigns; target: W workers >= 0.8 W x one worker)`);
  for (const w of wk) say(`  ${w.workers} worker(s)  ${w.opsPerSec} ops/s  (${(w.opsPerSec / wk[0]!.opsPerSec).toFixed(2)}x one worker)`);
  if (json)
    process.stdout.write(
      JSON.stringify({
        rawOpsPerSec: Math.round(raw),
        checkedOpsPerSec: Math.round(checked),
        naiveOpsPerSec: Math.round(naive),
        checkedOverRaw: +(checked / raw).toFixed(3),
        checkedOverNaive: +(checked / naive).toFixed(2),
        propertyMicrosPerOp: costs,
        scale: rows,
        faults: fr,
        workers: wk,
      }) + '\n',
    );
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
