/**
 * Incremental checking must stay exactly as strong as the full check (issue #8): random traces,
 * with and without each fault, are checked both ways after every step, and both must report
 * the same set of (property, kind) at the same step.
 */
import { faults } from '../model/registry';
import { compareCheckers } from '../fuzz/testing/equivalence';

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

function compare(faultNames: string[], seed: number, traces = TRACES): { steps: number; violating: number } {
  return compareCheckers({ faults: faultNames, seed, traces, steps: STEPS });
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
