/**
 * Incremental checks equal full checks for the properties of compaction, THP, KSM and
 * virtio-mem, on traces where those mechanisms' operations dominate (the swarm restricted to
 * them): after every step both modes must report the same (property, kind). The all-fault
 * version for every property is properties/checker-equivalence.test.ts; this one drives the
 * moving mechanisms harder, with and without their faults.
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

const MECHANISMS = ['compaction', 'thp', 'ksm', 'virtio-mem'];
const TRACES = 3;
const STEPS = 50;
/**
 * Every fault of these mechanisms: checker-equivalence.test.ts gives faults with a scenario
 * test only a few traces over all mechanisms, so their violating traces are compared here,
 * where their mechanisms' operations dominate.
 */
const FAULTS = faults.filter((f) => MECHANISMS.includes(f.mechanism)).map((f) => f.name);

function keys(l: ViolationList): string[] {
  return [...new Set(l.violations.map((v) => `${v.property}|${v.kind}`))].sort();
}

function compare(faultNames: string[], seed: number): { steps: number; violating: number; mine: number } {
  const samples = fc.sample(
    fc.record({ config: swarmArb(MECHANISMS), choices: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: STEPS, maxLength: STEPS }) }),
    { seed, numRuns: TRACES },
  );
  let steps = 0;
  let violating = 0;
  let mine = 0;
  for (const s of samples) {
    const w = createWorld(modelConfigOf(s.config, faultNames));
    if (isRefusal(w)) throw new Error(w.detail);
    const oracle = new Oracle(oracleEffects);
    const table = new KindTable(s.config.weights);
    for (const [i, c] of s.choices.entries()) {
      w.step = i;
      const op = generate(w, table, c);
      if (MECHANISMS.some((m) => op.kind.startsWith(`${m}.`))) mine++;
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

describe('moving mechanisms: incremental checks equal full checks', () => {
  it('without faults (nothing is found, and the mechanisms ran)', () => {
    const r = compare([], 5);
    expect(r.steps).toBe(TRACES * STEPS);
    expect(r.violating).toBe(0);
    expect(r.mine).toBeGreaterThan(TRACES * STEPS * 0.3);
  });

  it.each(FAULTS)('with %s', (name) => {
    const r = compare([name], 13);
    expect(r.steps).toBeGreaterThan(0);
  });
});
