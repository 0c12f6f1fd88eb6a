/**
 * Hunting one fault: runs on one core, in fixed seed order, until a run breaks one of the
 * properties the fault names, then shrinks that run's trace. Shared by the catalogue
 * (`npm run catalogue`) and the benchmark. Wall-clock time is read here, in the harness,
 * never in the model.
 */
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import type { FaultDef } from '../model/faults';
import type { Counterexample, Operation } from './contract';
import { COUNTEREXAMPLE_FORMAT, COUNTEREXAMPLE_VERSION } from './contract';
import { generateAndRun, MODEL_VERSION, modelConfigOf, sampleArb, shrinkOperations, type Sample } from './engine';
import type { Violation } from '../properties/violation';

/** Runs drawn per fast-check sample call. */
const SAMPLE_BATCH = 25;

export interface HuntResult {
  readonly fault: string;
  readonly found: boolean;
  readonly runs: number;
  /** Seconds to the first failing run (detection only, without shrinking). */
  readonly secondsToFailure: number | null;
  readonly violation: Violation | null;
  readonly shrunk: readonly Operation[] | null;
  readonly counterexample: Counterexample | null;
}

/**
 * The runs of a hunt for `f`, by batch: even batches from the whole swarm as a campaign draws
 * it, odd ones from the whole swarm with the fault's own mechanism never switched off and
 * brought to the front, on the machine the bug needs (`FaultDef.machine`). A bug that takes a
 * long chain of its own mechanism's steps on a rare machine is reached by the second kind; the
 * other mechanisms stay in, as some bugs need their help (unmapped page-cache control acts on
 * pages the page cache's operations bring in).
 */
export function huntArbs(f: FaultDef): readonly [fc.Arbitrary<Sample>, fc.Arbitrary<Sample>] {
  return [sampleArb([]), sampleArb([], f.mechanism, f.machine)];
}

export function hunt(f: FaultDef, seed: number, budgetSeconds: number): HuntResult {
  const arbs = huntArbs(f);
  const t0 = performance.now();
  let runs = 0;
  for (let batch = 0; (performance.now() - t0) / 1000 < budgetSeconds; batch++) {
    const batchSeed = (seed * 7919 + batch) | 0;
    for (const s of fc.sample(arbs[batch % 2]!, { seed: batchSeed, numRuns: SAMPLE_BATCH })) {
      runs++;
      const r = generateAndRun(s, [f.name], new Set());
      if (!r.violation || !f.breaks.includes(r.violation.property)) continue;
      const seconds = (performance.now() - t0) / 1000;
      const mc = modelConfigOf(s.config, [f.name]);
      const shrunk = shrinkOperations(mc, r.ops.slice(0, r.violation.step + 1), r.violation, new Set());
      return {
        fault: f.name, found: true, runs, secondsToFailure: seconds, violation: shrunk.violation, shrunk: shrunk.ops,
        counterexample: {
          format: COUNTEREXAMPLE_FORMAT, version: COUNTEREXAMPLE_VERSION, config: s.config, faults: [f.name], operations: shrunk.ops, violation: shrunk.violation,
          origin: { seed: batchSeed, path: '', fastCheckVersion: '', commit: 'unknown', modelVersion: MODEL_VERSION, date: new Date().toISOString() },
        },
      };
    }
  }
  return { fault: f.name, found: false, runs, secondsToFailure: null, violation: null, shrunk: null, counterexample: null };
}
