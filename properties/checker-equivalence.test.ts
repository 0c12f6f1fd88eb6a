/**
 * Incremental checking must stay exactly as strong as the full check (issue #8): random traces,
 * with and without each fault, are checked both ways after every step, and both must report
 * the same set of (property, kind) at the same step.
 */
import fc from 'fast-check';
import { createWorld, faults, operationNamed } from '../model/registry';
import { isRefusal, type OpResult } from '../model/result';
import { generate, KindTable } from '../fuzz/generate';
import { swarmArb } from '../fuzz/swarm';
import { modelConfigOf } from '../fuzz/engine';
import { Oracle } from './oracle';
import { oracleEffects, properties } from './index';
import { ViolationList } from './violation';
import type { StepContext } from './property';

const TRACES = 12;
/** Per fault (the CI budget of npm test): a violating trace ends early, the rest run whole. */
const FAULT_TRACES = 8;
/**
 * Faults with a scenario test (most are rarely reached at random) add mostly fault-free traces
 * here, so they get fewer; their violating traces are compared where their mechanisms dominate
 * (model/devices/device-faults.test.ts for the devices, properties/moving-equivalence.test.ts
 * for compaction, THP, KSM and virtio-mem).
 */
const SCENARIO_FAULT_TRACES = 2;
const STEPS = 80;

function keys(l: ViolationList): string[] {
  return [...new Set(l.violations.map((v) => `${v.property}|${v.kind}`))].sort();
}

function compare(faultNames: string[], seed: number, traces = TRACES): { steps: number; violating: number } {
  const samples = fc.sample(
    fc.record({ config: swarmArb([]), choices: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: STEPS, maxLength: STEPS }) }),
    { seed, numRuns: traces },
  );
  let steps = 0;
  let violating = 0;
  for (const s of samples) {
    const w = createWorld(modelConfigOf(s.config, faultNames));
    if (isRefusal(w)) throw new Error(w.detail);
    const oracle = new Oracle(oracleEffects);
    const table = new KindTable(s.config.weights);
    for (const [i, c] of s.choices.entries()) {
      w.step = i;
      const op = generate(w, table, c);
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
        break; // after the first violation the state is broken; the runner stops there too
      }
    }
  }
  return { steps, violating };
}

describe('incremental checks equal full checks, step by step', () => {
  it('without faults (and nothing is found)', () => {
    const r = compare([], 7);
    expect(r.steps).toBe(TRACES * STEPS);
    expect(r.violating).toBe(0);
  });

  it.each(faults.map((f) => f.name))('with %s', (name) => {
    const r = compare([name], 11, faults.find((f) => f.name === name)?.scenario ? SCENARIO_FAULT_TRACES : FAULT_TRACES);
    expect(r.steps).toBeGreaterThan(0);
  });
});
