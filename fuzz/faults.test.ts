/**
 * Known-bug injection, fast form: every registered fault is caught by one of the properties it
 * names within a fixed number of runs of a fixed seed (deterministic), and the same runs
 * without faults find nothing. A fault with a deterministic scenario test (FaultDef.scenario:
 * required where the random budget cannot reach it) is shown caught there instead; `npm run
 * catalogue` hunts every fault at random.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { faults } from '../model/registry';
import { properties } from '../properties';
import { runBatch } from './engine';

const RUNS = 60;

describe('injected faults', () => {
  it('finds nothing without faults', () => {
    const r = runBatch({ seed: 1, runs: RUNS, faults: [], mechanisms: [], properties: [], knownKeys: [] });
    expect(r.runs).toBe(RUNS);
    expect(r.operations).toBeGreaterThan(RUNS);
    expect(r.failures.map((f) => f.key)).toEqual([]);
  });

  it('every property is named as broken by some fault', () => {
    const broken = new Set(faults.flatMap((f) => f.breaks));
    expect(properties.map((p) => p.name).filter((n) => !broken.has(n))).toEqual([]);
  });

  for (const f of faults) {
    if (f.scenario) {
      it(`${f.name} is driven by its scenario test ${f.scenario}`, () => {
        expect(existsSync(join(__dirname, '..', f.scenario!))).toBe(true);
      });
      continue;
    }
    it(`${f.name} is caught by ${f.breaks.join(' or ')}`, () => {
      const r = runBatch({ seed: 1, runs: RUNS, faults: [f.name], mechanisms: [], properties: f.breaks, knownKeys: [], firstFailure: true });
      const caught = r.failures.map((x) => x.key.split('|')[0]);
      expect(caught.some((p) => f.breaks.includes(p!))).toBe(true);
    });
  }
});
