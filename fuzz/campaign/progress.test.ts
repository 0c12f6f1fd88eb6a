import { createProgress, formatDuration, renderLive, renderPlain, type ProgressSnapshot } from './progress';

const snap: ProgressSnapshot = {
  elapsedMs: 65_000,
  remainingMs: 3_600_000 + 5_000,
  runs: 1234,
  totalRuns: null,
  operations: 98_765,
  opsPerSec: 1519.4,
  distinctFailures: 2,
  hits: 17,
  stopping: false,
  workers: [
    { id: 0, busy: true, batches: 3, runs: 60, operations: 500 },
    { id: 1, busy: false, batches: 2, runs: 40, operations: 300 },
  ],
};

test('durations read as mm:ss or h:mm:ss', () => {
  expect(formatDuration(65_000)).toBe('01:05');
  expect(formatDuration(3_605_000)).toBe('1:00:05');
  expect(formatDuration(null)).toBe('--:--');
});

test('plain lines and the live block show elapsed, remaining, runs, ops, ops/s, failures and workers', () => {
  expect(renderPlain(snap)).toBe('fuzz: elapsed 01:05  remaining 1:00:05  runs 1,234  ops 98,765  1,519 ops/s  failures 2 distinct (17 hits)');
  const live = renderLive({ ...snap, totalRuns: 5000, stopping: true }, 200);
  expect(live[0]).toContain('runs 1,234/5,000');
  expect(live[0]).toContain('stopping');
  expect(live.slice(1)).toEqual(['  worker  0 busy  batches 3  runs 60  ops 500', '  worker  1 idle  batches 2  runs 40  ops 300']);
  expect(renderLive(snap, 20).every((l) => l.length <= 20)).toBe(true);
});

test('the live sink redraws in place', () => {
  const writes: string[] = [];
  const sink = createProgress({ write: (s: string) => writes.push(s), columns: 200 }, { live: true, intervalMs: 60_000 });
  sink.start(() => snap);
  sink.stop();
  expect(writes).toHaveLength(2);
  expect(writes[0].startsWith('\r\x1b[2K')).toBe(true);
  expect(writes[1].startsWith('\x1b[3A')).toBe(true);
});
