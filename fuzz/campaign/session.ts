/**
 * One session of a campaign: from a fresh or resumed state until the bound is reached, Ctrl-C
 * asks to stop, or a worker fails. Batches are dealt to whichever worker is free; every result
 * is folded in this process, its new counterexamples written atomically, then the batch is
 * recorded done in the state file. That order means a kill at any instant loses nothing
 * written: at worst a batch recorded nowhere runs again on resume.
 */
import * as path from 'path';
import type { BatchResult } from '../contract';
import { writeFileAtomic } from '../counterexample/atomic-write';
import { batchCount, batchRuns, batchSeed } from './seeds';
import { foldBatch, knownKeysFor } from './fold';
import { stampOrigin } from './origin';
import { doneCount, markDone, nextUndone } from './position';
import { addSample } from './samples';
import { writeState, type CampaignState, type WorkerFigures } from './state';
import type { WorkerPool } from './pool';

/** Minimum time between two state writes when nothing new was found (fsync is not free). */
export const STATE_WRITE_INTERVAL_MS = 1000;

export type StopReason = 'bound' | 'interrupted' | 'error';

export interface StopSwitch {
  requested: boolean;
}

export interface SessionOptions {
  readonly dir: string;
  readonly state: CampaignState;
  readonly pool: WorkerPool;
  /** This session's time budget (time-bounded campaigns); null for `--runs`. */
  readonly budgetMs: number | null;
  readonly stop: StopSwitch;
  readonly clock: () => number;
  readonly now: () => Date;
  readonly modelVersion: string;
  /** Which workers are running a batch, kept up to date for progress displays. */
  readonly busy?: boolean[];
}

export interface SessionOutcome {
  readonly reason: StopReason;
  readonly error: Error | null;
  readonly sessionMs: number;
}

export function runSession(o: SessionOptions): Promise<SessionOutcome> {
  const { state, pool, stop, clock } = o;
  const totalBatches = batchCount(state.config.runs);
  const start = clock();
  const baseElapsed = state.elapsedMs;
  const busy: boolean[] = o.busy ?? [];
  busy.length = 0;
  for (let w = 0; w < pool.size; w++) busy.push(false);
  while (state.workers.length < pool.size) state.workers.push({ id: state.workers.length, batches: 0, runs: 0, operations: 0, failures: 0, busyMs: 0 });
  let cursor = nextUndone(state.position, 0);
  let inFlight = 0;
  let error: Error | null = null;
  let lastStateWrite = -Infinity;

  const boundReached = () => (totalBatches !== null ? doneCount(state.position) >= totalBatches : clock() - start >= (o.budgetMs ?? 0));
  const mayDispatch = () =>
    error === null && !stop.requested && (totalBatches !== null ? cursor < totalBatches : clock() - start < (o.budgetMs ?? 0));

  const saveState = (force: boolean) => {
    const t = clock();
    state.elapsedMs = baseElapsed + Math.round(t - start);
    if (!force && t - lastStateWrite < STATE_WRITE_INTERVAL_MS) return;
    writeState(o.dir, state);
    lastStateWrite = t;
  };

  const onResult = (w: number, k: number, result: BatchResult, busyMs: number) => {
    const written = foldBatch(state.totals, k, result);
    const date = o.now().toISOString();
    for (const kept of written) {
      const stamped = stampOrigin(kept.counterexample, { commit: state.commit, date, modelVersion: o.modelVersion });
      writeFileAtomic(path.join(o.dir, kept.file), JSON.stringify(stamped, null, 2) + '\n');
    }
    markDone(state.position, k);
    const fig: WorkerFigures = state.workers[w];
    fig.batches++;
    fig.runs += result.runs;
    fig.operations += result.operations;
    fig.failures += result.failures.length;
    fig.busyMs += Math.round(busyMs);
    addSample(state.throughput, { elapsedMs: baseElapsed + Math.round(clock() - start), runs: state.totals.runs, operations: state.totals.operations });
    saveState(written.length > 0);
  };

  return new Promise((resolve) => {
    const finish = () => {
      const interrupted = stop.requested && !boundReached();
      const reason: StopReason = error ? 'error' : interrupted ? 'interrupted' : 'bound';
      state.finished = reason === 'bound';
      addSample(state.throughput, { elapsedMs: baseElapsed + Math.round(clock() - start), runs: state.totals.runs, operations: state.totals.operations }, true);
      saveState(true);
      resolve({ reason, error, sessionMs: clock() - start });
    };
    const dispatch = () => {
      for (let w = 0; w < pool.size; w++) {
        if (busy[w] || !mayDispatch()) continue;
        const k = cursor;
        cursor = nextUndone(state.position, k + 1);
        const request = {
          seed: batchSeed(state.config.seed, state.config.shard, k),
          runs: batchRuns(state.config.runs, k),
          faults: state.config.faults,
          mechanisms: state.config.mechanisms,
          properties: state.config.properties,
          knownKeys: knownKeysFor(state.totals, k),
        };
        busy[w] = true;
        inFlight++;
        const t0 = clock();
        pool.run(w, request).then(
          (result) => {
            busy[w] = false;
            inFlight--;
            try {
              onResult(w, k, result, clock() - t0);
            } catch (err) {
              error ??= err instanceof Error ? err : new Error(String(err));
            }
            dispatch();
          },
          (err: unknown) => {
            busy[w] = false;
            inFlight--;
            error ??= err instanceof Error ? err : new Error(String(err));
            dispatch();
          },
        );
      }
      if (inFlight === 0) finish();
    };
    dispatch();
  });
}
