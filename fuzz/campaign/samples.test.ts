import { addSample, emptySeries, rates, SAMPLE_INTERVAL_MS, SAMPLES_MAX } from './samples';

test('samples are spaced by the interval and capped by halving', () => {
  const s = emptySeries();
  addSample(s, { elapsedMs: 0, runs: 0, operations: 0 });
  addSample(s, { elapsedMs: 10, runs: 1, operations: 5 });
  expect(s.samples).toHaveLength(1);
  for (let i = 1; i < 5 * SAMPLES_MAX; i++) addSample(s, { elapsedMs: i * SAMPLE_INTERVAL_MS, runs: i, operations: 10 * i });
  expect(s.samples.length).toBeLessThan(SAMPLES_MAX);
  expect(s.intervalMs).toBeGreaterThan(SAMPLE_INTERVAL_MS);
  const r = rates(s.samples);
  expect(r.every((x) => Math.abs(x.opsPerSec - 10) < 1e-9)).toBe(true);
});
