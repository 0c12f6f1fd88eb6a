/**
 * `npm run replay -- FILE [--verbose] [--no-faults] [--emit-test PATH]`, from argv to an exit
 * code: 1 the recorded violation reproduces (or another property is violated now), 0 the
 * trace passes (the bug is fixed, or --no-faults on a fault-found trace), 2 bad usage or file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command, CommanderError } from 'commander';
import type { EngineRef } from '../campaign/engine-port';
import { EXIT_OK, EXIT_USAGE, EXIT_VIOLATION, UsageError } from '../campaign/usage-error';
import { writeFileAtomic } from './atomic-write';
import { renderRegressionTest } from './emit-test';
import { InputError, loadCounterexample } from './load';
import { formatHeader, formatTrace, verdictOf } from './trace-format';

export interface ReplayIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly loadEngine: () => EngineRef;
}

const EXAMPLES = `
Exit codes: 1 the violation reproduces, 0 the trace now passes, 2 bad usage or file.

Examples:
  npm run replay -- reports/campaigns/<dir>/failures/3fa1c2e0b9d4.json --verbose
  npm run replay -- fuzz/regressions/tlb-no-flush.json --no-faults      on the correct model
  npm run replay -- failures/3fa1c2e0b9d4.json --emit-test fuzz/regressions/tlb-no-flush.test.ts`;

interface ReplayArgs {
  readonly file: string;
  readonly verbose: boolean;
  readonly faults: boolean;
  readonly emitTest: string | null;
}

function parse(argv: readonly string[]): ReplayArgs | { help: string } {
  let file = '';
  const program = new Command('npm run replay --')
    .description('Replay a counterexample file step by step against the model.')
    .argument('<file>', 'counterexample JSON file (failures/<hash>.json of a campaign, or fuzz/regressions/*.json)')
    .option('--verbose', 'show what each step changed (frames, mappings, TLB entries, counters)')
    .option('--no-faults', 'replay on the correct model (faults: []) instead of the recorded faults')
    .option('--emit-test <path>', 'write a jest test replaying this trace (e.g. --emit-test fuzz/regressions/x.test.ts)')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .allowExcessArguments(false)
    .action((f: string) => {
      file = f;
    });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return { help: program.helpInformation() + EXAMPLES + '\n' };
      throw new UsageError(err.message.replace(/^error:\s*/, '').split('\n')[0]);
    }
    throw err;
  }
  const o = program.opts<{ verbose?: boolean; faults: boolean; emitTest?: string }>();
  return { file, verbose: o.verbose === true, faults: o.faults, emitTest: o.emitTest ?? null };
}

export function runReplay(argv: readonly string[], io: ReplayIo): number {
  try {
    const args = parse(argv);
    if ('help' in args) {
      io.stdout(args.help);
      return EXIT_OK;
    }
    const { engine } = io.loadEngine();
    const cx = loadCounterexample(args.file, engine);
    const faults = args.faults ? cx.faults : [];
    const result = engine.replay(cx, { faults });
    const lines = [...formatHeader(cx, args.file, faults), ...formatTrace(result, args.verbose)];
    const verdict = verdictOf(cx, result);
    if (verdict === 'reproduces') lines.push(`replay: the violation reproduces: ${cx.violation.property} (${result.violation!.kind}) at step ${result.violation!.step}`);
    else if (verdict === 'different') lines.push(`replay: a different property is violated now: ${result.violation!.property} (recorded: ${cx.violation.property})`);
    else lines.push(`replay: the trace passes${args.faults ? ' now: the bug is fixed' : ' on the correct model'} (recorded: ${cx.violation.property})`);
    if (args.emitTest) {
      if (fs.existsSync(args.emitTest) && fs.statSync(args.emitTest).isDirectory()) throw new UsageError(`--emit-test ${args.emitTest} is a directory; give a file name ending in .test.ts`);
      writeFileAtomic(path.resolve(args.emitTest), renderRegressionTest(cx, args.emitTest, { sourceFile: args.file }));
      lines.push(`replay: wrote ${args.emitTest}`);
    }
    io.stdout(lines.join('\n') + '\n');
    return verdict === 'passes' ? EXIT_OK : EXIT_VIOLATION;
  } catch (err) {
    if (err instanceof UsageError || err instanceof InputError) {
      io.stderr(`replay: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
