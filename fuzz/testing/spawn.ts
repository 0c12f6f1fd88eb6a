/**
 * Spawning the real entry points (fuzz/cli.ts, fuzz/replay-cli.ts) under tsx with the fake
 * engine, for the tests that need real processes: forked workers, signals, exit codes.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { ENGINE_ENV } from '../campaign/engine-port';
import { FAKE_ENGINE_PATH } from './fake-engine';

export const FUZZ_CLI = path.resolve(__dirname, '..', 'cli.ts');
export const REPLAY_CLI = path.resolve(__dirname, '..', 'replay-cli.ts');

export interface Spawned {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

const running = new Set<ChildProcess>();

/**
 * Kills what a failed test left running: only processes this module spawned, by pid (the
 * whole group for detached ones, so their workers go too).
 */
export function killSpawned(): void {
  for (const child of running) {
    try {
      if ((child as ChildProcess & { detachedGroup?: boolean }).detachedGroup) process.kill(-child.pid!, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

export function spawnTs(entry: string, args: readonly string[], options: { batchDelayMs?: number; detached?: boolean; enginePath?: string } = {}): Spawned {
  const child = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, entry, ...args], {
    env: { ...process.env, [ENGINE_ENV]: options.enginePath ?? FAKE_ENGINE_PATH, FAKE_ENGINE_BATCH_DELAY_MS: String(options.batchDelayMs ?? 0) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  if (options.detached) (child as ChildProcess & { detachedGroup?: boolean }).detachedGroup = true;
  running.add(child);
  child.on('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  // 'exit', not 'close': forked workers inherit the pipes and may outlive a SIGKILLed parent
  // by a moment.
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => setImmediate(() => resolve({ code, signal, stdout, stderr }))),
  );
  return { child, done };
}

/** Polls `condition` every few milliseconds until it holds (bounded: throws after `limitMs`). */
export async function waitFor(condition: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
