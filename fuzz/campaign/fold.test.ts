import type { BatchResult, Counterexample } from '../contract';
import { addTotals, emptyTotals, foldBatch, knownKeysFor } from './fold';
import { failureFileName } from '../counterexample/naming';

const KEY = 'p|op.a|kind';

function cx(seed: number): Counterexample {
  return {
    format: 'nested-mm-counterexample',
    version: 1,
    config: { hostFrames: 4096, guests: [], weights: {}, options: {} },
    faults: [],
    operations: [{ kind: 'op.a', args: {} }],
    violation: { property: 'p', kind: 'kind', step: 0, subject: 's', message: `m${seed}`, expected: 'e', actual: 'a' },
    origin: { seed, path: '', fastCheckVersion: '4.10.2', commit: 'c', modelVersion: 'v', date: '2025-01-01T00:00:00.000Z' },
  };
}

function batch(failures: BatchResult['failures']): BatchResult {
  return { runs: 10, operations: 100, failures, coverage: { operations: {}, transitions: {}, declared: {} } };
}

describe('foldBatch', () => {
  test('keeps the counterexample of the lowest batch, whatever order batches fold in', () => {
    const t = emptyTotals();
    expect(foldBatch(t, 5, batch([{ key: KEY, counterexample: cx(5) }]))).toHaveLength(1);
    expect(foldBatch(t, 9, batch([{ key: KEY, counterexample: cx(9) }]))).toEqual([]);
    const kept = foldBatch(t, 2, batch([{ key: KEY, counterexample: cx(2) }, { key: KEY }]));
    expect(kept.map((k) => k.counterexample.origin.seed)).toEqual([2]);
    expect(kept[0].file).toBe(`failures/${failureFileName(KEY)}`);
    expect(t.failures[KEY]).toMatchObject({ count: 4, firstBatch: 2, message: 'm2', property: 'p', opKind: 'op.a', violationKind: 'kind' });
    expect(t).toMatchObject({ batches: 3, runs: 30, operations: 300 });
  });

  test('knownKeys of batch k are the keys first found below k', () => {
    const t = emptyTotals();
    foldBatch(t, 3, batch([{ key: KEY, counterexample: cx(3) }]));
    expect(knownKeysFor(t, 3)).toEqual([]);
    expect(knownKeysFor(t, 4)).toEqual([KEY]);
  });

  test('a key only ever counted (no counterexample) is recorded without a file', () => {
    const t = emptyTotals();
    expect(foldBatch(t, 0, batch([{ key: 'a|b|c' }]))).toEqual([]);
    expect(t.failures['a|b|c']).toMatchObject({ property: 'a', opKind: 'b', violationKind: 'c', count: 1, file: null });
    expect(knownKeysFor(t, 5)).toEqual([]);
  });
});

test('addTotals sums counts and unites failures by key', () => {
  const a = emptyTotals();
  const b = emptyTotals();
  foldBatch(a, 0, batch([{ key: KEY, counterexample: cx(1) }]));
  foldBatch(b, 0, batch([{ key: KEY, counterexample: cx(2) }, { key: 'q|r|s', counterexample: { ...cx(3), violation: { ...cx(3).violation, property: 'q' } } }]));
  addTotals(a, b);
  expect(a.runs).toBe(20);
  expect(a.failures[KEY].count).toBe(2);
  expect(a.failures[KEY].message).toBe('m1');
  expect(Object.keys(a.failures).sort()).toEqual([KEY, 'q|r|s']);
});
