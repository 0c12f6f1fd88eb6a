/**
 * The device properties' incremental checks (checkStep, from the journal) report exactly what
 * their full re-scans (checkAll) report, at the same step, on random traces: with no fault and
 * with each device fault injected (so that violations do occur), up to the first violation
 * (where the harness stops a run). Both runners see the same
 * operations, generated from the incremental runner's live state.
 */
import fc from 'fast-check';
import { faults, mechanisms } from '../../model/registry';
import { KindTable, generate, type Choice } from '../../fuzz/generate';
import { Runner } from '../../fuzz/run';
import { modelConfigOf } from '../../fuzz/engine';
import { swarmArb } from '../../fuzz/swarm';
import { properties } from '..';

const DEVICE_MECHANISMS = mechanisms.filter((m) => m.name !== 'core').map((m) => m.name);
const deviceProps = new Set(properties.filter((p) => DEVICE_MECHANISMS.includes(p.mechanism) && p.kind === 'safety').map((p) => p.name));
const deviceFaults = faults.filter((f) => DEVICE_MECHANISMS.includes(f.mechanism)).map((f) => f.name);
const STEPS = 80;
const RUNS_PER_CASE = 6;

function keys(vs: readonly { property: string; kind: string }[]): string[] {
  return [...new Set(vs.map((v) => `${v.property}|${v.kind}`))].sort();
}

let violating = 0;

describe('device properties: checkStep agrees with checkAll at every step', () => {
  afterAll(() => expect(violating).toBeGreaterThan(3));
  for (const fault of [null, ...deviceFaults]) {
    it(fault ? `with ${fault}` : 'without faults', () => {
      const samples = fc.sample(fc.tuple(swarmArb(DEVICE_MECHANISMS), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: STEPS, maxLength: STEPS })), { seed: 7, numRuns: RUNS_PER_CASE });
      let compared = 0;
      for (const [swarm, choices] of samples) {
        const cfg = modelConfigOf(swarm, fault ? [fault] : []);
        const inc = new Runner(cfg, { check: 'incremental', properties: deviceProps });
        const full = new Runner(cfg, { check: 'full', properties: deviceProps });
        const table = new KindTable(swarm.weights);
        for (const c of choices) {
          const op = generate(inc.world, table, c as Choice);
          const a = keys(inc.apply(op));
          const b = keys(full.apply(op));
          expect({ step: inc.step, op: op.kind, violations: a }).toEqual({ step: full.step, op: op.kind, violations: b });
          compared++;
          // The harness stops a run at its first violation: later steps need not agree.
          if (a.length > 0) {
            violating++;
            break;
          }
        }
      }
      expect(compared).toBeGreaterThan(RUNS_PER_CASE);
    });
  }
});
