/**
 * The campaign state file, `<dir>/campaign-state.json`: the configuration, the seed stream
 * position and the running totals. It is rewritten atomically as batches finish, so a campaign
 * killed at any instant (even SIGKILL) can `--resume` from the last state written: batches
 * not yet recorded simply run again, and they are deterministic.
 */
import * as path from 'path';
import { z } from 'zod';
import { writeFileAtomic } from '../counterexample/atomic-write';
import { firstIssue } from '../counterexample/schema';
import { InputError, readJsonFile } from '../counterexample/safe-json';
import type { CampaignConfig } from './config';
import type { Totals } from './fold';
import type { Position } from './position';
import type { SampleSeries } from './samples';

export const STATE_FILE = 'campaign-state.json';
export const STATE_FORMAT = 'nested-mm-campaign-state';
export const STATE_VERSION = 1;

export interface WorkerFigures {
  id: number;
  batches: number;
  runs: number;
  operations: number;
  failures: number;
  busyMs: number;
}

export interface CampaignState {
  format: typeof STATE_FORMAT;
  version: typeof STATE_VERSION;
  config: CampaignConfig;
  modelVersion: string;
  commit: string;
  startedAt: string;
  /** Campaign time actually spent running, summed over resumed sessions. */
  elapsedMs: number;
  /** True once the campaign reached its bound (a resume then needs a new time bound). */
  finished: boolean;
  position: Position;
  totals: Totals;
  throughput: SampleSeries;
  workers: WorkerFigures[];
}

const count = z.number().int().nonnegative();
const name = z.string().min(1).max(200);

export const campaignConfigSchema = z.strictObject({
  seed: z.number().int().min(0).max(0xffff_ffff),
  shard: z.strictObject({ index: count, count: z.number().int().positive() }).refine((s) => s.index < s.count, 'shard index must be below shard count'),
  runs: count.nullable(),
  durationMs: count.nullable(),
  faults: z.array(name),
  mechanisms: z.array(name),
  properties: z.array(name),
});

export const coverageSchema = z.strictObject({
  operations: z.record(name, z.strictObject({ ran: count, ok: count, refused: count })),
  transitions: z.record(name, z.record(name, count)),
  declared: z.record(name, z.array(name)),
});

export const failureRecordSchema = z.strictObject({
  key: z.string().min(1).max(1000),
  property: z.string().max(200),
  opKind: z.string().max(200),
  violationKind: z.string().max(200),
  count,
  file: z.string().regex(/^failures\/[0-9a-f]{12}\.json$/).nullable(),
  firstBatch: z.number().int().min(-1),
  message: z.string().max(1 << 20),
});

export const totalsSchema = z.strictObject({
  batches: count,
  runs: count,
  operations: count,
  coverage: coverageSchema,
  failures: z.record(z.string().min(1).max(1000), failureRecordSchema),
});

export const sampleSeriesSchema = z.strictObject({
  intervalMs: z.number().int().positive(),
  samples: z.array(z.strictObject({ elapsedMs: count, runs: count, operations: count })).max(4096),
});

export const workerFiguresSchema = z.strictObject({ id: count, batches: count, runs: count, operations: count, failures: count, busyMs: count });

const stateSchema = z.strictObject({
  format: z.literal(STATE_FORMAT),
  version: z.literal(STATE_VERSION),
  config: campaignConfigSchema,
  modelVersion: z.string().max(200),
  commit: z.string().max(200),
  startedAt: z.string().max(64),
  elapsedMs: count,
  finished: z.boolean(),
  position: z.strictObject({ doneBelow: count, doneAbove: z.array(count).max(1 << 20) }),
  totals: totalsSchema,
  throughput: sampleSeriesSchema,
  workers: z.array(workerFiguresSchema).max(4096),
});

export function statePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

export function writeState(dir: string, state: CampaignState): void {
  writeFileAtomic(statePath(dir), JSON.stringify(state));
}

/** Loads and validates `<dir>/campaign-state.json`; InputError names the problem. */
export function readState(dir: string): CampaignState {
  const file = statePath(dir);
  const doc = readJsonFile(file);
  const parsed = stateSchema.safeParse(doc);
  if (!parsed.success) throw new InputError(`${file}: ${firstIssue(parsed.error)}`);
  return parsed.data as CampaignState;
}
