/**
 * Reading a report.json back (merge): validated like every other input, strict objects, so a
 * directory that is not a campaign, or a report of another format version, is refused with a
 * one-line reason instead of being summed into garbage.
 */
import * as path from 'path';
import { z } from 'zod';
import { firstIssue } from '../counterexample/schema';
import { InputError, readJsonFile } from '../counterexample/safe-json';
import { campaignConfigSchema, coverageSchema, sampleSeriesSchema, workerFiguresSchema } from '../campaign/state';
import { REPORT_FORMAT, REPORT_JSON, REPORT_VERSION, type CampaignReport } from './report';

const count = z.number().int().nonnegative();
const name = z.string().max(1000);
const shard = z.strictObject({ index: count, count: z.number().int().positive() });

const reportSchema = z.strictObject({
  format: z.literal(REPORT_FORMAT),
  version: z.literal(REPORT_VERSION),
  seed: z.number().int().nonnegative().nullable(),
  config: campaignConfigSchema.nullable(),
  modelVersion: name,
  commit: name,
  stopReason: z.enum(['bound', 'interrupted', 'error', 'merged']),
  runs: count,
  batches: count,
  operations: z.strictObject({ total: count, byKind: coverageSchema.shape.operations }),
  failures: z.array(
    z.strictObject({
      key: name,
      property: name,
      opKind: name,
      violationKind: name,
      count,
      file: z.string().regex(/^failures\/[0-9a-f]{12}\.json$/).nullable(),
      message: z.string().max(1 << 20),
    }),
  ),
  coverage: coverageSchema.extend({
    neverExercised: z.record(name, z.array(name)),
    operationsNeverRun: z.array(name),
  }),
  properties: z.array(name),
  merged: z.array(z.strictObject({ dir: z.string().max(4096), seed: z.number().int().nonnegative().nullable(), shard: shard.nullable(), runs: count })),
  startedAt: name,
  finishedAt: name,
  elapsedMs: count,
  throughput: sampleSeriesSchema,
  workers: z.array(workerFiguresSchema),
});

export function readReport(dir: string): CampaignReport {
  const file = path.join(dir, REPORT_JSON);
  const parsed = reportSchema.safeParse(readJsonFile(file));
  if (!parsed.success) throw new InputError(`${file}: ${firstIssue(parsed.error)}`);
  return parsed.data as CampaignReport;
}
