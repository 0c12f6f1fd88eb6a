/**
 * Every operation a campaign draws can be replayed: a counterexample file's operations are
 * validated against the operations' argument specs before anything runs (validateOperation,
 * checkArgs), so an operation the generators draw outside its own spec would make a found
 * counterexample unreplayable the next morning. Seeded runs of the whole swarm, fault-free,
 * each operation checked as it was drawn.
 */
import fc from 'fast-check';
import { generateAndRun, sampleArb, validateOperation } from './engine';
import { operations } from '../model/registry';

const SEED = 20261124;
const RUNS = 20;

test('every operation the swarm draws passes its argument spec, across most operation kinds', () => {
  const drawn = new Set<string>();
  const misfits: string[] = [];
  for (const s of fc.sample(sampleArb([]), { seed: SEED, numRuns: RUNS })) {
    for (const op of generateAndRun(s, [], new Set()).ops) {
      drawn.add(op.kind);
      const why = validateOperation(op);
      if (why !== null) misfits.push(`${why} in ${JSON.stringify(op)}`);
    }
  }
  expect(misfits).toEqual([]);
  // Not vacuous: the runs reach most of the model's operations.
  expect(drawn.size).toBeGreaterThan(operations.length / 2);
});
