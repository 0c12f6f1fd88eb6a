/**
 * Executing a trace: build the world from the configuration, apply each operation, keep the
 * oracle in step, run the properties after every step (incrementally, or in full for the
 * naive checker), a full check at the end of the run, then the fault-free settle phase and the
 * liveness checks. The same trace on the same configuration gives the same result, byte for
 * byte: nothing here reads a clock or a random source.
 */
import type { ModelConfig } from '../model/config';
import { createWorld, operationNamed, settleAll, teardownAll } from '../model/registry';
import type { World } from '../model/world';
import { isRefusal, type OpResult } from '../model/result';
import { Oracle } from '../properties/oracle';
import { oracleEffects, properties } from '../properties';
import type { Property, StepContext } from '../properties/property';
import { ViolationList, type Violation } from '../properties/violation';
import type { Operation } from './contract';

export type CheckMode = 'incremental' | 'full' | 'none';

export interface RunOptions {
  readonly check: CheckMode;
  /** Only these properties (empty or absent: all). */
  readonly properties?: ReadonlySet<string>;
  /** Collect human-readable changes per step (replay). */
  readonly verbose?: boolean;
  /** Run the settle phase and liveness checks after the last operation. */
  readonly settle?: boolean;
  /** Called after each step (replay, coverage). */
  readonly onStep?: (step: number, op: Operation, result: OpResult, changes: readonly string[], violations: readonly Violation[]) => void;
}

export interface RunResult {
  readonly violation: Violation | null;
  /** Operations applied (up to and including the failing one). */
  readonly steps: number;
  readonly world: World | null;
  /** Refused operations by kind, and successful ones, for coverage. */
  readonly outcomes: readonly boolean[];
}

function selected(opts: RunOptions): Property[] {
  const only = opts.properties;
  return only && only.size > 0 ? properties.filter((p) => only.has(p.name)) : [...properties];
}

/** A stepwise runner, so generators can look at the state between operations. */
export class Runner {
  readonly world: World;
  readonly oracle = new Oracle(oracleEffects);
  private readonly props: Property[];
  readonly outcomes: boolean[] = [];
  violation: Violation | null = null;
  step = 0;

  constructor(config: ModelConfig, private readonly opts: RunOptions) {
    const w = createWorld(config);
    if (isRefusal(w)) throw new RangeError(`impossible configuration: ${w.detail}`);
    this.world = w;
    this.props = selected(opts);
    if (opts.verbose) w.journal.changes = [];
  }

  /** Apply one operation and check; returns the violations this step produced. */
  apply(op: Operation): Violation[] {
    const w = this.world;
    w.step = this.step;
    const def = operationNamed(op.kind);
    const result: OpResult = def ? def.apply(w, op.args) : { ok: false, error: 'invalid', detail: `unknown operation ${op.kind}` };
    this.outcomes.push(result.ok);
    this.oracle.apply(op.kind, op.args, result);
    const list = new ViolationList(this.step);
    const ctx: StepContext = { world: w, journal: w.journal, oracle: this.oracle, op, result };
    if (this.opts.check === 'incremental') for (const p of this.props) p.checkStep(ctx, list);
    else if (this.opts.check === 'full') for (const p of this.props) p.checkAll(ctx, list);
    const changes = w.journal.changes ?? [];
    this.opts.onStep?.(this.step, op, result, changes, list.violations);
    w.journal.clear();
    if (list.violations.length > 0 && !this.violation) this.violation = list.violations[0]!;
    this.step++;
    return list.violations;
  }

  /** End of the random phase: a full check, then settle and the liveness checks. */
  finish(): Violation | null {
    if (this.violation || this.opts.check === 'none') return this.violation;
    const w = this.world;
    const list = new ViolationList(this.step);
    const ctx: StepContext = { world: w, journal: w.journal, oracle: this.oracle, op: null, result: null };
    for (const p of this.props) p.checkAll(ctx, list);
    if (list.violations.length === 0 && this.opts.settle !== false) {
      settleAll(w);
      for (const p of this.props) p.settled?.(ctx, list);
      if (list.violations.length === 0) {
        teardownAll(w);
        for (const p of this.props) p.afterTeardown?.(ctx, list);
      }
    }
    w.journal.clear();
    this.violation = list.violations[0] ?? null;
    return this.violation;
  }
}

export function runTrace(config: ModelConfig, ops: readonly Operation[], opts: RunOptions): RunResult {
  const r = new Runner(config, opts);
  for (const op of ops) {
    r.apply(op);
    if (r.violation) return { violation: r.violation, steps: r.step, world: r.world, outcomes: r.outcomes };
  }
  const v = r.finish();
  return { violation: v, steps: r.step, world: r.world, outcomes: r.outcomes };
}
