/**
 * Command line of `npm run fuzz`: parsing and validation, nothing else. Every mistake becomes a
 * one-line UsageError (exit 2). Names (faults, mechanisms, properties) are checked against the
 * engine's inventory in `checkNames`, separately, so parsing needs no engine.
 */
import * as os from 'os';
import { Command, CommanderError, Option } from 'commander';
import type { Inventory } from '../contract';
import { DEFAULT_DURATION_MS, DEFAULT_SEED, type CampaignConfig } from './config';
import type { Shard } from './seeds';
import { UsageError } from './usage-error';

/** Bounds on options: a typo (`--workers 4000`) is refused rather than forking 4000 processes. */
export const WORKERS_MAX = 256;
export const SEED_MAX = 0xffff_ffff;
export const SHARDS_MAX = 1 << 16;
export const RUNS_MAX = 1e12;
export const DURATION_MAX_MS = 30 * 24 * 3600 * 1000;

export type FuzzCommand =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'list'; readonly json: boolean }
  | { readonly kind: 'campaign'; readonly run: CampaignInvocation }
  | { readonly kind: 'resume'; readonly run: ResumeInvocation }
  | { readonly kind: 'merge'; readonly dirs: readonly string[]; readonly out: string | null; readonly json: boolean; readonly junit: string | null };

/** Output options shared by campaigns, resumes and merges. */
interface OutputOptions {
  readonly workers: number;
  readonly json: boolean;
  readonly junit: string | null;
}

export interface CampaignInvocation extends OutputOptions {
  /** `faults: null` means "the engine's default campaign faults". */
  readonly config: Omit<CampaignConfig, 'faults'> & { readonly faults: readonly string[] | null };
  readonly out: string | null;
}

export interface ResumeInvocation extends OutputOptions {
  readonly dir: string;
  /** A new bound for the rest of the campaign; null keeps what is left of the original one. */
  readonly durationMs: number | null;
}

const EXAMPLES = `
Exit codes: 0 nothing found, 1 a property was violated, 2 bad usage or input,
3 the engine or a worker crashed (state saved for --resume), 130 a second Ctrl-C.

Examples:
  npm run fuzz                                   about 60 s, seed 1, all workers
  npm run fuzz -- --minutes 30 --seed 7          a longer campaign with another seed stream
  npm run fuzz -- --runs 2000 --seed 3           exactly reproducible: same report on any machine
  npm run fuzz -- --fault tlb-no-flush-on-unmap --runs 200   prove a property can fail (known-bug injection)
  npm run fuzz -- --mechanisms buddy,tlb --properties buddy-invariants
  npm run fuzz -- --hours 8 --shard 0/4 --out reports/campaigns/night-0   one of four machines
  npm run fuzz -- merge reports/campaigns/night-*  --out reports/campaigns/night
  npm run fuzz -- --resume reports/campaigns/night-0   continue a killed campaign
  npm run fuzz -- --list --json                  operations, properties, faults as JSON
  npm run fuzz -- --runs 500 --json --junit reports/junit.xml   for CI`;

function buildProgram(): Command {
  const program = new Command('npm run fuzz --')
    .description('Run a fuzz campaign against the model and write report.json, report.html and one file per distinct failure.')
    .option('--seconds <n>', 'time bound in seconds (e.g. --seconds 90)')
    .option('--minutes <n>', 'time bound in minutes (e.g. --minutes 30)')
    .option('--hours <n>', 'time bound in hours (e.g. --hours 8)')
    .option('--runs <n>', 'count bound: exactly n runs, reproducible regardless of timing and workers (e.g. --runs 2000)')
    .option('--seed <s>', `campaign seed, 0..${SEED_MAX} (default ${DEFAULT_SEED}; e.g. --seed 42)`)
    .option('--workers <n>', 'worker processes (default: os.availableParallelism(); e.g. --workers 8)')
    .addOption(new Option('--fault <name>', 'inject a known bug, repeatable (e.g. --fault tlb-no-flush-on-unmap --fault buddy-merge-across-isolation)').argParser(collect).default(undefined))
    .option('--mechanisms <a,b>', 'only generate these mechanisms\' operations (e.g. --mechanisms buddy,tlb)')
    .option('--properties <a,b>', 'only check these properties (e.g. --properties tlb-coherence)')
    .option('--out <dir>', 'output directory (default reports/campaigns/<date>-seed<S>; e.g. --out /tmp/c1)')
    .option('--resume <dir>', 'continue a killed campaign in <dir> (accepts a new time bound and --workers)')
    .option('--shard <I/N>', 'run shard I of N of the seed space, 0 <= I < N (e.g. --shard 2/8)')
    .option('--json', 'print report.json on stdout at the end instead of a summary')
    .option('--junit <file>', 'also write a JUnit XML, one testcase per property (e.g. --junit junit.xml)')
    .option('--list', 'list operations, properties and faults (with --json: the inventory as JSON)')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .allowExcessArguments(false)
    .helpCommand(false)
    // Options after `merge` belong to merge (its --out is not the campaign's --out).
    .enablePositionalOptions();
  program
    .command('merge')
    .description('fold several campaign directories (e.g. shards) into one report')
    .argument('<dirs...>', 'campaign output directories')
    .option('--out <dir>', 'output directory (default reports/campaigns/merged-<date>)')
    .option('--json', 'print the merged report.json on stdout')
    .option('--junit <file>', 'also write a JUnit XML')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  return program;
}

const MERGE_EXAMPLE = `
Example:
  npm run fuzz -- merge reports/campaigns/night-0 reports/campaigns/night-1 --out reports/campaigns/night
`;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Full help text of `npm run fuzz -- --help`. */
export function helpText(): string {
  const program = buildProgram();
  return program.helpInformation() + EXAMPLES + '\n';
}

function parseInteger(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${name} expects an integer, got "${raw}"`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${raw}`);
  return n;
}

function parseDuration(name: string, raw: string, unitMs: number): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw)) throw new UsageError(`${name} expects a positive number, got "${raw}"`);
  const ms = Number(raw) * unitMs;
  if (!(ms > 0) || ms > DURATION_MAX_MS) throw new UsageError(`${name} must be more than 0 and at most 30 days, got ${raw}`);
  return Math.round(ms);
}

function parseShard(raw: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(raw);
  if (!m) throw new UsageError(`--shard expects I/N (e.g. 2/8), got "${raw}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > SHARDS_MAX) throw new UsageError(`--shard ${raw}: N must be between 1 and ${SHARDS_MAX}`);
  if (index >= count) throw new UsageError(`--shard ${raw}: I must be less than N (shards are numbered 0..${count - 1})`);
  return { index, count };
}

function parseList(name: string, raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`${name} expects a comma-separated list of names, got "${raw}"`);
  return [...new Set(items)];
}

interface RawOptions {
  seconds?: string;
  minutes?: string;
  hours?: string;
  runs?: string;
  seed?: string;
  workers?: string;
  fault?: string[];
  mechanisms?: string;
  properties?: string;
  out?: string;
  resume?: string;
  shard?: string;
  json?: boolean;
  junit?: string;
  list?: boolean;
}

/** Commander's own messages start with "error: "; keep only the sentence, on one line. */
function commanderMessage(err: CommanderError): string {
  const message = err.message.replace(/^error:\s*/, '').split('\n')[0];
  return err.code === 'commander.excessArguments' ? `${message} (the only subcommand is "merge"; see --help)` : message;
}

/** Parses `argv` (without node and the script). Throws UsageError on any mistake. */
export function parseFuzzArgs(argv: readonly string[], availableWorkers = os.availableParallelism()): FuzzCommand {
  const program = buildProgram();
  let merge: FuzzCommand | null = null;
  program.commands[0].action((dirs: string[], opts: { out?: string; json?: boolean; junit?: string }) => {
    merge = { kind: 'merge', dirs, out: opts.out ?? null, json: opts.json === true, junit: opts.junit ?? null };
  });
  program.action(() => {});
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') {
        const merging = argv.includes('merge');
        return { kind: 'help', text: merging ? program.commands[0].helpInformation() + MERGE_EXAMPLE : helpText() };
      }
      throw new UsageError(commanderMessage(err));
    }
    throw err;
  }
  if (merge) {
    const rootGiven = Object.keys(program.opts()).filter((k) => (program.opts() as Record<string, unknown>)[k] !== undefined);
    if (rootGiven.length > 0) throw new UsageError(`merge takes only --out, --json and --junit after its directories, not --${rootGiven[0]}`);
    return merge;
  }
  return interpret(program.opts() as RawOptions, availableWorkers);
}

function interpret(o: RawOptions, availableWorkers: number): FuzzCommand {
  const given = (Object.keys(o) as (keyof RawOptions)[]).filter((k) => o[k] !== undefined);
  if (o.list) {
    const extra = given.filter((k) => k !== 'list' && k !== 'json');
    if (extra.length > 0) throw new UsageError(`--list takes no other option but --json (got --${extra[0]})`);
    return { kind: 'list', json: o.json === true };
  }
  const bounds = (['seconds', 'minutes', 'hours', 'runs'] as const).filter((k) => o[k] !== undefined);
  if (bounds.length > 1) throw new UsageError(`--${bounds[0]} and --${bounds[1]} cannot be combined: give one bound, a time or a run count`);
  let durationMs: number | null = null;
  if (o.seconds !== undefined) durationMs = parseDuration('--seconds', o.seconds, 1000);
  if (o.minutes !== undefined) durationMs = parseDuration('--minutes', o.minutes, 60_000);
  if (o.hours !== undefined) durationMs = parseDuration('--hours', o.hours, 3_600_000);
  const runs = o.runs === undefined ? null : parseInteger('--runs', o.runs, 1, RUNS_MAX);
  const workers = o.workers === undefined ? Math.max(1, Math.min(WORKERS_MAX, availableWorkers)) : parseInteger('--workers', o.workers, 1, WORKERS_MAX);
  const output = { workers, json: o.json === true, junit: o.junit ?? null };

  if (o.resume !== undefined) {
    const fixed = given.filter((k) => ['seed', 'fault', 'mechanisms', 'properties', 'shard', 'out', 'runs'].includes(k));
    if (fixed.length > 0) throw new UsageError(`--resume continues the campaign as it was configured; --${fixed[0]} cannot be changed (only a time bound, --workers, --json, --junit)`);
    return { kind: 'resume', run: { ...output, dir: o.resume, durationMs } };
  }
  const config = {
    seed: o.seed === undefined ? DEFAULT_SEED : parseInteger('--seed', o.seed, 0, SEED_MAX),
    shard: o.shard === undefined ? { index: 0, count: 1 } : parseShard(o.shard),
    runs,
    durationMs: runs === null ? durationMs ?? DEFAULT_DURATION_MS : null,
    faults: o.fault === undefined ? null : [...new Set(o.fault)],
    mechanisms: parseList('--mechanisms', o.mechanisms),
    properties: parseList('--properties', o.properties),
  };
  return { kind: 'campaign', run: { ...output, config, out: o.out ?? null } };
}

/** Checks fault, mechanism and property names against the engine's inventory. */
export function checkNames(config: Pick<CampaignConfig, 'faults' | 'mechanisms' | 'properties'>, inv: Inventory): void {
  const check = (option: string, names: readonly string[], known: readonly string[]) => {
    const set = new Set(known);
    for (const name of names) {
      if (!set.has(name)) throw new UsageError(`unknown ${option} "${name}" (known: ${[...set].sort().join(', ') || 'none'}; see --list)`);
    }
  };
  check('fault', config.faults, inv.faults.map((f) => f.name));
  check('mechanism', config.mechanisms, [...inv.operations.map((o) => o.mechanism), ...inv.properties.map((p) => p.mechanism)]);
  check('property', config.properties, inv.properties.map((p) => p.name));
}
