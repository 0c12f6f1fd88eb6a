/**
 * Deterministic scenarios for tests: a small machine, a list of operations (some computed from
 * the state reached so far), each step checked incrementally; what each step reported and the
 * final state. Used by the scenario tests of injected faults (FaultDef.scenario): the same
 * steps must break the fault's property with the fault and pass without it.
 */
import type { GuestConfig, ModelConfig } from '../../model/config';
import type { World } from '../../model/world';
import type { OpResult } from '../../model/result';
import type { Operation } from '../contract';
import { Runner } from '../run';
import type { Violation } from '../../properties/violation';

export type Step = Operation | ((w: World) => Operation);

export interface ScenarioResult {
  readonly world: World;
  readonly results: OpResult[];
  /** Every violation of every step (not only the first), then those of the end of the run. */
  readonly violations: Violation[];
}

export const SMALL_GUEST: GuestConfig = { frames: 4096, guestLevels: 4, eptLevels: 4, hugePages: false };

export function machine(options: Record<string, number | boolean | string>, faults: readonly string[] = [], guests = 1): ModelConfig {
  return { hostFrames: 2 ** 14, guests: Array.from({ length: guests }, () => SMALL_GUEST), faults, options };
}

/** Run the steps, checking each; `finish`: also the end-of-run checks, settle and teardown. */
export function scenario(config: ModelConfig, steps: readonly Step[], finish = false): ScenarioResult {
  const results: OpResult[] = [];
  const r = new Runner(config, { check: 'incremental', onStep: (_step, _op, result) => results.push(result) });
  const violations: Violation[] = [];
  for (const s of steps) violations.push(...r.apply(typeof s === 'function' ? s(r.world) : s));
  if (finish && !r.violation) {
    const v = r.finish();
    if (v) violations.push(v);
  }
  return { world: r.world, results, violations };
}

/** "property|kind" of every violation, without duplicates. */
export function kinds(r: ScenarioResult): string[] {
  return [...new Set(r.violations.map((v) => `${v.property}|${v.kind}`))];
}

export const op = (kind: string, args: Operation['args']): Operation => ({ kind, args });
