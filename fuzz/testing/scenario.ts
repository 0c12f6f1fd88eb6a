/**
 * Deterministic scenarios for tests: a small machine, a list of operations (some computed from
 * the state reached so far), each step checked incrementally; what each step reported and the
 * final state. Used by the scenario tests of injected faults (FaultDef.scenario): the same
 * steps must break the fault's property with the fault and pass without it.
 */
import { MAX_PAGE_ORDER } from '../../model/constants';
import type { GuestConfig, ModelConfig } from '../../model/config';
import type { World } from '../../model/world';
import type { OpResult, RefusalCode } from '../../model/result';
import type { Operation } from '../contract';
import { Runner } from '../run';
import { createWorld } from '../../model/registry';
import { isRefusal } from '../../model/result';
import { spawn } from '../../model/guest/kernel';
import type { Guest } from '../../model/guest/guest';
import type { Process } from '../../model/guest/process';
import type { Violation } from '../../properties/violation';

export type Step = Operation | ((w: World) => Operation);

export interface ScenarioResult {
  readonly world: World;
  readonly results: OpResult[];
  /** Every violation of every step (not only the first), then those of the end of the run. */
  readonly violations: Violation[];
}

export const SMALL_GUEST: GuestConfig = { frames: 4096, guestLevels: 4, eptLevels: 4, hugePages: false };

/**
 * Options for a page-cache test: only the page caches act (cleancache, frontswap and
 * unmapped-page control off), with both cache modes of the host's images.
 */
export const PAGE_CACHE_ONLY: Readonly<Record<string, number | boolean | string>> = { 'cleancache.enabled': false, 'frontswap.enabled': false, 'page-cache.cacheModes': 'mixed', 'unmapped-page-control.limit': -1 };

/** A stepper over one guest with PAGE_CACHE_ONLY's options, `options` on top. */
export function pageCacheStepper(options: Record<string, number | boolean | string> = {}, faults: readonly string[] = []): Stepper {
  return stepper(machine({ ...PAGE_CACHE_ONLY, ...options }, faults));
}

/** `hugePages`: the host backs the guests' memory with 2 MiB pages where it can. */
export function machine(options: Record<string, number | boolean | string>, faults: readonly string[] = [], guests = 1, hugePages = false): ModelConfig {
  const guest = hugePages ? { ...SMALL_GUEST, hugePages } : SMALL_GUEST;
  return { hostFrames: 2 ** 14, guests: Array.from({ length: guests }, () => guest), faults, options };
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

/** What one step reported: a success with its value if it returned one, or a refusal's code (its detail left out). */
export type Outcome = { readonly ok: true; readonly value?: number; readonly error?: undefined } | { readonly ok: false; readonly error: RefusalCode; readonly value?: undefined };

export interface Stepper {
  readonly r: Runner;
  readonly world: World;
  /** Apply one operation (checked incrementally) and return its outcome. */
  apply(kind: string, args: Operation['args']): Outcome;
  /** Every step's result as the operation returned it (a refusal with its detail); a test may empty it. */
  readonly results: OpResult[];
  /** The refusal code of each of `results`, undefined for a success. */
  errors(): (RefusalCode | undefined)[];
  /** "property|kind" of every violation the last `apply` produced. */
  broke(): string[];
}

/**
 * A runner driven one operation at a time, for tests that look at the state between steps:
 * `apply(kind, args)` applies the operation, checks it incrementally and returns its outcome as
 * `{ ok: true }`, `{ ok: true, value }` (only when the operation returned a value) or
 * `{ ok: false, error }` (without the refusal's detail), so a test can compare it with toEqual;
 * `results` keeps each step's full result (`errors()` their refusal codes), `broke()` the last
 * step's violations, and `r` is the runner itself (its first violation, finish()).
 */
export function stepper(config: ModelConfig): Stepper {
  const results: OpResult[] = [];
  const r = new Runner(config, { check: 'incremental', onStep: (_step, _op, result) => results.push(result) });
  let last: Violation[] = [];
  const apply = (kind: string, args: Operation['args']): Outcome => {
    last = r.apply({ kind, args });
    const res = results[results.length - 1]!;
    if (!res.ok) return { ok: false, error: res.error };
    return res.value === undefined ? { ok: true } : { ok: true, value: res.value };
  };
  return {
    r,
    world: r.world,
    apply,
    results,
    errors: () => results.map((x) => (x.ok ? undefined : x.error)),
    broke: () => last.map((v) => `${v.property}|${v.kind}`),
  };
}

export const op = (kind: string, args: Operation['args']): Operation => ({ kind, args });

/** Take host frames (host.kalloc), largest blocks first, until only `leave` are free. */
export function exhaustHost(r: Runner, leave = 0): void {
  for (let order = MAX_PAGE_ORDER; order >= 0; order--) {
    while (r.world.hostBuddy.freePages() - 2 ** order >= leave) {
      const before = r.outcomes.length;
      r.apply({ kind: 'host.kalloc', args: { order, mt: 'MOVABLE' } });
      if (!r.outcomes[before]) break;
    }
  }
  // Not expect(): fuzz/figures/pressure-figures.ts imports this file into the build (npm run
  // fuzz, bench), which has no jest types.
  const free = r.world.hostBuddy.freePages();
  if (free !== leave) throw new Error(`exhaustHost: ${free} host frames free, wanted ${leave}`);
}

/** A bare world (no runner, no checks): one 4096-frame guest, 4-level paging over 4-level EPT, one process; `faults` injected. */
export function oneProcess(hugePages = false, faults: readonly string[] = []): { w: World; g: Guest; p: Process } {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages }], faults });
  if (isRefusal(w)) throw new Error(w.detail);
  const g = w.guests[0]!;
  const pid = spawn(w, g);
  if (!pid.ok) throw new Error(pid.detail);
  return { w, g, p: g.processes.get(pid.value!)! };
}

/** A checked runner on one small guest (with the given faults) with process 1, `pages` pages mapped from `vpn` and each written once. */
export function writtenPages(pages: number, vpn: number, faults: readonly string[] = []): Runner {
  const r = new Runner({ hostFrames: 2 ** 14, guests: [SMALL_GUEST], faults }, { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn, pages, write: true, exec: false, huge: false } });
  for (let i = 0; i < pages; i++) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: vpn + i } });
  if (!r.outcomes.every(Boolean) || r.violation) throw new Error(`writtenPages: setup failed (${r.violation?.property ?? 'a refused step'})`);
  return r;
}
