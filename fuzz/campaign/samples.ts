/**
 * Throughput over time for the report's chart: cumulative (elapsed, runs, operations) samples.
 * An overnight campaign must not grow the state file without bound, so the series is capped:
 * when it reaches SAMPLES_MAX, every other sample is dropped and the interval doubles. The
 * series stays evenly spaced, whatever the campaign's length.
 */
export interface Sample {
  readonly elapsedMs: number;
  readonly runs: number;
  readonly operations: number;
}

export const SAMPLES_MAX = 512;
export const SAMPLE_INTERVAL_MS = 1000;

export interface SampleSeries {
  intervalMs: number;
  samples: Sample[];
}

export function emptySeries(): SampleSeries {
  return { intervalMs: SAMPLE_INTERVAL_MS, samples: [] };
}

/** Records `s` if at least one interval passed since the last sample (or `force`). */
export function addSample(series: SampleSeries, s: Sample, force = false): void {
  const last = series.samples[series.samples.length - 1];
  if (!force && last && s.elapsedMs - last.elapsedMs < series.intervalMs) return;
  if (last && s.elapsedMs <= last.elapsedMs) {
    series.samples[series.samples.length - 1] = s;
    return;
  }
  series.samples.push(s);
  if (series.samples.length >= SAMPLES_MAX) {
    series.samples = series.samples.filter((_, i) => i % 2 === 1 || i === series.samples.length - 1);
    series.intervalMs *= 2;
  }
}

/** Operations per second between consecutive samples, at each sample's time. */
export function rates(samples: readonly Sample[]): { elapsedMs: number; opsPerSec: number; runsPerSec: number }[] {
  const out: { elapsedMs: number; opsPerSec: number; runsPerSec: number }[] = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].elapsedMs - samples[i - 1].elapsedMs) / 1000;
    if (dt <= 0) continue;
    out.push({
      elapsedMs: samples[i].elapsedMs,
      opsPerSec: (samples[i].operations - samples[i - 1].operations) / dt,
      runsPerSec: (samples[i].runs - samples[i - 1].runs) / dt,
    });
  }
  return out;
}
