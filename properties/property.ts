/**
 * A property: a named predicate over the model that reports what broke. Each has two entry
 * points that must agree after every step: `checkStep` looks only at what the step touched
 * (the journal), `checkAll` re-scans everything. The harness runs checkStep after every step
 * and checkAll at the end of every run; the benchmark's naive checker runs checkAll after
 * every step, and a test requires both to report the same violations at the same steps.
 */
import type { Journal } from '../model/journal';
import type { OpResult } from '../model/result';
import type { Args } from '../model/ops/operation';
import type { World } from '../model/world';
import type { Oracle } from './oracle';
import type { Reporter } from './violation';

export interface StepContext {
  readonly world: World;
  readonly journal: Journal;
  readonly oracle: Oracle;
  /** The operation just applied and what it returned (null for the initial state). */
  readonly op: { readonly kind: string; readonly args: Args } | null;
  readonly result: OpResult | null;
}

export interface Property {
  readonly name: string;
  readonly mechanism: string;
  readonly kind: 'safety' | 'liveness';
  readonly description: string;
  checkStep(ctx: StepContext, r: Reporter): void;
  checkAll(ctx: StepContext, r: Reporter): void;
  /** Liveness: checked once the settle phase has run every pending protocol to its end. */
  settled?(ctx: StepContext, r: Reporter): void;
  /** Liveness: checked after every guest has been destroyed. */
  afterTeardown?(ctx: StepContext, r: Reporter): void;
}
