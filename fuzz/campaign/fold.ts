/**
 * Folding batch results into the campaign's running totals. Distinct failures are folded by
 * failureKey (property, operation kind at the failing step, violation kind): each key keeps one
 * counterexample and a hit count.
 *
 * Which counterexample a key keeps is deterministic: the one from the lowest batch index. The
 * orchestrator passes as `knownKeys` of batch k only keys first found in batches below k, so
 * the lowest batch that hits a key always shrinks it, whatever order batches finish in. That is
 * what makes a `--runs` campaign's failure files identical across worker counts.
 */
import type { BatchResult, Counterexample, Coverage } from '../contract';
import { addCoverage, emptyCoverage } from './coverage';
import { FAILURES_DIR, failureFileName, failingOperationKind } from '../counterexample/naming';

export interface FailureRecord {
  readonly key: string;
  readonly property: string;
  readonly opKind: string;
  readonly violationKind: string;
  /** Runs that hit this key. */
  count: number;
  /** Counterexample file, relative to the campaign directory; null if none was ever shrunk. */
  file: string | null;
  /** Batch whose counterexample is kept; -1 for one recovered from disk on resume. */
  firstBatch: number;
  message: string;
}

export interface Totals {
  batches: number;
  runs: number;
  operations: number;
  coverage: Coverage;
  failures: Record<string, FailureRecord>;
}

export function emptyTotals(): Totals {
  return { batches: 0, runs: 0, operations: 0, coverage: emptyCoverage(), failures: {} };
}

/** Keys a batch may treat as known (counted, not shrunk): those first found below batch k. */
export function knownKeysFor(totals: Totals, k: number): string[] {
  return Object.values(totals.failures)
    .filter((f) => f.file !== null && f.firstBatch < k)
    .map((f) => f.key)
    .sort();
}

/** Splits a fold key back into its parts; keys are `property|opKind|violationKind`. */
function splitKey(key: string): { property: string; opKind: string; violationKind: string } {
  const parts = key.split('|');
  const violationKind = parts.pop() ?? '';
  const opKind = parts.pop() ?? '';
  return { property: parts.join('|'), opKind, violationKind };
}

/**
 * Folds batch `k`'s result into `totals` (mutated). Returns the counterexamples that became the
 * kept one for their key: the caller writes them (atomically) before recording the batch done.
 */
export interface KeptCounterexample {
  readonly key: string;
  /** Relative to the campaign directory. */
  readonly file: string;
  readonly counterexample: Counterexample;
}

export function foldBatch(totals: Totals, k: number, result: BatchResult): KeptCounterexample[] {
  totals.batches++;
  totals.runs += result.runs;
  totals.operations += result.operations;
  addCoverage(totals.coverage, result.coverage);
  const toWrite = new Map<string, KeptCounterexample>();
  for (const found of result.failures) {
    let record = totals.failures[found.key];
    const cx = found.counterexample;
    if (!record) {
      const parts = cx
        ? { property: cx.violation.property, opKind: failingOperationKind(cx), violationKind: cx.violation.kind }
        : splitKey(found.key);
      record = { key: found.key, ...parts, count: 0, file: null, firstBatch: Number.MAX_SAFE_INTEGER, message: cx?.violation.message ?? '' };
      totals.failures[found.key] = record;
    }
    record.count++;
    if (cx && (record.file === null || k < record.firstBatch)) {
      record.firstBatch = k;
      record.file = `${FAILURES_DIR}/${failureFileName(found.key)}`;
      record.message = cx.violation.message;
      toWrite.set(found.key, { key: found.key, file: record.file, counterexample: cx });
    }
  }
  return [...toWrite.values()];
}

/** Adds `b` into `a` for merge: counts summed, failures united by key (lowest batch kept). */
export function addTotals(a: Totals, b: Totals): Totals {
  a.batches += b.batches;
  a.runs += b.runs;
  a.operations += b.operations;
  addCoverage(a.coverage, b.coverage);
  for (const f of Object.values(b.failures)) {
    const into = a.failures[f.key];
    if (!into) a.failures[f.key] = { ...f };
    else {
      into.count += f.count;
      if (into.file === null && f.file !== null) Object.assign(into, { file: f.file, firstBatch: f.firstBatch, message: f.message });
    }
  }
  return a;
}

export function distinctFailures(totals: Totals): FailureRecord[] {
  return Object.values(totals.failures).sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}
