/**
 * The one place the campaign machinery meets the engine. Everything else receives an `Engine`
 * object, so tests run campaigns on the fake (fuzz/testing/fake-engine.ts) and the CLI on the
 * real one (fuzz/engine.ts), with no module mocking.
 */
import * as path from 'path';
import type {
  BatchRequest,
  BatchResult,
  Counterexample,
  Inventory,
  Operation,
  ReplayResult,
} from '../contract';

/** The engine's public surface, exactly the functions fuzz/engine.ts exports. */
export interface Engine {
  inventory(): Inventory;
  runBatch(req: BatchRequest): BatchResult;
  replay(cx: Counterexample, opts: { faults: readonly string[] }): ReplayResult;
  validateOperation(op: Operation): string | null;
  defaultCampaignConfig(): { faults: string[] };
  readonly MODEL_VERSION: string;
}

/** An engine together with the module it came from: worker processes load the same module. */
export interface EngineRef {
  readonly engine: Engine;
  readonly modulePath: string;
}

/** The real engine, resolved from this file so the CLI works from any working directory. */
export const REAL_ENGINE_PATH = path.resolve(__dirname, '..', 'engine');

/**
 * Environment variable naming another engine module (absolute path). The end-to-end tests set
 * it to the fake engine so that spawned CLIs and their workers never need the real model; it is
 * also how a lead can point a campaign at an alternative engine build without editing code.
 */
export const ENGINE_ENV = 'NESTED_MM_ENGINE';

/** Loads the engine module at `modulePath` (default: $NESTED_MM_ENGINE, else fuzz/engine). */
export function loadEngine(modulePath?: string): EngineRef {
  const resolved = modulePath ?? process.env[ENGINE_ENV] ?? REAL_ENGINE_PATH;
  // A dynamic require rather than `import * as engine from '../engine'`: the engine is written
  // in parallel and tests must not need it; tsx and ts-jest both resolve the .ts file.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(resolved) as Partial<Engine>;
  for (const fn of ['inventory', 'runBatch', 'replay', 'validateOperation', 'defaultCampaignConfig'] as const) {
    if (typeof mod[fn] !== 'function') throw new Error(`engine ${resolved} does not export ${fn}()`);
  }
  if (typeof mod.MODEL_VERSION !== 'string') throw new Error(`engine ${resolved} does not export MODEL_VERSION`);
  return { engine: mod as Engine, modulePath: resolved };
}
