/**
 * Entry point of `npm run fuzz` (tsx fuzz/cli.ts). Wires the real process: argv, stdout/stderr,
 * the engine (fuzz/engine.ts, or $NESTED_MM_ENGINE), worker processes, the progress display and
 * Ctrl-C. Everything else is in fuzz/campaign/main.ts.
 *
 * Ctrl-C once: stop dealing batches, let workers finish theirs, write the state and the
 * reports, exit 0/1 by what was found. Ctrl-C twice: exit 130 at once (the state file written
 * after the last batch still allows --resume).
 */
import { loadEngine } from './campaign/engine-port';
import { runFuzz, terminalProgress } from './campaign/main';

const stop = { requested: false };
process.on('SIGINT', () => {
  if (stop.requested) process.exit(130);
  stop.requested = true;
  process.stderr.write('\nfuzz: stopping after the current batches (Ctrl-C again to abort)\n');
});

runFuzz(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  loadEngine: () => loadEngine(),
  progress: () => terminalProgress(),
  stop,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fuzz: internal error: ${String(err)}\n`);
    process.exitCode = 3;
  },
);
