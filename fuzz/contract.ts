/**
 * The contract between the model's engine (generation, execution, checking, shrinking:
 * fuzz/engine.ts) and the campaign machinery around it (CLI, workers, counterexample files,
 * replay, reports). Everything crossing this line is plain JSON data.
 */
import type { GuestConfig } from '../model/config';
import type { Violation } from '../properties/violation';

export type { Violation };

export const COUNTEREXAMPLE_FORMAT = 'nested-mm-counterexample';
export const COUNTEREXAMPLE_VERSION = 1;

/** One operation of a trace: a registered kind and its arguments (numbers, booleans, strings). */
export interface Operation {
  readonly kind: string;
  readonly args: Readonly<Record<string, number | boolean | string>>;
}

/** Per-guest shape chosen by the swarm (model/config.ts). */
export type { GuestConfig };

/**
 * The initial configuration of a run: everything the seed chose (swarm testing). Printed with
 * every failure and stored in every counterexample.
 */
export interface SwarmConfig {
  /** Host physical frames (4 KiB), a power of two, 2^12..2^24. */
  readonly hostFrames: number;
  readonly guests: readonly GuestConfig[];
  /** Operation kind -> weight; 0 or absent means the kind is off in this run. */
  readonly weights: Readonly<Record<string, number>>;
  /** Mechanism-specific switches (features negotiated, limits); JSON scalars only. */
  readonly options: Readonly<Record<string, number | boolean | string>>;
}

/** How a counterexample was found: enough to find it again with the same commit. */
export interface Origin {
  readonly seed: number;
  /** fast-check's path to the failing run ("" when found by replay or corpus). */
  readonly path: string;
  readonly fastCheckVersion: string;
  readonly commit: string;
  readonly modelVersion: string;
  /** ISO date. Campaign-level metadata, never read by the model. */
  readonly date: string;
}

export interface Counterexample {
  readonly format: typeof COUNTEREXAMPLE_FORMAT;
  readonly version: typeof COUNTEREXAMPLE_VERSION;
  readonly config: SwarmConfig;
  /** Fault names injected when it was found (see `npm run fuzz -- --list`). */
  readonly faults: readonly string[];
  /** The shrunk trace; replays without the generators. */
  readonly operations: readonly Operation[];
  readonly violation: Violation;
  readonly origin: Origin;
}

/** Counts of one operation kind over a run or campaign. */
export interface OperationCount {
  ran: number;
  ok: number;
  refused: number;
}

/**
 * Coverage of the model: operations by kind and, per mechanism, the transitions of its state
 * machines ("from->to"). `declared` lists every transition a mechanism can take, so a
 * transition with no count is one never exercised.
 */
export interface Coverage {
  operations: Record<string, OperationCount>;
  transitions: Record<string, Record<string, number>>;
  declared: Record<string, readonly string[]>;
}

export interface InventoryOperation {
  readonly name: string;
  readonly mechanism: string;
}
export interface InventoryProperty {
  readonly name: string;
  readonly mechanism: string;
  readonly kind: 'safety' | 'liveness';
}
export interface InventoryFault {
  readonly name: string;
  readonly mechanism: string;
  readonly breaks: readonly string[];
  readonly reproduces: string;
}
export interface Inventory {
  readonly operations: readonly InventoryOperation[];
  readonly properties: readonly InventoryProperty[];
  readonly faults: readonly InventoryFault[];
}

export interface BatchRequest {
  /** Seed of this batch; the same request gives the same result, byte for byte. */
  readonly seed: number;
  /** fast-check runs in this batch. */
  readonly runs: number;
  readonly faults: readonly string[];
  /** Focus: only these mechanisms' operations are generated (empty: all). */
  readonly mechanisms: readonly string[];
  /** Focus: only these properties are checked (empty: all). */
  readonly properties: readonly string[];
  /** Failure keys (see failureKey) already found: such failures are counted, not shrunk. */
  readonly knownKeys: readonly string[];
  /** Stop at the first failure and leave it unshrunk (tests that only ask whether something is found). */
  readonly firstFailure?: boolean;
}

export interface FoundFailure {
  readonly key: string;
  /** Shrunk counterexample; absent when the key was already known (only counted). */
  readonly counterexample?: Counterexample;
}

export interface BatchResult {
  readonly runs: number;
  readonly operations: number;
  readonly failures: readonly FoundFailure[];
  readonly coverage: Coverage;
}

/** What one replayed step did, for `replay --verbose` and reports. */
export interface StepReport {
  readonly step: number;
  readonly operation: Operation;
  /** "ok" or the typed error the model returned (a refused operation changes nothing). */
  readonly outcome: string;
  /** Human-readable changes: frames that changed owner, mappings, TLB entries, counters. */
  readonly changes: readonly string[];
  readonly violations: readonly Violation[];
}

export interface ReplayResult {
  /** The first violation seen, or null when the trace now passes. */
  readonly violation: Violation | null;
  readonly steps: readonly StepReport[];
  /** A picture of memory at the last step run (host frames by owner, guest mappings). */
  readonly snapshot: MemorySnapshot;
}

export interface MemorySnapshot {
  readonly hostFrames: number;
  /** Runs of host frames with one owner label: [start frame, count, owner label]. */
  readonly hostRuns: readonly (readonly [number, number, string])[];
  /** Per guest: gfn -> hfn for the backed gfns, and the processes' mappings (va page -> gfn). */
  readonly guests: readonly {
    readonly id: number;
    readonly backed: readonly (readonly [number, number])[];
    readonly mappings: readonly { readonly pid: number; readonly vpn: number; readonly gfn: number }[];
  }[];
}

/** Fold key of a failure: (property, operation kind at the failing step, violation kind). */
export function failureKey(property: string, operationKind: string, violationKind: string): string {
  return `${property}|${operationKind}|${violationKind}`;
}
