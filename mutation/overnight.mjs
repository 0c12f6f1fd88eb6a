#!/usr/bin/env node
/**
 * The whole-model mutation run (npm run mutate:all), one chunk at a time. A chunk is a
 * directory of model/, or the files at model/'s top.
 *
 * Each chunk is its own Stryker run (stryker.config.mjs reads MUTATE_CHUNK) with its own
 * incremental file and reports under reports/mutation/chunks/<chunk>/. So:
 * - an interrupted night loses at most the chunk in progress;
 * - the next night re-tests only mutants whose code or tests changed (Stryker's incremental
 *   mode).
 *
 * After the chunks, or with --summary alone, the chunk reports are merged:
 * - reports/mutation/mutation.json: the whole-model report, in the same schema as a chunk's;
 * - reports/mutation/survivors.txt: every surviving or uncovered mutant, one per line;
 * - a table per chunk and the model's score. The score is Stryker's: detected (killed or
 *   timed out) over valid (detected, survived, no coverage). Compile errors and the ignored
 *   equivalent mutants are not counted.
 *
 *   npm run mutate:all                         every chunk, in order
 *   npm run mutate:all -- --only model/mmu,model/buddy
 *   npm run mutate:all -- --summary            merge what exists, run nothing
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const OUT = path.join(ROOT, 'reports/mutation');
const STRYKER = path.join(ROOT, 'node_modules/@stryker-mutator/core/bin/stryker.js');

/** The chunks: every directory of model/ that holds source, then model/'s own files. */
export function chunks(root = ROOT) {
  const dirs = readdirSync(path.join(root, 'model'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `model/${d.name}`)
    .sort();
  return [...dirs, 'model'];
}

const chunkDir = (chunk) => path.join(OUT, 'chunks', chunk.replaceAll('/', '_'));

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

/** Counts of one report's mutants by status, and its score (null when nothing is valid). */
export function tally(files) {
  const counts = {};
  for (const f of Object.values(files)) for (const m of f.mutants) counts[m.status] = (counts[m.status] ?? 0) + 1;
  const detected = [...DETECTED].reduce((n, s) => n + (counts[s] ?? 0), 0);
  const undetected = [...UNDETECTED].reduce((n, s) => n + (counts[s] ?? 0), 0);
  const valid = detected + undetected;
  return { counts, detected, undetected, valid, score: valid === 0 ? null : (100 * detected) / valid };
}

/** Every undetected mutant as `file:line:col  status  mutator  replacement`. */
export function survivors(files) {
  const out = [];
  for (const [file, f] of Object.entries(files).sort((a, b) => a[0].localeCompare(b[0]))) {
    for (const m of [...f.mutants].sort((a, b) => a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column)) {
      if (!UNDETECTED.has(m.status)) continue;
      const { line, column } = m.location.start;
      out.push(`${file}:${line}:${column}\t${m.status}\t${m.mutatorName}\t${JSON.stringify(m.replacement ?? '')}`);
    }
  }
  return out;
}

/**
 * The one-mutant entries of mutation/equivalent-mutants.json (`replacements`). Stryker's
 * ignorer works on whole nodes, so a node with one equivalent mutant beside killed ones (a
 * loop bound that is never reached: its `<` -> `<=` is equivalent, its `false` is killed)
 * cannot be listed there. An entry `{ file, line, code, replacement, reason }` names one
 * mutant: of `file`, starting on `line`, whose original source starts with `code` and which
 * Stryker rewrites to `replacement`. The merge reports such a mutant, when undetected, as
 * Ignored with the reason, as Stryker reports the mutants of a listed node. Returns how many
 * it reclassified.
 */
export function applyListedReplacements(files, entries) {
  let n = 0;
  for (const e of entries) {
    const f = files[e.file];
    if (!f) continue;
    const lines = f.source.split('\n');
    for (const m of f.mutants) {
      const { line, column } = m.location.start;
      if (!UNDETECTED.has(m.status) || line !== e.line || m.replacement !== e.replacement) continue;
      if (!(lines[line - 1] ?? '').slice(column - 1).startsWith(e.code)) continue;
      m.status = 'Ignored';
      m.statusReason = `equivalent: ${e.reason}`;
      n++;
    }
  }
  return n;
}

const listedReplacements = () => JSON.parse(readFileSync(path.join(ROOT, 'mutation/equivalent-mutants.json'), 'utf8')).replacements ?? [];

/** A Stryker JSON report, checked to have `files`. */
export function readReport(file) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof report !== 'object' || report === null || typeof report.files !== 'object') throw new Error(`${file} is not a Stryker JSON report`);
  return report;
}

/** Merges the chunk reports that exist; prints the table; writes the merged report. */
function summarise(list) {
  const merged = { files: {} };
  const rows = [];
  const replacements = listedReplacements();
  let listed = 0;
  for (const chunk of list) {
    const file = path.join(chunkDir(chunk), 'mutation.json');
    if (!existsSync(file)) {
      rows.push([chunk, 'not run', '', '', '', '']);
      continue;
    }
    const report = readReport(file);
    listed += applyListedReplacements(report.files, replacements);
    Object.assign(merged, { ...report, files: merged.files });
    Object.assign(merged.files, report.files);
    const t = tally(report.files);
    const when = statSync(file).mtime.toISOString().slice(0, 16).replace('T', ' ');
    rows.push([chunk, String(t.valid + (t.counts.CompileError ?? 0) + (t.counts.Ignored ?? 0)), String(t.detected), String(t.undetected), t.score === null ? '-' : `${t.score.toFixed(2)}%`, when]);
  }
  const t = tally(merged.files);
  const head = ['chunk', 'mutants', 'detected', 'undetected', 'score', 'report written'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write(`${line(head)}\n${rows.map(line).join('\n')}\n`);
  const missing = rows.filter((r) => r[1] === 'not run').length;
  const statuses = Object.entries(t.counts).sort().map(([s, n]) => `${s} ${n}`).join(', ');
  const score = t.score === null ? 'no mutants tested yet' : `mutation score ${t.score.toFixed(2)}% (${t.detected} detected of ${t.valid} valid; ${statuses})`;
  process.stdout.write(`\nmodel/: ${score}${missing ? `; ${missing} chunk(s) not run yet` : ''}\n`);
  if (listed > 0) process.stdout.write(`(${listed} undetected mutant(s) counted as Ignored: listed one by one as equivalent in mutation/equivalent-mutants.json)\n`);
  mkdirSync(OUT, { recursive: true });
  atomicWrite(path.join(OUT, 'mutation.json'), JSON.stringify(merged));
  atomicWrite(path.join(OUT, 'survivors.txt'), survivors(merged.files).join('\n') + '\n');
  process.stdout.write(`merged report: reports/mutation/mutation.json; undetected mutants: reports/mutation/survivors.txt\n`);
  return t;
}

function atomicWrite(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** The incremental report without its Timeout mutants (Stryker's incremental mode tests them again), and how many went. */
export function dropTimeouts(report) {
  let dropped = 0;
  const files = {};
  for (const [name, f] of Object.entries(report.files ?? {})) {
    const mutants = f.mutants.filter((m) => m.status !== 'Timeout');
    dropped += f.mutants.length - mutants.length;
    files[name] = { ...f, mutants };
  }
  return { report: { ...report, files }, dropped };
}

/**
 * Drops the Timeout mutants of an incremental file (none when it does not exist), so that the
 * next run tests them again; how many. A malformed file throws, naming it.
 */
export function retestTimeouts(file) {
  if (!existsSync(file)) return 0;
  let d;
  try {
    d = dropTimeouts(JSON.parse(readFileSync(file, 'utf8')));
  } catch (e) {
    throw new Error(`${path.relative(ROOT, file)} is not Stryker's incremental report: ${e.message}`);
  }
  if (d.dropped > 0) atomicWrite(file, JSON.stringify(d.report));
  return d.dropped;
}

/**
 * A warning when the machine is too busy for timeouts to mean anything, else null. Stryker
 * counts a timed-out mutant as detected, and under load a surviving mutant that runs every
 * covering test can pass its timeout (an early sample read 86.6% under load, 74.5% once its
 * timeouts were re-tested on a quiet machine).
 */
export function loadWarning(load, cores) {
  if (load <= cores) return null;
  return `warning: load average ${load.toFixed(1)} on ${cores} cores: a surviving mutant may time out and count as detected; re-test the timeouts on a quiet machine (--retest-timeouts)`;
}

/** Prints loadWarning for this machine now, if any. */
export function warnLoad() {
  const w = loadWarning(os.loadavg()[0], os.cpus().length);
  if (w) process.stdout.write(`${w}\n`);
}

let interrupted = false;

/** Prints Stryker's progress: in place on a terminal, else a line at most once a minute. */
export function progressPrinter(chunk) {
  let last = 0;
  return (text) => {
    const m = text.match(/Mutation testing (\d+%).*?(\d+\/\d+) tested \((\d+) survived/);
    if (!m) return;
    const line = `  ${chunk}: ${m[1]}, ${m[2]} tested, ${m[3]} survived`;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}   `);
    else if (Date.now() - last >= 60_000) {
      last = Date.now();
      process.stdout.write(`${line}\n`);
    }
  };
}

/** The Stryker run in progress, if any (a SIGINT handler passes the interrupt on to it). */
let child = null;

/** Interrupts the Stryker run in progress, if any. */
export function interruptStryker() {
  child?.kill('SIGINT');
}

/**
 * One Stryker run with `env` added to ours; its output goes to `log` as it comes, and its
 * progress to our stdout under `label`. Resolves with its exit code and signal.
 */
export function runStryker(label, log, env, extra = []) {
  return new Promise((resolve) => {
    const out = createWriteStream(log);
    const progress = progressPrinter(label);
    child = spawn(process.execPath, [STRYKER, 'run', 'stryker.config.mjs', ...extra], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d) => {
      out.write(d);
      progress(d.toString());
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code, signal) => {
      child = null;
      out.end();
      if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
      resolve({ code: code ?? 1, signal, log });
    });
  });
}

/** One chunk's Stryker run; its output goes to the chunk's stryker.log as it comes. */
function runChunk(chunk, extra) {
  mkdirSync(chunkDir(chunk), { recursive: true });
  return runStryker(chunk, path.join(chunkDir(chunk), 'stryker.log'), { MUTATE_CHUNK: chunk }, extra);
}

async function main(argv) {
  const program = new Command()
    .name('mutate:all')
    .description('Mutation-test the whole model one chunk (directory of model/) at a time, then merge the reports.')
    .option('--only <chunks>', 'comma-separated chunks to run (see --list)')
    .option('--list', 'print the chunks and exit')
    .option('--summary', 'run nothing; merge the chunk reports that exist and print the score')
    .option('--concurrency <n>', 'Stryker test runners per chunk (default: the config, 2)')
    .option('--retest-timeouts', "test again the mutants that timed out in the chunks' last runs (on a quiet machine)")
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    // Commander has already printed the help.
    if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) return 0;
    process.stderr.write(`mutate:all: ${(e.message ?? String(e)).replace(/^error: /, '')}\n`);
    return 2;
  }
  const opts = program.opts();
  const all = chunks();
  if (opts.list) {
    process.stdout.write(`${all.join('\n')}\n`);
    return 0;
  }
  let list = all;
  if (opts.only) {
    list = opts.only.split(',').map((c) => c.trim().replace(/\/$/, '')).filter(Boolean);
    const unknown = list.filter((c) => !all.includes(c));
    if (unknown.length) {
      process.stderr.write(`mutate:all: unknown chunk ${unknown.join(', ')} (chunks: ${all.join(', ')})\n`);
      return 2;
    }
  }
  const extra = [];
  if (opts.concurrency !== undefined) {
    if (!/^[1-9]\d*$/.test(opts.concurrency)) {
      process.stderr.write(`mutate:all: --concurrency must be a positive integer, got ${opts.concurrency}\n`);
      return 2;
    }
    extra.push('--concurrency', opts.concurrency);
  }
  if (opts.summary && opts.retestTimeouts) {
    process.stderr.write('mutate:all: --summary and --retest-timeouts cannot be combined\n');
    return 2;
  }
  if (opts.retestTimeouts) {
    // All before any run: a malformed file stops the night before it starts.
    for (const chunk of list) {
      let n;
      try {
        n = retestTimeouts(path.join(chunkDir(chunk), 'stryker-incremental.json'));
      } catch (e) {
        process.stderr.write(`mutate:all: ${e.message}\n`);
        return 2;
      }
      if (n > 0) process.stdout.write(`${chunk}: ${n} timed-out mutant(s) to re-test\n`);
    }
  }
  if (!opts.summary) {
    process.on('SIGINT', () => {
      interrupted = true;
      interruptStryker();
    });
    for (const [i, chunk] of list.entries()) {
      if (interrupted) break;
      const started = Date.now();
      process.stdout.write(`[${i + 1}/${list.length}] ${chunk} ...\n`);
      warnLoad();
      const r = await runChunk(chunk, extra);
      const minutes = ((Date.now() - started) / 60000).toFixed(1);
      if (interrupted) {
        process.stdout.write(`[${i + 1}/${list.length}] ${chunk}: interrupted after ${minutes} min; earlier chunks are kept\n`);
        break;
      }
      const file = path.join(chunkDir(chunk), 'mutation.json');
      if (r.code !== 0 || !existsSync(file)) {
        process.stdout.write(`[${i + 1}/${list.length}] ${chunk}: Stryker failed (exit ${r.code}) after ${minutes} min; see ${path.relative(ROOT, r.log)}\n`);
        continue;
      }
      const t = tally(readReport(file).files);
      process.stdout.write(`[${i + 1}/${list.length}] ${chunk}: ${t.score === null ? 'no valid mutants' : `${t.score.toFixed(2)}%`} (${t.detected}/${t.valid}) in ${minutes} min\n`);
    }
  }
  summarise(all);
  return interrupted ? 130 : 0;
}

process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
});

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`mutate:all: ${e.message}\n`);
      process.exitCode = 2;
    },
  );
}
