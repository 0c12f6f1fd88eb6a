/**
 * report.json: the machine-readable result of a campaign (or of a merge of several). Built from
 * the campaign state alone (pure), so a resumed campaign reports its first part too. Fields that
 * depend on timing are grouped (`elapsedMs`, `startedAt`, `finishedAt`, `throughput`,
 * `workers`): everything else is identical for two `--runs` campaigns with the same seed.
 */
import type { OperationCount } from '../contract';
import type { CampaignConfig } from '../campaign/config';
import { neverExercised, operationsNeverRun } from '../campaign/coverage';
import { distinctFailures, type Totals } from '../campaign/fold';
import type { SampleSeries } from '../campaign/samples';
import type { Shard } from '../campaign/seeds';
import type { CampaignState, WorkerFigures } from '../campaign/state';
import type { StopReason } from '../campaign/session';

export const REPORT_FORMAT = 'nested-mm-campaign-report';
export const REPORT_VERSION = 1;
export const REPORT_JSON = 'report.json';
export const REPORT_HTML = 'report.html';

export interface ReportFailure {
  readonly key: string;
  readonly property: string;
  readonly opKind: string;
  readonly violationKind: string;
  /** Runs that hit this failure. */
  readonly count: number;
  /** Counterexample file relative to the report's directory (null: counted, never shrunk). */
  readonly file: string | null;
  readonly message: string;
}

/** One campaign folded into a merged report. */
export interface MergedSource {
  readonly dir: string;
  readonly seed: number | null;
  readonly shard: Shard | null;
  readonly runs: number;
}

export interface CampaignReport {
  readonly format: typeof REPORT_FORMAT;
  readonly version: typeof REPORT_VERSION;
  /** null for a merge of campaigns with different seeds. */
  readonly seed: number | null;
  /** The campaign options; null for a merge of campaigns with different options. */
  readonly config: CampaignConfig | null;
  readonly modelVersion: string;
  readonly commit: string;
  readonly stopReason: StopReason | 'merged';
  readonly runs: number;
  readonly batches: number;
  readonly operations: { readonly total: number; readonly byKind: Record<string, OperationCount> };
  readonly failures: readonly ReportFailure[];
  readonly coverage: {
    readonly operations: Record<string, OperationCount>;
    readonly transitions: Record<string, Record<string, number>>;
    readonly declared: Record<string, readonly string[]>;
    readonly neverExercised: Record<string, readonly string[]>;
    readonly operationsNeverRun: readonly string[];
  };
  /** Properties checked (inventory minus focus), for JUnit and the summary. */
  readonly properties: readonly string[];
  readonly merged: readonly MergedSource[];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly elapsedMs: number;
  readonly throughput: SampleSeries;
  readonly workers: readonly WorkerFigures[];
}

export interface ReportMeta {
  readonly seed: number | null;
  readonly config: CampaignConfig | null;
  readonly modelVersion: string;
  readonly commit: string;
  readonly stopReason: StopReason | 'merged';
  readonly properties: readonly string[];
  readonly operationKinds: readonly string[];
  readonly merged: readonly MergedSource[];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly elapsedMs: number;
  readonly throughput: SampleSeries;
  readonly workers: readonly WorkerFigures[];
}

/** Builds the report from folded totals. Sorted keys everywhere so equal totals give equal JSON. */
export function buildReport(totals: Totals, meta: ReportMeta): CampaignReport {
  const byKind = sortRecord(totals.coverage.operations);
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    seed: meta.seed,
    config: meta.config,
    modelVersion: meta.modelVersion,
    commit: meta.commit,
    stopReason: meta.stopReason,
    runs: totals.runs,
    batches: totals.batches,
    operations: { total: totals.operations, byKind },
    failures: distinctFailures(totals).map((f) => ({
      key: f.key,
      property: f.property,
      opKind: f.opKind,
      violationKind: f.violationKind,
      count: f.count,
      file: f.file,
      message: f.message,
    })),
    coverage: {
      operations: byKind,
      transitions: sortRecord(Object.fromEntries(Object.entries(totals.coverage.transitions).map(([m, t]) => [m, sortRecord(t)]))),
      declared: sortRecord(totals.coverage.declared),
      neverExercised: neverExercised(totals.coverage),
      operationsNeverRun: operationsNeverRun(totals.coverage, meta.operationKinds),
    },
    properties: [...meta.properties].sort(),
    merged: meta.merged,
    startedAt: meta.startedAt,
    finishedAt: meta.finishedAt,
    elapsedMs: meta.elapsedMs,
    throughput: meta.throughput,
    workers: meta.workers,
  };
}

/** Report of a campaign from its state. */
export function reportFromState(
  state: CampaignState,
  extra: { stopReason: StopReason; properties: readonly string[]; operationKinds: readonly string[]; finishedAt: string },
): CampaignReport {
  return buildReport(state.totals, {
    seed: state.config.seed,
    config: state.config,
    modelVersion: state.modelVersion,
    commit: state.commit,
    stopReason: extra.stopReason,
    properties: extra.properties,
    operationKinds: extra.operationKinds,
    merged: [],
    startedAt: state.startedAt,
    finishedAt: extra.finishedAt,
    elapsedMs: state.elapsedMs,
    throughput: state.throughput,
    workers: state.workers,
  });
}

function sortRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]]));
}

/** The timing-dependent fields, for comparisons of reproducible campaigns. */
export const TIMING_FIELDS = ['startedAt', 'finishedAt', 'elapsedMs', 'throughput', 'workers'] as const;
