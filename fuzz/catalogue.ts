/**
 * `npm run catalogue -- [--budget SECONDS] [--seed S] [--fault NAME]... [--json]`: the
 * known-bug catalogue. Every fault the model can inject is hunted on one core within its
 * budget (default 60 s); the table says which real bug it reproduces, which property caught it,
 * how long that took and how short the shrunk trace is. Exit 1 if any fault went undetected,
 * 2 on bad usage.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { faults } from '../model/registry';
import { hunt, type HuntResult } from './hunt';

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${v}" is not a positive number`);
  return n;
}

function integer(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${v}" is not an integer`);
  return n;
}

function main(argv: string[]): number {
  const program = new Command('catalogue')
    .description('Hunt every injectable fault and report the property that catches it')
    .option('--budget <seconds>', 'time budget per fault', positive, 60)
    .option('--seed <n>', 'seed of the hunt (the same seed hunts the same runs)', integer, 1)
    .option('--fault <name>', 'only this fault (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--json', 'print one JSON object instead of the table')
    .addHelpText('after', '\nExample:\n  npm run catalogue -- --budget 30 --fault tlb-no-flush-on-unmap --json')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s.split('\n')[0] + '\n') });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  const o = program.opts<{ budget: number; seed: number; fault: string[]; json?: boolean }>();
  const unknown = o.fault.filter((n) => !faults.some((f) => f.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`catalogue: unknown fault "${unknown[0]}" (see npm run fuzz -- --list)\n`);
    return 2;
  }
  const chosen = o.fault.length > 0 ? faults.filter((f) => o.fault.includes(f.name)) : faults;
  const results: HuntResult[] = [];
  for (const f of chosen) {
    if (!o.json) process.stderr.write(`catalogue: hunting ${f.name} (budget ${o.budget} s)...\n`);
    results.push(hunt(f, o.seed, o.budget));
  }
  if (o.json) {
    process.stdout.write(
      JSON.stringify({
        budgetSeconds: o.budget,
        seed: o.seed,
        faults: results.map((r, i) => ({
          name: r.fault,
          mechanism: chosen[i]!.mechanism,
          reproduces: chosen[i]!.reproduces,
          found: r.found,
          property: r.violation?.property ?? null,
          kind: r.violation?.kind ?? null,
          runs: r.runs,
          secondsToFailure: r.secondsToFailure === null ? null : +r.secondsToFailure.toFixed(3),
          shrunkLength: r.shrunk?.length ?? null,
        })),
      }) + '\n',
    );
  } else {
    const rows = results.map((r, i) => [
      r.fault,
      r.found ? `${r.violation!.property} (${r.violation!.kind})` : 'NOT DETECTED',
      r.found ? `${r.secondsToFailure!.toFixed(2)} s` : `> ${o.budget} s`,
      r.found ? String(r.shrunk!.length) : '-',
      String(r.runs),
      chosen[i]!.reproduces,
    ]);
    const head = ['fault', 'caught by', 'time', 'shrunk ops', 'runs', 'reproduces'];
    const widths = head.map((h, c) => Math.min(60, Math.max(h.length, ...rows.map((row) => row[c]!.length))));
    const line = (cells: string[]): string => cells.map((x, c) => (c === cells.length - 1 ? x : x.padEnd(widths[c]!))).join('  ');
    process.stdout.write(line(head) + '\n' + rows.map(line).join('\n') + '\n');
    const missed = results.filter((r) => !r.found).length;
    process.stdout.write(`${results.length - missed} of ${results.length} faults detected\n`);
  }
  return results.every((r) => r.found) ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
