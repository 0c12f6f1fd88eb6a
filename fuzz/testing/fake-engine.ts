/**
 * A small, deterministic stand-in for fuzz/engine.ts (test double only). It has the engine's
 * exact signatures, so the campaign machinery can be tested end to end before, and
 * independently of, the real model: three mechanisms, a handful of operations, four properties
 * and three faults, each fault failing deterministically on particular operations.
 *
 * The module exports one default instance (so `loadEngine('<this file>')` works in spawned CLIs
 * and workers); `createFakeEngine` builds variants for tests (slow batches, odd names).
 */
import {
  COUNTEREXAMPLE_FORMAT,
  COUNTEREXAMPLE_VERSION,
  failureKey,
  type BatchRequest,
  type BatchResult,
  type Counterexample,
  type Coverage,
  type FoundFailure,
  type Inventory,
  type MemorySnapshot,
  type Operation,
  type ReplayResult,
  type StepReport,
  type SwarmConfig,
  type Violation,
} from '../contract';
import type { Engine } from '../campaign/engine-port';

export const FAKE_MODEL_VERSION = 'fake-1';

/** Argument ranges of each operation kind: [min, max] inclusive integers. */
const OPS: Record<string, { mechanism: string; args: Record<string, readonly [number, number]> }> = {
  'buddy.alloc': { mechanism: 'buddy', args: { order: [0, 10] } },
  'buddy.free': { mechanism: 'buddy', args: { frame: [0, 4095] } },
  'balloon.inflate': { mechanism: 'balloon', args: { pages: [1, 512] } },
  'balloon.deflate': { mechanism: 'balloon', args: { pages: [1, 512] } },
  'mmu.map': { mechanism: 'mmu', args: { vpn: [0, 1023], gfn: [0, 1023] } },
  'mmu.unmap': { mechanism: 'mmu', args: { vpn: [0, 1023] } },
  'mmu.flush': { mechanism: 'mmu', args: {} },
};

/** Declared transitions per mechanism; `free->isolated`, `isolated->free` are never taken. */
const DECLARED: Record<string, readonly string[]> = {
  buddy: ['free->allocated', 'allocated->free', 'free->isolated', 'isolated->free'],
  balloon: ['guest->ballooned', 'ballooned->guest'],
  mmu: ['unmapped->mapped', 'mapped->unmapped'],
};

export interface FakeEngineOptions {
  /** Busy time per batch, so tests can kill a campaign mid-way. */
  readonly batchDelayMs?: number;
  /** Overrides the name of the buddy safety property (HTML escaping tests). */
  readonly buddyPropertyName?: string;
}

/** mulberry32: a tiny seeded generator; the fake never touches Math.random. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function createFakeEngine(options: FakeEngineOptions = {}): Engine {
  const buddyProperty = options.buddyPropertyName ?? 'buddy.no-overlap';

  const inventory = (): Inventory => ({
    operations: Object.entries(OPS).map(([name, o]) => ({ name, mechanism: o.mechanism })),
    properties: [
      { name: buddyProperty, mechanism: 'buddy', kind: 'safety' },
      { name: 'balloon.accounting', mechanism: 'balloon', kind: 'safety' },
      { name: 'mmu.tlb-coherent', mechanism: 'mmu', kind: 'safety' },
      { name: 'balloon.converges', mechanism: 'balloon', kind: 'liveness' },
    ],
    faults: [
      { name: 'buddy-double-merge', mechanism: 'buddy', breaks: [buddyProperty], reproduces: 'merge ignores isolation' },
      { name: 'balloon-leak', mechanism: 'balloon', breaks: ['balloon.accounting'], reproduces: 'deflate forgets pages' },
      { name: 'tlb-skip-flush', mechanism: 'mmu', breaks: ['mmu.tlb-coherent'], reproduces: 'unmap skips the flush' },
    ],
  });

  const validateOperation = (op: Operation): string | null => {
    const spec = OPS[op.kind];
    if (!spec) return `unknown operation kind "${op.kind}"`;
    for (const name of Object.keys(op.args)) if (!(name in spec.args)) return `${op.kind}: unknown argument "${name}"`;
    for (const [name, [min, max]] of Object.entries(spec.args)) {
      const v = op.args[name];
      if (typeof v !== 'number' || !Number.isInteger(v)) return `${op.kind}: argument "${name}" must be an integer`;
      if (v < min || v > max) return `${op.kind}: argument "${name}" = ${v} is outside ${min}..${max}`;
    }
    return null;
  };

  /** The fault's bug: which operations, under which faults, break which property. */
  const faultViolation = (op: Operation, faults: readonly string[], step: number): Violation | null => {
    const a = op.args as Record<string, number>;
    if (faults.includes('buddy-double-merge') && op.kind === 'buddy.free' && a.frame % 8 === 0)
      return { property: buddyProperty, kind: 'overlap', step, subject: `hfn ${a.frame}`, message: 'freed block overlaps a free block', expected: 'disjoint free blocks', actual: `hfn ${a.frame} in two blocks` };
    if (faults.includes('buddy-double-merge') && op.kind === 'buddy.alloc' && a.order >= 9)
      return { property: buddyProperty, kind: 'merged-across-isolation', step, subject: `order ${a.order}`, message: 'block merged across an isolated pageblock', expected: 'no merge', actual: 'merged' };
    if (faults.includes('balloon-leak') && op.kind === 'balloon.deflate' && a.pages > 200)
      return { property: 'balloon.accounting', kind: 'leak', step, subject: 'balloon', message: 'deflated pages not returned', expected: `${a.pages} pages returned`, actual: '0 pages returned' };
    if (faults.includes('tlb-skip-flush') && op.kind === 'mmu.unmap')
      return { property: 'mmu.tlb-coherent', kind: 'stale-tlb-entry', step, subject: `va page ${a.vpn}`, message: 'TLB still maps an unmapped page', expected: 'no translation', actual: 'stale translation' };
    return null;
  };

  const emptyCoverage = (): Coverage => ({
    operations: {},
    transitions: { buddy: {}, balloon: {}, mmu: {} },
    declared: { ...DECLARED },
  });

  const bump = (rec: Record<string, number>, key: string) => {
    rec[key] = (rec[key] ?? 0) + 1;
  };

  /** Executes one operation on a tiny state; returns its outcome and changes. */
  const execute = (state: { ballooned: number; allocated: Set<number>; mapped: Set<number> }, op: Operation, cov: Coverage) => {
    const a = op.args as Record<string, number>;
    const opCount = (cov.operations[op.kind] ??= { ran: 0, ok: 0, refused: 0 });
    opCount.ran++;
    let outcome = 'ok';
    const changes: string[] = [];
    switch (op.kind) {
      case 'buddy.alloc': {
        const frame = (1 << a.order) % 4096;
        state.allocated.add(frame);
        bump(cov.transitions.buddy, 'free->allocated');
        changes.push(`hfn ${frame}: free -> allocated (order ${a.order})`);
        break;
      }
      case 'buddy.free':
        if (!state.allocated.has(a.frame) && a.frame % 8 !== 0) outcome = 'EINVAL';
        else {
          state.allocated.delete(a.frame);
          bump(cov.transitions.buddy, 'allocated->free');
          changes.push(`hfn ${a.frame}: allocated -> free`);
        }
        break;
      case 'balloon.inflate':
        state.ballooned += a.pages;
        bump(cov.transitions.balloon, 'guest->ballooned');
        changes.push(`balloon: +${a.pages} pages (${state.ballooned})`);
        break;
      case 'balloon.deflate':
        if (state.ballooned < a.pages && a.pages <= 200) outcome = 'ENOMEM';
        else {
          state.ballooned = Math.max(0, state.ballooned - a.pages);
          bump(cov.transitions.balloon, 'ballooned->guest');
          changes.push(`balloon: -${a.pages} pages (${state.ballooned})`);
        }
        break;
      case 'mmu.map':
        state.mapped.add(a.vpn);
        bump(cov.transitions.mmu, 'unmapped->mapped');
        changes.push(`va page ${a.vpn} -> gfn ${a.gfn}`);
        break;
      case 'mmu.unmap':
        state.mapped.delete(a.vpn);
        bump(cov.transitions.mmu, 'mapped->unmapped');
        changes.push(`va page ${a.vpn} unmapped`);
        break;
      default:
        break;
    }
    if (outcome === 'ok') opCount.ok++;
    else opCount.refused++;
    return { outcome, changes };
  };

  const newState = () => ({ ballooned: 0, allocated: new Set<number>(), mapped: new Set<number>() });

  const generate = (next: () => number, mechanisms: readonly string[]): { config: SwarmConfig; operations: Operation[] } => {
    const kinds = Object.keys(OPS).filter((k) => mechanisms.length === 0 || mechanisms.includes(OPS[k].mechanism));
    const weights: Record<string, number> = {};
    for (const k of kinds) weights[k] = 1 + Math.floor(next() * 4);
    const config: SwarmConfig = {
      hostFrames: 1 << (12 + Math.floor(next() * 3)),
      guests: [{ frames: 1024, guestLevels: next() < 0.5 ? 4 : 5, eptLevels: 4, hugePages: next() < 0.5 }],
      weights,
      options: { freePageReporting: next() < 0.5 },
    };
    const operations: Operation[] = [];
    const length = 5 + Math.floor(next() * 25);
    for (let i = 0; i < length && kinds.length > 0; i++) {
      const kind = kinds[Math.floor(next() * kinds.length)];
      const args: Record<string, number> = {};
      for (const [name, [min, max]] of Object.entries(OPS[kind].args)) args[name] = min + Math.floor(next() * (max - min + 1));
      operations.push({ kind, args });
    }
    return { config, operations };
  };

  const runBatch = (req: BatchRequest): BatchResult => {
    sleepMs(options.batchDelayMs ?? 0);
    const coverage = emptyCoverage();
    const failures: FoundFailure[] = [];
    const known = new Set(req.knownKeys);
    let operations = 0;
    for (let r = 0; r < req.runs; r++) {
      const next = rng((req.seed ^ Math.imul(r + 1, 0x9e3779b1)) >>> 0);
      const { config, operations: ops } = generate(next, req.mechanisms);
      const state = newState();
      for (let step = 0; step < ops.length; step++) {
        execute(state, ops[step], coverage);
        operations++;
        const v = faultViolation(ops[step], req.faults, step);
        if (v && (req.properties.length === 0 || req.properties.includes(v.property))) {
          const key = failureKey(v.property, ops[step].kind, v.kind);
          if (known.has(key)) failures.push({ key });
          else {
            known.add(key);
            // "Shrinking": the failing operation alone is the minimal trace.
            const counterexample: Counterexample = {
              format: COUNTEREXAMPLE_FORMAT,
              version: COUNTEREXAMPLE_VERSION,
              config,
              faults: [...req.faults],
              operations: [ops[step]],
              violation: { ...v, step: 0 },
              origin: { seed: req.seed, path: `${r}:0`, fastCheckVersion: '4.10.2', commit: 'unknown', modelVersion: FAKE_MODEL_VERSION, date: '1970-01-01T00:00:00.000Z' },
            };
            failures.push({ key, counterexample });
          }
          break;
        }
      }
    }
    return { runs: req.runs, operations, failures, coverage };
  };

  const snapshotOf = (config: SwarmConfig, state: ReturnType<typeof newState>): MemorySnapshot => {
    const allocated = Math.min(config.hostFrames / 4, state.allocated.size * 16);
    const ballooned = Math.min(config.hostFrames / 4, state.ballooned);
    const hostRuns: [number, number, string][] = [[0, 256, 'host']];
    let at = 256;
    if (allocated > 0) hostRuns.push([at, allocated, 'guest 0']), (at += allocated);
    if (ballooned > 0) hostRuns.push([at, ballooned, 'balloon']), (at += ballooned);
    hostRuns.push([at, config.hostFrames - at, 'free']);
    const mapped = [...state.mapped].sort((x, y) => x - y);
    return {
      hostFrames: config.hostFrames,
      hostRuns,
      guests: [{ id: 0, backed: mapped.map((v) => [v, 256 + v] as const), mappings: mapped.map((vpn) => ({ pid: 1, vpn, gfn: vpn })) }],
    };
  };

  const replay = (cx: Counterexample, opts: { faults: readonly string[] }): ReplayResult => {
    const state = newState();
    const coverage = emptyCoverage();
    const steps: StepReport[] = [];
    let violation: Violation | null = null;
    for (let step = 0; step < cx.operations.length && !violation; step++) {
      const { outcome, changes } = execute(state, cx.operations[step], coverage);
      const v = faultViolation(cx.operations[step], opts.faults, step);
      steps.push({ step, operation: cx.operations[step], outcome, changes, violations: v ? [v] : [] });
      violation = v;
    }
    return { violation, steps, snapshot: snapshotOf(cx.config, state) };
  };

  return {
    inventory,
    runBatch,
    replay,
    validateOperation,
    defaultCampaignConfig: () => ({ faults: [] }),
    MODEL_VERSION: FAKE_MODEL_VERSION,
  };
}

/** Environment knob for spawned CLIs: slows every batch so a test can SIGKILL mid-campaign. */
const defaultEngine = createFakeEngine({ batchDelayMs: Number(process.env.FAKE_ENGINE_BATCH_DELAY_MS ?? 0) });

export const inventory = defaultEngine.inventory;
export const runBatch = defaultEngine.runBatch;
export const replay = defaultEngine.replay;
export const validateOperation = defaultEngine.validateOperation;
export const defaultCampaignConfig = defaultEngine.defaultCampaignConfig;
export const MODEL_VERSION = defaultEngine.MODEL_VERSION;
export const FAKE_ENGINE_PATH = __filename;
