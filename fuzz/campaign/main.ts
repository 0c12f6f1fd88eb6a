/**
 * `npm run fuzz`: from argv to an exit code. Kept apart from fuzz/cli.ts (which only wires the
 * real process) so tests run the whole command in-process with the fake engine.
 *
 * Exit codes: 0 nothing found, 1 a property was violated, 2 bad usage or input, 3 the engine
 * or a worker crashed (a bug to report, with the state saved for --resume), 130 a second Ctrl-C.
 */
import { performance } from 'perf_hooks';
import { InputError } from '../counterexample/safe-json';
import { resumeCampaign, startCampaign, type CampaignResult } from './campaign';
import type { EngineRef } from './engine-port';
import { ForkPool } from './fork-pool';
import { mergeCampaigns } from './merge';
import { parseFuzzArgs } from './options';
import type { WorkerPool } from './pool';
import { createProgress, silentProgress, type ProgressSink } from './progress';
import type { StopSwitch } from './session';
import { renderInventory, renderSummary } from './summary';
import { EXIT_OK, EXIT_USAGE, EXIT_VIOLATION, UsageError } from './usage-error';

export const EXIT_CRASH = 3;

class EngineLoadError extends Error {}

export interface FuzzIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** Loaded lazily: `--help` and bad options work even when the engine does not load. */
  readonly loadEngine: () => EngineRef;
  readonly makePool?: (size: number, engineRef: EngineRef) => WorkerPool;
  /** Live display when stderr is a terminal. */
  readonly progress?: (json: boolean) => ProgressSink;
  readonly stop?: StopSwitch;
  readonly now?: () => Date;
  /** Monotonic milliseconds (default performance.now); tests step it to fix timings. */
  readonly clock?: () => number;
  readonly commit?: () => string;
}

export async function runFuzz(argv: readonly string[], io: FuzzIo): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof InputError) {
      io.stderr(`fuzz: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof EngineLoadError) {
      io.stderr(`fuzz: ${err.message}\n`);
      return EXIT_CRASH;
    }
    io.stderr(`fuzz: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT_CRASH;
  }
}

async function dispatch(argv: readonly string[], io: FuzzIo): Promise<number> {
  const command = parseFuzzArgs(argv);
  if (command.kind === 'help') {
    io.stdout(command.text);
    return EXIT_OK;
  }
  let engineRef: EngineRef;
  try {
    engineRef = io.loadEngine();
  } catch (err) {
    // One line: the cause is almost always "fuzz/engine.ts is missing or does not compile".
    throw new EngineLoadError(`cannot load the engine: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const now = io.now ?? (() => new Date());
  if (command.kind === 'list') {
    const inv = engineRef.engine.inventory();
    io.stdout(command.json ? JSON.stringify(inv) + '\n' : renderInventory(inv));
    return EXIT_OK;
  }
  if (command.kind === 'merge') {
    const result = mergeCampaigns(command, { engineRef, now });
    io.stdout(command.json ? JSON.stringify(result.report, null, 2) + '\n' : renderSummary(result.report, result.dir, result.files.html, result.files.junit));
    return result.report.failures.length > 0 ? EXIT_VIOLATION : EXIT_OK;
  }
  const run = command.run;
  const env = {
    engineRef,
    makePool: (size: number) => (io.makePool ?? ((n: number, ref: EngineRef) => new ForkPool(n, ref.modulePath)))(size, engineRef),
    clock: io.clock ?? (() => performance.now()),
    now,
    progress: io.progress ? io.progress(run.json) : silentProgress,
    stop: io.stop ?? { requested: false },
    commit: io.commit,
    warn: (line: string) => io.stderr(line + '\n'),
  };
  const result: CampaignResult = command.kind === 'campaign' ? await startCampaign(command.run, env) : await resumeCampaign(command.run, env);
  if (run.json) io.stdout(JSON.stringify(result.report, null, 2) + '\n');
  else io.stdout(renderSummary(result.report, result.dir, result.files.html, result.files.junit));
  if (result.outcome.error) {
    io.stderr(`fuzz: the campaign stopped because a worker failed (state saved; --resume ${result.dir} continues):\n${result.outcome.error.message}\n`);
    return EXIT_CRASH;
  }
  return result.report.failures.length > 0 ? EXIT_VIOLATION : EXIT_OK;
}

/** The terminal's progress display: live on a TTY, plain lines otherwise; always on stderr. */
export function terminalProgress(): ProgressSink {
  return createProgress(process.stderr, { live: process.stderr.isTTY === true });
}
