/**
 * Incremental checks equal full checks for the properties of compaction, THP, KSM and
 * virtio-mem, on traces where those mechanisms' operations dominate (the swarm restricted to
 * them): after every step both modes must report the same (property, kind). The all-fault
 * version for every property is properties/checker-equivalence.test.ts; this one drives the
 * moving mechanisms harder, with and without their faults.
 */
import { faults } from '../model/registry';
import { compareCheckers } from '../fuzz/testing/equivalence';

const MECHANISMS = ['compaction', 'thp', 'ksm', 'virtio-mem'];
const TRACES = 3;
const STEPS = 50;
/**
 * Every fault of these mechanisms: checker-equivalence.test.ts gives faults with a scenario
 * test only a few traces over all mechanisms, so their violating traces are compared here,
 * where their mechanisms' operations dominate.
 */
const FAULTS = faults.filter((f) => MECHANISMS.includes(f.mechanism)).map((f) => f.name);

function compare(faultNames: string[], seed: number): { steps: number; violating: number; mine: number } {
  return compareCheckers({ faults: faultNames, seed, traces: TRACES, steps: STEPS, mechanisms: MECHANISMS });
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
