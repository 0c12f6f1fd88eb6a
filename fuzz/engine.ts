/**
 * The engine behind campaigns, replay and tests: fast-check generates a swarm configuration
 * and a list of choices per run; the choices are turned into operations against the live
 * state (fuzz/generate.ts); the runner checks every property after every step. A failure is
 * shrunk twice: by fast-check over the choices, then over the concrete operations (removing
 * chunks while the same property breaks the same way), so the counterexample replays without
 * the generators.
 */
import fc from 'fast-check';
import type { ModelConfig } from '../model/config';
import { declaredTransitions, faults as faultDefs, operationNamed, operations } from '../model/registry';
import { checkArgs } from '../model/ops/operation';
import { describeOwner } from '../model/host/frames';
import type { World } from '../model/world';
import { properties } from '../properties';
import type { Violation } from '../properties/violation';
import {
  COUNTEREXAMPLE_FORMAT, COUNTEREXAMPLE_VERSION, failureKey,
  type BatchRequest, type BatchResult, type Counterexample, type Coverage, type FoundFailure, type Inventory,
  type MemorySnapshot, type Operation, type ReplayResult, type StepReport, type SwarmConfig,
} from './contract';
import { generate, KindTable, type Choice } from './generate';
import { Runner, runTrace } from './run';
import { swarmArb } from './swarm';
import { foldChanges } from './changes';

export const MODEL_VERSION = '0.1.0';
/** Operations per run at most. */
export const STEPS_MAX = 120;
/** Concrete-trace shrinking: replays at most. */
export const SHRINK_REPLAYS_MAX = 400;

const FAST_CHECK_VERSION: string = (fc as unknown as { __version: string }).__version ?? 'unknown';

export function inventory(): Inventory {
  return {
    operations: operations.map((o) => ({ name: o.name, mechanism: o.mechanism })),
    properties: properties.map((p) => ({ name: p.name, mechanism: p.mechanism, kind: p.kind })),
    faults: faultDefs.map((f) => ({ name: f.name, mechanism: f.mechanism, breaks: f.breaks, reproduces: f.reproduces })),
  };
}

export function validateOperation(op: Operation): string | null {
  const def = operationNamed(op.kind);
  if (!def) return `unknown operation "${op.kind}"`;
  return checkArgs(def, op.args);
}

export function defaultCampaignConfig(): { faults: string[] } {
  return { faults: [] };
}

export function modelConfigOf(c: SwarmConfig, faults: readonly string[]): ModelConfig {
  return { hostFrames: c.hostFrames, guests: c.guests, faults, options: c.options };
}

export interface Sample {
  readonly config: SwarmConfig;
  readonly choices: readonly Choice[];
}

/**
 * One run: a swarm configuration over `mechanisms` (empty: all) and its choices. A `front`
 * mechanism is always on and at the front (swarmArb); `machine` options replace the drawn ones.
 */
export function sampleArb(mechanisms: readonly string[], front?: string, machine?: SwarmConfig['options']): fc.Arbitrary<Sample> {
  const config = swarmArb(mechanisms, front);
  return fc.record({
    config: machine ? config.map((c) => ({ ...c, options: { ...c.options, ...machine } })) : config,
    choices: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: STEPS_MAX, size: 'max' }),
  });
}

export function emptyCoverage(): Coverage {
  return { operations: {}, transitions: {}, declared: { ...declaredTransitions } };
}

function addCoverage(cov: Coverage, ops: readonly Operation[], outcomes: readonly boolean[], w: World): void {
  ops.forEach((op, i) => {
    const c = (cov.operations[op.kind] ??= { ran: 0, ok: 0, refused: 0 });
    if (i >= outcomes.length) return;
    c.ran++;
    if (outcomes[i]) c.ok++;
    else c.refused++;
  });
  for (const [mech, m] of w.transitions) {
    const t = (cov.transitions[mech] ??= {});
    for (const [k, n] of m) t[k] = (t[k] ?? 0) + n;
  }
}

/** Generate the operations of one run from its choices, applying them as they are made. */
export function generateAndRun(s: Sample, faults: readonly string[], only: ReadonlySet<string>, cov?: Coverage): { violation: Violation | null; ops: Operation[] } {
  const r = new Runner(modelConfigOf(s.config, faults), { check: 'incremental', properties: only });
  const table = new KindTable(s.config.weights);
  const ops: Operation[] = [];
  for (const c of s.choices) {
    const op = generate(r.world, table, c);
    ops.push(op);
    r.apply(op);
    if (r.violation) break;
  }
  const v = r.violation ?? r.finish();
  if (cov) addCoverage(cov, ops, r.outcomes, r.world);
  return { violation: v, ops };
}

function sameFailure(a: Violation | null, b: Violation): boolean {
  return a !== null && a.property === b.property && a.kind === b.kind;
}

/**
 * Shrink a concrete trace while the same property still breaks the same way, without the
 * generators (so the result replays anywhere): remove chunks of operations (halving the chunk
 * size down to one), then lower each numeric argument value across the whole trace at once
 * (so a pid or guest renumbering stays consistent), and repeat while either pass helps.
 * Bounded by SHRINK_REPLAYS_MAX replays.
 */
export function shrinkOperations(config: ModelConfig, ops: readonly Operation[], target: Violation, only: ReadonlySet<string>): { ops: Operation[]; violation: Violation } {
  let best = [...ops];
  let bestV = target;
  let replays = 0;
  const attempt = (candidate: Operation[]): boolean => {
    if (replays >= SHRINK_REPLAYS_MAX) return false;
    // A substituted or lowered value must stay inside its argument's declared range, or the
    // written counterexample would not validate on replay (e.g. pid 0).
    if (candidate.some((op) => validateOperation(op) !== null)) return false;
    replays++;
    const r = runTrace(config, candidate, { check: 'incremental', properties: only });
    if (!sameFailure(r.violation, target)) return false;
    best = candidate.slice(0, r.steps);
    bestV = r.violation!;
    return true;
  };
  for (let round = 0; round < 4; round++) {
    const before = best.length;
    const beforeWeight = traceWeight(best);
    for (let chunk = Math.max(1, Math.floor(best.length / 2)); chunk >= 1; chunk = Math.floor(chunk / 2))
      for (let i = 0; i < best.length; ) if (!attempt(best.slice(0, i).concat(best.slice(i + chunk)))) i += chunk;
    for (const [arg, value] of numericArgs(best))
      for (const smaller of [0, 1, Math.floor(value / 2), value - 1])
        if (smaller < value && attempt(substitute(best, arg, value, smaller))) break;
    if (best.length === before && traceWeight(best) === beforeWeight) break;
  }
  return { ops: best, violation: bestV };
}

/** Distinct (argument name, value) pairs of the trace, largest values first. */
function numericArgs(ops: readonly Operation[]): [string, number][] {
  const seen = new Map<string, [string, number]>();
  for (const op of ops)
    for (const [k, v] of Object.entries(op.args)) if (typeof v === 'number' && v > 0) seen.set(`${k}=${v}`, [k, v]);
  return [...seen.values()].sort((a, b) => b[1] - a[1]);
}

function substitute(ops: readonly Operation[], arg: string, from: number, to: number): Operation[] {
  return ops.map((op) => (op.args[arg] === from ? { kind: op.kind, args: { ...op.args, [arg]: to } } : op));
}

function traceWeight(ops: readonly Operation[]): number {
  let sum = 0;
  for (const op of ops) for (const v of Object.values(op.args)) if (typeof v === 'number') sum += v;
  return sum;
}

function opKindAt(ops: readonly Operation[], step: number): string {
  return ops[step]?.kind ?? 'settle';
}

export function runBatch(req: BatchRequest): BatchResult {
  const only = new Set(req.properties);
  const known = new Set(req.knownKeys);
  const cov = emptyCoverage();
  const failures: FoundFailure[] = [];
  let remaining = req.runs;
  let runs = 0;
  let operationsRun = 0;
  for (let attempt = 0; remaining > 0; attempt++) {
    let done = 0;
    let failed = false;
    const seed = (req.seed + attempt * 0x9e3779b1) | 0;
    const prop = fc.property(sampleArb(req.mechanisms), (s) => {
      const r = generateAndRun(s, req.faults, only, failed ? undefined : cov);
      if (!failed) {
        done++;
        operationsRun += r.ops.length;
      }
      if (r.violation) failed = true;
      return r.violation === null;
    });
    // fast-check's own shrinking replays whole runs per candidate; the bounded concrete
    // shrinker below does better on operation lists, so fast-check stops at the failure.
    const out = fc.check(prop, { seed, numRuns: remaining, endOnFailure: true });
    runs += done;
    remaining -= Math.max(done, 1);
    if (!out.failed || !out.counterexample) continue;
    const sample = out.counterexample[0];
    const again = generateAndRun(sample, req.faults, only);
    if (!again.violation) continue;
    const key = failureKey(again.violation.property, opKindAt(again.ops, again.violation.step), again.violation.kind);
    if (req.firstFailure) {
      failures.push({ key });
      break;
    }
    if (known.has(key)) {
      failures.push({ key });
      continue;
    }
    known.add(key);
    const mc = modelConfigOf(sample.config, req.faults);
    const shrunk = shrinkOperations(mc, again.ops.slice(0, again.violation.step + 1), again.violation, only);
    failures.push({
      key,
      counterexample: {
        format: COUNTEREXAMPLE_FORMAT,
        version: COUNTEREXAMPLE_VERSION,
        config: sample.config,
        faults: [...req.faults],
        operations: shrunk.ops,
        violation: shrunk.violation,
        origin: { seed, path: out.counterexamplePath ?? '', fastCheckVersion: FAST_CHECK_VERSION, commit: 'unknown', modelVersion: MODEL_VERSION, date: '' },
      },
    });
  }
  return { runs, operations: operationsRun, failures, coverage: cov };
}

export function snapshotOf(w: World): MemorySnapshot {
  const runs: [number, number, string][] = [];
  const owned = [...w.frames.ownedFrames()].sort((a, b) => a[0] - b[0]);
  for (const [hfn, rec] of owned) {
    const label = describeOwner(rec.owner).replace(/ gfn 0x[0-9a-f]+$/, ' memory');
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === hfn && last[2] === label) last[1]++;
    else runs.push([hfn, 1, label]);
  }
  return {
    hostFrames: w.config.hostFrames,
    hostRuns: runs,
    guests: w.guests.map((g) => {
      const mappings: { pid: number; vpn: number; gfn: number }[] = [];
      for (const gfn of g.owners.keys()) {
        const o = g.owners.get(gfn)!;
        if (o.kind === 'anon') mappings.push({ pid: o.pid, vpn: o.vpn, gfn });
      }
      return { id: g.id, backed: [...g.backing].sort((a, b) => a[0] - b[0]), mappings: mappings.sort((a, b) => a.pid - b.pid || a.vpn - b.vpn) };
    }),
  };
}

export function replay(cx: Counterexample, opts: { faults: readonly string[] }): ReplayResult {
  const steps: StepReport[] = [];
  const r = new Runner(modelConfigOf(cx.config, opts.faults), {
    check: 'incremental',
    verbose: true,
    onStep: (step, op, result, changes, violations) =>
      steps.push({ step, operation: op, outcome: result.ok ? 'ok' : `${result.error}: ${result.detail}`, changes: foldChanges(changes), violations: [...violations] }),
  });
  for (const op of cx.operations) {
    r.apply(op);
    if (r.violation) break;
  }
  const v = r.violation ?? r.finish();
  return { violation: v, steps, snapshot: snapshotOf(r.world) };
}
