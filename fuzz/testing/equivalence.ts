/**
 * Incremental against full checking, step by step (the checker-equivalence tests): random
 * traces of the campaign generators, every property checked both ways after every step; the
 * caller asserts through `expect` that both report the same (property, kind). A trace ends at
 * its first violation, as campaigns do: after it the state is broken.
 */
import fc from 'fast-check';
import { modelConfigOf } from '../engine';
import { generate, KindTable } from '../generate';
import { swarmArb } from '../swarm';
import { createWorld, operationNamed } from '../../model/registry';
import { isRefusal, type OpResult } from '../../model/result';
import { Oracle } from '../../properties/oracle';
import { oracleEffects, properties } from '../../properties';
import type { StepContext } from '../../properties/property';
import { ViolationList } from '../../properties/violation';

export interface EquivalenceRun {
  readonly faults: readonly string[];
  readonly seed: number;
  readonly traces: number;
  readonly steps: number;
  /** Restrict the swarm to these mechanisms' operations (empty: all). */
  readonly mechanisms?: readonly string[];
}

export interface EquivalenceResult {
  readonly steps: number;
  readonly violating: number;
  /** Steps whose operation belongs to one of `mechanisms`. */
  readonly mine: number;
}

function keys(l: ViolationList): string[] {
  return [...new Set(l.violations.map((v) => `${v.property}|${v.kind}`))].sort();
}

export function compareCheckers(run: EquivalenceRun): EquivalenceResult {
  const mechanisms = run.mechanisms ?? [];
  const samples = fc.sample(
    fc.record({ config: swarmArb(mechanisms), choices: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: run.steps, maxLength: run.steps }) }),
    { seed: run.seed, numRuns: run.traces },
  );
  let steps = 0;
  let violating = 0;
  let mine = 0;
  for (const s of samples) {
    const w = createWorld(modelConfigOf(s.config, run.faults));
    if (isRefusal(w)) throw new Error(w.detail);
    const oracle = new Oracle(oracleEffects);
    const table = new KindTable(s.config.weights);
    for (const [i, c] of s.choices.entries()) {
      w.step = i;
      const op = generate(w, table, c);
      if (mechanisms.some((m) => op.kind.startsWith(`${m}.`))) mine++;
      const result: OpResult = operationNamed(op.kind)!.apply(w, op.args);
      oracle.apply(op.kind, op.args, result);
      const ctx: StepContext = { world: w, journal: w.journal, oracle, op, result };
      const inc = new ViolationList(i);
      const full = new ViolationList(i);
      for (const p of properties) p.checkStep(ctx, inc);
      for (const p of properties) p.checkAll(ctx, full);
      w.journal.clear();
      expect({ step: i, op: op.kind, found: keys(inc) }).toEqual({ step: i, op: op.kind, found: keys(full) });
      steps++;
      if (full.violations.length > 0) {
        violating++;
        break;
      }
    }
  }
  return { steps, violating, mine };
}
