/**
 * The hunt's two kinds of runs (fuzz/hunt.ts): the whole swarm, and runs focused on the fault's
 * own mechanism on the machine its bug needs.
 */
import fc from 'fast-check';
import { faultNamed, operations } from '../model/registry';
import { huntArbs } from './hunt';

test("focused runs: every kind drawn, the fault's own always on and at the front; the machine's options kept", () => {
  const f = faultNamed('fpr-ignores-guest-poison')!;
  expect(f.machine).toBeDefined();
  const [, focused] = huntArbs(f);
  const own = operations.filter((o) => o.mechanism === f.mechanism).map((o) => o.name);
  const samples = fc.sample(focused, { seed: 1, numRuns: 40 });
  expect(new Set(samples.flatMap((s) => Object.keys(s.config.weights))).size).toBe(operations.length);
  for (const s of samples) {
    // Weight 2..10, times the front's focus of 4.
    for (const k of own) expect(s.config.weights[k]).toBeGreaterThanOrEqual(8);
    expect(s.config.options).toMatchObject(f.machine!);
  }
  // Other mechanisms are still switched off in some runs.
  expect(samples.some((s) => s.config.weights['vballoon.fill'] === 0)).toBe(true);
});

test('whole-swarm runs draw every kind and every option at random, the machine included', () => {
  const f = faultNamed('fpr-ignores-guest-poison')!;
  const [whole] = huntArbs(f);
  const samples = fc.sample(whole, { seed: 1, numRuns: 40 });
  expect(new Set(samples.flatMap((s) => Object.keys(s.config.weights))).size).toBe(operations.length);
  // Some runs switch the fault's mechanism off, and some draw another poisoning mode.
  expect(samples.some((s) => s.config.weights['fpr.work'] === 0)).toBe(true);
  const key = Object.keys(f.machine!)[0]!;
  expect(samples.some((s) => s.config.options[key] !== f.machine![key])).toBe(true);
});
