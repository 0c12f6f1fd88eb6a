/**
 * Shared test helpers: temporary directories, in-process campaigns on the fake engine, pools
 * that finish batches out of order, and comparison of reports without their timing fields.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BatchRequest, BatchResult } from '../contract';
import type { Engine, EngineRef } from '../campaign/engine-port';
import type { WorkerPool } from '../campaign/pool';
import { runFuzz, type FuzzIo } from '../campaign/main';
import { TIMING_FIELDS, type CampaignReport } from '../report/report';
import { createFakeEngine, FAKE_ENGINE_PATH, type FakeEngineOptions } from './fake-engine';

const created: string[] = [];

/** A fresh temporary directory, removed after the test file that made it (see below). */
export function tmpDir(prefix = 'fuzz-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

// Registered once per test file that imports this module: CI machines are reused, so tests
// must not leave campaign directories behind in /tmp.
if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
}

export function fakeRef(options: FakeEngineOptions = {}): EngineRef {
  return { engine: createFakeEngine(options), modulePath: FAKE_ENGINE_PATH };
}

/**
 * Runs batches in this process but completes them in a scrambled order: each batch waits a
 * number of event-loop turns chosen from its seed, so completion order differs from dispatch
 * order, deterministically. Proves folding does not depend on which batch finishes first.
 */
export class ScramblingPool implements WorkerPool {
  constructor(
    private readonly engine: Engine,
    readonly size: number,
    private readonly onBatch: () => void = () => {},
  ) {}

  async run(_worker: number, req: BatchRequest): Promise<BatchResult> {
    const turns = req.seed % 7;
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    this.onBatch();
    return this.engine.runBatch(req);
  }

  async close(): Promise<void> {}
}

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `npm run fuzz -- argv` in-process on a fake engine, with inline workers. */
export async function fuzzInline(argv: readonly string[], overrides: Partial<FuzzIo> & { ref?: EngineRef } = {}): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const ref = overrides.ref ?? fakeRef();
  const code = await runFuzz(argv, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    loadEngine: () => ref,
    makePool: (n, r) => new ScramblingPool(r.engine, n),
    now: () => new Date('2025-01-01T00:00:00.000Z'),
    commit: () => 'test-commit',
    ...overrides,
  });
  return { code, stdout, stderr };
}

/** A report without the fields that legitimately vary with timing and worker count. */
export function withoutTiming(report: CampaignReport): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...report };
  for (const f of TIMING_FIELDS) delete copy[f];
  return copy;
}

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Every failure file of a campaign dir, by name, with the origin date removed. */
export function failureFiles(dir: string): Record<string, unknown> {
  const failures = path.join(dir, 'failures');
  const out: Record<string, unknown> = {};
  for (const name of fs.readdirSync(failures).sort()) {
    const cx = readJson<{ origin: Record<string, unknown> }>(path.join(failures, name));
    delete cx.origin.date;
    out[name] = cx;
  }
  return out;
}
