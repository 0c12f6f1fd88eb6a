/**
 * A campaign's life: create (or resume) its directory and state, run a session, write the
 * reports. Everything outside this process (engine, pool, clock, progress, Ctrl-C) comes in
 * through `CampaignEnv`, so tests drive whole campaigns on the fake engine in-process.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Inventory } from '../contract';
import { removeStaleTemps, writeFileAtomic } from '../counterexample/atomic-write';
import { loadCounterexample } from '../counterexample/load';
import { FAILURES_DIR, failureFileName, failingOperationKind, keyOf } from '../counterexample/naming';
import { InputError } from '../counterexample/safe-json';
import { reportFromState, type CampaignReport } from '../report/report';
import { writeReports } from '../report/write';
import type { CampaignConfig } from './config';
import type { Engine, EngineRef } from './engine-port';
import { emptyTotals } from './fold';
import { renderJunit } from './junit';
import { checkNames, type CampaignInvocation, type ResumeInvocation } from './options';
import { gitCommit } from './origin';
import type { WorkerPool } from './pool';
import { startPosition } from './position';
import type { ProgressSink, ProgressSnapshot } from './progress';
import { emptySeries } from './samples';
import { runSession, type SessionOutcome, type StopSwitch } from './session';
import { readState, statePath, writeState, type CampaignState } from './state';
import { UsageError } from './usage-error';
import { REPO_ROOT } from './repo-root';

export { REPO_ROOT };
export const CAMPAIGNS_DIR = path.join(REPO_ROOT, 'reports', 'campaigns');

export interface CampaignEnv {
  readonly engineRef: EngineRef;
  readonly makePool: (size: number) => WorkerPool;
  readonly clock: () => number;
  readonly now: () => Date;
  readonly progress: ProgressSink;
  readonly stop: StopSwitch;
  readonly commit?: () => string;
  /** Warnings for the user (one line each). */
  readonly warn: (line: string) => void;
}

export interface CampaignResult {
  readonly dir: string;
  readonly report: CampaignReport;
  readonly outcome: SessionOutcome;
  readonly files: { readonly json: string; readonly html: string; readonly junit: string | null };
}

/** reports/campaigns/20251122-234901-seed1[-shard2of8]: sortable by date, says what it ran. */
export function defaultCampaignDir(config: CampaignConfig, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const shard = config.shard.count > 1 ? `-shard${config.shard.index}of${config.shard.count}` : '';
  return path.join(CAMPAIGNS_DIR, `${stamp}-seed${config.seed}${shard}`);
}

/** Properties a campaign checks: the focus, or every property of the inventory. */
export function checkedProperties(config: CampaignConfig, inv: Inventory): string[] {
  return config.properties.length > 0 ? [...config.properties] : inv.properties.map((p) => p.name);
}

export async function startCampaign(inv: CampaignInvocation, env: CampaignEnv): Promise<CampaignResult> {
  const { engine } = env.engineRef;
  const inventory = engine.inventory();
  const config: CampaignConfig = { ...inv.config, faults: [...(inv.config.faults ?? engine.defaultCampaignConfig().faults)] };
  checkNames(config, inventory);
  const dir = path.resolve(inv.out ?? defaultCampaignDir(config, env.now()));
  if (fs.existsSync(statePath(dir))) throw new UsageError(`${dir} already holds a campaign: continue it with --resume ${dir}, or choose another --out`);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`--out ${dir} is not a directory`);
  fs.mkdirSync(path.join(dir, FAILURES_DIR), { recursive: true });
  const state: CampaignState = {
    format: 'nested-mm-campaign-state',
    version: 1,
    config,
    modelVersion: engine.MODEL_VERSION,
    commit: (env.commit ?? gitCommit)(),
    startedAt: env.now().toISOString(),
    elapsedMs: 0,
    finished: false,
    position: startPosition(),
    totals: emptyTotals(),
    throughput: { ...emptySeries(), samples: [{ elapsedMs: 0, runs: 0, operations: 0 }] },
    workers: [],
  };
  // Written before the first batch: a campaign killed at once can still be resumed.
  writeState(dir, state);
  return runAndReport(dir, state, config.durationMs, inv, env, inventory, new Set());
}

export async function resumeCampaign(inv: ResumeInvocation, env: CampaignEnv): Promise<CampaignResult> {
  const { engine } = env.engineRef;
  const dir = path.resolve(inv.dir);
  if (!fs.existsSync(statePath(dir))) throw new UsageError(`--resume ${inv.dir}: no campaign state (${path.basename(statePath(dir))}) in that directory`);
  const state = readState(dir);
  if (state.modelVersion !== engine.MODEL_VERSION) {
    throw new UsageError(`--resume ${inv.dir}: the campaign ran on model ${state.modelVersion}, this engine is ${engine.MODEL_VERSION}; the seed stream would not continue the same runs, start a new campaign`);
  }
  const inventory = engine.inventory();
  checkNames(state.config, inventory);
  const commit = (env.commit ?? gitCommit)();
  if (commit !== state.commit) env.warn(`fuzz: warning: the campaign started at commit ${state.commit}, resuming at ${commit}`);

  let budgetMs: number | null = null;
  if (state.config.runs !== null) {
    if (inv.durationMs !== null) throw new UsageError(`--resume ${inv.dir}: a --runs campaign continues its remaining runs; it takes no time bound`);
  } else if (inv.durationMs !== null) {
    budgetMs = inv.durationMs;
    state.config = { ...state.config, durationMs: state.elapsedMs + inv.durationMs };
  } else {
    if (state.finished) throw new UsageError(`--resume ${inv.dir}: the campaign already ran its ${Math.round((state.config.durationMs ?? 0) / 1000)} s; give --seconds, --minutes or --hours to extend it`);
    budgetMs = Math.max(0, (state.config.durationMs ?? 0) - state.elapsedMs);
  }
  const recovered = recoverFailureFiles(dir, state, engine, env.warn);
  return runAndReport(dir, state, budgetMs, inv, env, inventory, recovered);
}

/**
 * A failure file written just before a kill, whose batch the state never recorded, is kept: it
 * is adopted with its key (the batch that found it runs again and counts its hits).
 */
function recoverFailureFiles(dir: string, state: CampaignState, engine: Engine, warn: (l: string) => void): Set<string> {
  const failuresDir = path.join(dir, FAILURES_DIR);
  removeStaleTemps(dir);
  removeStaleTemps(failuresDir);
  const recovered = new Set<string>();
  if (!fs.existsSync(failuresDir)) return recovered;
  const referenced = new Set(Object.values(state.totals.failures).map((f) => f.file));
  for (const name of fs.readdirSync(failuresDir).sort()) {
    const rel = `${FAILURES_DIR}/${name}`;
    if (!name.endsWith('.json') || referenced.has(rel)) continue;
    try {
      const cx = loadCounterexample(path.join(failuresDir, name), engine);
      const key = keyOf(cx);
      if (failureFileName(key) !== name) throw new InputError(`${rel}: its key does not match its name`);
      state.totals.failures[key] = {
        key,
        property: cx.violation.property,
        opKind: failingOperationKind(cx),
        violationKind: cx.violation.kind,
        count: 0,
        file: rel,
        firstBatch: -1,
        message: cx.violation.message,
      };
      recovered.add(key);
    } catch (err) {
      warn(`fuzz: warning: ignoring ${rel}: ${(err as Error).message}`);
    }
  }
  return recovered;
}

async function runAndReport(
  dir: string,
  state: CampaignState,
  budgetMs: number | null,
  inv: CampaignInvocation | ResumeInvocation,
  env: CampaignEnv,
  inventory: Inventory,
  recovered: Set<string>,
): Promise<CampaignResult> {
  const pool = env.makePool(inv.workers);
  const busyNow: boolean[] = [];
  const sessionStart = env.clock();
  const baseElapsed = state.elapsedMs;
  env.progress.start(() => progressSnapshot(state, busyNow, env.clock() - sessionStart, baseElapsed, budgetMs, env.stop.requested));
  let outcome: SessionOutcome;
  try {
    outcome = await runSession({
      dir,
      state,
      pool,
      budgetMs,
      stop: env.stop,
      clock: env.clock,
      now: env.now,
      modelVersion: env.engineRef.engine.MODEL_VERSION,
      busy: busyNow,
    });
  } finally {
    env.progress.stop();
    await pool.close();
  }
  // A recovered failure whose batch did not run again was still hit at least once.
  for (const key of recovered) if (state.totals.failures[key].count === 0) state.totals.failures[key].count = 1;
  writeState(dir, state);
  const report = reportFromState(state, {
    stopReason: outcome.reason,
    properties: checkedProperties(state.config, inventory),
    operationKinds: inventory.operations.map((o) => o.name),
    finishedAt: env.now().toISOString(),
  });
  const { problems, ...files } = writeReports(dir, report, env.engineRef.engine);
  for (const p of problems) env.warn(`fuzz: warning: ${p}`);
  let junit: string | null = null;
  if (inv.junit) {
    junit = path.resolve(inv.junit);
    writeFileAtomic(junit, renderJunit(report, dir));
  }
  return { dir, report, outcome, files: { ...files, junit } };
}

function progressSnapshot(
  state: CampaignState,
  busy: readonly boolean[],
  sessionMs: number,
  baseElapsed: number,
  budgetMs: number | null,
  stopping: boolean,
): ProgressSnapshot {
  const elapsedMs = baseElapsed + sessionMs;
  const opsPerSec = elapsedMs > 0 ? state.totals.operations / (elapsedMs / 1000) : 0;
  const runsPerMs = elapsedMs > 0 ? state.totals.runs / elapsedMs : 0;
  const totalRuns = state.config.runs;
  const remainingMs =
    totalRuns !== null ? (runsPerMs > 0 ? (totalRuns - state.totals.runs) / runsPerMs : null) : Math.max(0, (budgetMs ?? 0) - sessionMs);
  const failures = Object.values(state.totals.failures);
  return {
    elapsedMs,
    remainingMs,
    runs: state.totals.runs,
    totalRuns,
    operations: state.totals.operations,
    opsPerSec,
    distinctFailures: failures.length,
    hits: failures.reduce((s, f) => s + f.count, 0),
    stopping,
    workers: state.workers.slice(0, busy.length).map((w, i) => ({ id: w.id, busy: busy[i] === true, batches: w.batches, runs: w.runs, operations: w.operations })),
  };
}
