/**
 * Entry point of `npm run replay` (tsx fuzz/replay-cli.ts): replays one counterexample file
 * against the engine (fuzz/engine.ts, or $NESTED_MM_ENGINE). See counterexample/replay-command.ts.
 */
import { loadEngine } from './campaign/engine-port';
import { runReplay } from './counterexample/replay-command';

try {
  process.exitCode = runReplay(process.argv.slice(2), {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    loadEngine: () => loadEngine(),
  });
} catch (err) {
  process.stderr.write(`replay: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 3;
}
