#!/usr/bin/env node
/**
 * An estimate of the whole model's mutation score from a random sample (npm run mutate:sample),
 * in well under an hour where the whole model (npm run mutate:all) takes a night.
 *
 * Cluster sampling by declaration. The population is every cluster of every non-test
 * model/**\/*.ts file, found with the TypeScript compiler API:
 * - a top-level function declaration (with its body: nested functions are inside it);
 * - a member of a top-level class that holds code: a method, constructor, accessor, static
 *   block or property with an initializer;
 * - a top-level variable statement (`const operations = [...]`, `export const f = () => ...`).
 * The few top-level statements outside any declaration (module-load assertions, an
 * `if (require.main === module)`) are not sampled; the output lists them.
 *
 * `--clusters K` clusters are drawn uniformly without replacement by a seeded PRNG, so the same
 * seed on the same code draws the same sample. Stryker runs once with the mutate ranges of the
 * sample (stryker.config.mjs reads them from MUTATE_RANGES_FILE) and writes its reports, its
 * incremental file and its log to reports/mutation/sample-<seed>/. Each mutant of the report is
 * counted in the cluster whose range holds it, and the score is the ratio estimate
 * R = sum(detected) / sum(valid) over the sampled clusters (detected: killed or timed out;
 * valid: detected, survived or no coverage, as in Stryker's score), with a 95% interval from the
 * ratio estimator's variance with the finite population correction:
 *   var(R) = (1 - k/N) / (k * vbar^2) * sum((d_i - R v_i)^2) / (k - 1)
 * (N clusters, k sampled, vbar the mean valid mutants per sampled cluster).
 *
 *   npm run mutate:sample                          40 clusters, seed 1
 *   npm run mutate:sample -- --clusters 60 --seed 7
 *   npm run mutate:sample -- --list                the sampled ranges; runs nothing
 *   npm run mutate:sample -- --summary             the estimate from the existing report
 *   npm run mutate:sample -- --seed 7 --retest-timeouts
 *                                                  re-test that run's timed-out mutants, keep the rest
 *
 * A run warns when the load average exceeds the cores (overnight.mjs loadWarning: timeouts then
 * mean little), and --retest-timeouts drops the Timeout entries from the seed's incremental
 * file and runs Stryker again on the same ranges: only those mutants are tested again.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import ts from 'typescript';
import { interruptStryker, readReport, retestTimeouts, runStryker, survivors, tally, warnLoad } from './overnight.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
/** The sample's directory, relative to the root (Stryker's reporters and ignore rules want that). */
export const sampleDir = (seed) => `reports/mutation/sample-${seed}`;

const DETECTED = new Set(['Killed', 'Timeout']);
const VALID = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);
/** 97.5% quantile of the standard normal distribution. */
const Z95 = 1.959963984540054;

/** Every non-test .ts file under model/, relative to root with `/`, sorted. */
export function sourceFiles(root = ROOT) {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  walk('model');
  return out.sort();
}

/** Statements that hold no mutable code: imports, re-exports, types. */
const inert = (s) =>
  ts.isImportDeclaration(s) ||
  ts.isImportEqualsDeclaration(s) ||
  ts.isExportDeclaration(s) ||
  ts.isTypeAliasDeclaration(s) ||
  ts.isInterfaceDeclaration(s) ||
  ts.isEmptyStatement(s) ||
  (ts.isModuleDeclaration(s) && (ts.getCombinedModifierFlags(s) & ts.ModifierFlags.Ambient) !== 0) ||
  (ts.isFunctionDeclaration(s) && !s.body) ||
  (ts.isVariableStatement(s) && (ts.getCombinedModifierFlags(s) & ts.ModifierFlags.Ambient) !== 0);

/** A class member that holds code, and its name. */
function memberCluster(m) {
  const name = m.name ? m.name.getText() : undefined;
  if (ts.isMethodDeclaration(m) || ts.isGetAccessorDeclaration(m) || ts.isSetAccessorDeclaration(m)) {
    return m.body ? { kind: ts.isMethodDeclaration(m) ? 'method' : 'accessor', name } : undefined;
  }
  if (ts.isConstructorDeclaration(m)) return m.body ? { kind: 'constructor', name: 'constructor' } : undefined;
  if (ts.isPropertyDeclaration(m)) return m.initializer ? { kind: 'property', name } : undefined;
  if (ts.isClassStaticBlockDeclaration(m)) return { kind: 'static block', name: 'static' };
  return undefined;
}

/**
 * The clusters of one source file, in source order, each with its range in Stryker's mutate
 * syntax: lines from 1, columns from 0 (Babel's), the end column just past the last character
 * (Stryker keeps a mutant whose node lies wholly inside a range, ends included). `outside`:
 * the top-level statements that hold code but are in no cluster, with their first line.
 */
export function enumerateClusters(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const clusters = [];
  const outside = [];
  const add = (node, kind, name) => {
    const s = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    const e = sf.getLineAndCharacterOfPosition(node.getEnd());
    clusters.push({ file, start: { line: s.line + 1, column: s.character }, end: { line: e.line + 1, column: e.character }, kind, name });
  };
  for (const s of sf.statements) {
    if (inert(s)) continue;
    if (ts.isFunctionDeclaration(s)) add(s, 'function', s.name?.text ?? 'default');
    else if (ts.isVariableStatement(s)) add(s, 'variable', s.declarationList.declarations.map((d) => d.name.getText(sf)).join(', '));
    else if (ts.isClassDeclaration(s)) {
      const cls = s.name?.text ?? 'default';
      for (const m of s.members) {
        const c = memberCluster(m);
        if (c) add(m, c.kind, `${cls}.${c.name}`);
      }
    } else {
      const line = sf.getLineAndCharacterOfPosition(s.getStart(sf)).line + 1;
      outside.push({ file, line, code: s.getText(sf).split('\n')[0].slice(0, 60) });
    }
  }
  return { clusters, outside };
}

/** Every cluster of the model, in file then source order, and what is outside them. */
export function modelClusters(root = ROOT) {
  const clusters = [];
  const outside = [];
  const files = sourceFiles(root);
  for (const f of files) {
    const r = enumerateClusters(f, readFileSync(path.join(root, f), 'utf8'));
    clusters.push(...r.clusters);
    outside.push(...r.outside);
  }
  return { files, clusters, outside };
}

/** `file:startLine:startCol-endLine:endCol`, Stryker's mutate range. */
export const rangeString = (c) => `${c.file}:${c.start.line}:${c.start.column}-${c.end.line}:${c.end.column}`;

/** The inverse of rangeString. */
export function parseRange(s) {
  const m = /^(.*):(\d+):(\d+)-(\d+):(\d+)$/.exec(s);
  if (!m) throw new Error(`not a mutate range: ${s}`);
  return { file: m[1], start: { line: +m[2], column: +m[3] }, end: { line: +m[4], column: +m[5] } };
}

/** mulberry32: a small seeded 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * k of the n indices 0..n-1, uniformly without replacement (a partial Fisher-Yates shuffle
 * driven by mulberry32(seed)), in increasing order.
 */
export function sampleIndices(n, k, seed) {
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`cannot sample ${k} of ${n}`);
  const rand = mulberry32(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

/** k of the items, uniformly without replacement, in their original order. */
export const sample = (items, k, seed) => sampleIndices(items.length, k, seed).map((i) => items[i]);

const before = (a, b) => a.line < b.line || (a.line === b.line && a.column <= b.column);

/**
 * Counts a JSON report's mutants per cluster. The report's positions count lines and columns
 * from 1; the clusters' columns count from 0. Returns, per cluster in order, its detected and
 * valid mutants and its counts by status, and the mutants that fell in no cluster.
 */
export function countByCluster(files, clusters) {
  const per = clusters.map(() => ({ detected: 0, valid: 0, counts: {} }));
  const unassigned = [];
  for (const [file, f] of Object.entries(files)) {
    for (const m of f.mutants) {
      const start = { line: m.location.start.line, column: m.location.start.column - 1 };
      const end = { line: m.location.end.line, column: m.location.end.column - 1 };
      const i = clusters.findIndex((c) => c.file === file && before(c.start, start) && before(end, c.end));
      if (i < 0) {
        unassigned.push({ file, ...m.location.start, status: m.status });
        continue;
      }
      const p = per[i];
      p.counts[m.status] = (p.counts[m.status] ?? 0) + 1;
      if (VALID.has(m.status)) p.valid++;
      if (DETECTED.has(m.status)) p.detected++;
    }
  }
  return { per, unassigned };
}

/**
 * The ratio estimate of the score from k sampled clusters of N, each `{ detected, valid }`, and
 * its 95% interval (normal approximation, clipped to [0, 1]). score is null when no sampled
 * cluster has a valid mutant; se and the interval are null when k < 2.
 */
export function estimate(per, N) {
  const k = per.length;
  const detected = per.reduce((s, p) => s + p.detected, 0);
  const valid = per.reduce((s, p) => s + p.valid, 0);
  const out = { N, k, detected, valid, score: null, se: null, low: null, high: null };
  if (k === 0 || valid === 0) return out;
  const R = detected / valid;
  out.score = R;
  if (k < 2) return out;
  const vbar = valid / k;
  const ss = per.reduce((s, p) => s + (p.detected - R * p.valid) ** 2, 0);
  const variance = ((1 - k / N) / (k * vbar * vbar)) * (ss / (k - 1));
  out.se = Math.sqrt(Math.max(0, variance));
  out.low = Math.max(0, R - Z95 * out.se);
  out.high = Math.min(1, R + Z95 * out.se);
  return out;
}

const pct = (x) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

function atomicWrite(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** The sample of a seed: the drawn clusters and what the population was. */
function drawSample(k, seed) {
  const { files, clusters, outside } = modelClusters();
  if (k > clusters.length) throw new RangeError(`--clusters must be at most ${clusters.length}, the model's clusters, got ${k}`);
  return { seed, population: clusters.length, files: files.length, outside, clusters: sample(clusters, k, seed) };
}

/** The `--list` text, also the ranges file Stryker reads: comment lines, then one range a line. */
function rangesText(s) {
  const head = [
    `# seed ${s.seed}: ${s.clusters.length} of ${s.population} clusters (declarations) in ${s.files} files of model/`,
    `# not sampled: ${s.outside.length} top-level statement(s) outside any declaration${s.outside.length ? `: ${s.outside.map((o) => `${o.file}:${o.line}`).join(', ')}` : ''}`,
  ];
  return `${[...head, ...s.clusters.map(rangeString)].join('\n')}\n`;
}

let interrupted = false;

/** Reads the sample and its report, prints the estimate, writes summary.json. */
function summarise(dir) {
  const sampleFile = path.join(ROOT, dir, 'sample.json');
  const reportFile = path.join(ROOT, dir, 'mutation.json');
  if (!existsSync(sampleFile) || !existsSync(reportFile)) throw new Error(`no sample report in ${dir}/ (run npm run mutate:sample first)`);
  const s = JSON.parse(readFileSync(sampleFile, 'utf8'));
  const clusters = s.ranges.map(parseRange);
  const files = readReport(reportFile).files;
  const { per, unassigned } = countByCluster(files, clusters);
  const e = estimate(per, s.population);
  const t = tally(files);
  const statuses = Object.entries(t.counts).sort().map(([st, n]) => `${st} ${n}`).join(', ');
  const lines = [
    `sample ${dir}/ (seed ${s.seed}, drawn at ${s.commit ?? 'unknown commit'}): ${e.k} of ${e.N} clusters (declarations) in ${s.files} files of model/`,
    `not sampled: ${s.outside.length} top-level statement(s) outside any declaration`,
    `mutants: ${statuses || 'none'}`,
    `clusters with a valid mutant: ${per.filter((p) => p.valid > 0).length} of ${e.k}; valid mutants ${e.valid}, detected ${e.detected}`,
  ];
  if (unassigned.length) lines.push(`warning: ${unassigned.length} mutant(s) of the report lie in no sampled cluster and are not counted`);
  const undetected = survivors(files);
  lines.push('', `undetected mutants in the sample (${undetected.length}):`, ...undetected.map((u) => `  ${u}`), '');
  lines.push(
    e.score === null
      ? 'estimated model/ mutation score: no valid mutant in the sample'
      : `estimated model/ mutation score: ${pct(e.score)}, 95% CI ${pct(e.low)} to ${pct(e.high)} (standard error ${e.se === null ? '-' : pct(e.se)}; ratio estimator over ${e.k} of ${e.N} clusters)`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  const summary = {
    seed: s.seed,
    commit: s.commit ?? null,
    population: e.N,
    sampled: e.k,
    files: s.files,
    notSampled: s.outside,
    detected: e.detected,
    valid: e.valid,
    score: e.score,
    standardError: e.se,
    ci95: e.low === null ? null : [e.low, e.high],
    counts: t.counts,
    clusters: clusters.map((c, i) => ({ range: rangeString(c), ...per[i] })),
    unassigned,
    undetected,
  };
  atomicWrite(path.join(ROOT, dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`summary: ${dir}/summary.json; report: ${dir}/index.html\n`);
  return summary;
}

async function main(argv) {
  const program = new Command()
    .name('mutate:sample')
    .description("Estimate the whole model's mutation score from a seeded random sample of its declarations.")
    .option('--clusters <k>', 'declarations to sample', '40')
    .option('--seed <n>', 'PRNG seed; the same seed on the same code draws the same sample', '1')
    .option('--list', 'print the sampled ranges and exit')
    .option('--summary', "run nothing; print the estimate from the seed's existing report")
    .option('--retest-timeouts', "run Stryker again on the seed's existing sample, testing only the mutants that timed out")
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    // Commander has already printed the help.
    if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) return 0;
    process.stderr.write(`mutate:sample: ${(e.message ?? String(e)).replace(/^error: /, '')}\n`);
    return 2;
  }
  const opts = program.opts();
  const fail = (message) => {
    process.stderr.write(`mutate:sample: ${message}\n`);
    return 2;
  };
  if (!/^[1-9]\d*$/.test(opts.clusters)) return fail(`--clusters must be a positive integer, got ${opts.clusters}`);
  if (!/^\d+$/.test(opts.seed) || Number(opts.seed) > 0xffffffff) return fail(`--seed must be an integer from 0 to 4294967295, got ${opts.seed}`);
  if ([opts.list, opts.summary, opts.retestTimeouts].filter(Boolean).length > 1) return fail('--list, --summary and --retest-timeouts cannot be combined');
  const seed = Number(opts.seed);
  const dir = sampleDir(seed);
  if (opts.summary) {
    try {
      summarise(dir);
    } catch (e) {
      return fail(e.message);
    }
    return 0;
  }
  if (opts.retestTimeouts) {
    const incremental = path.join(ROOT, dir, 'stryker-incremental.json');
    if (!existsSync(path.join(ROOT, dir, 'sample.json')) || !existsSync(path.join(ROOT, dir, 'ranges.txt')) || !existsSync(incremental))
      return fail(`no finished sample in ${dir}/ to re-test (run npm run mutate:sample -- --seed ${seed} first)`);
    let n;
    try {
      n = retestTimeouts(incremental);
    } catch (e) {
      return fail(e.message);
    }
    if (n === 0) {
      process.stdout.write(`${dir}: no mutant timed out; nothing to re-test\n`);
      return 0;
    }
    process.stdout.write(`${dir}: ${n} timed-out mutant(s) to re-test\n`);
    return runSample(dir, `${dir}/ranges.txt`);
  }
  let s;
  try {
    s = drawSample(Number(opts.clusters), seed);
  } catch (e) {
    if (e instanceof RangeError) return fail(e.message);
    throw e;
  }
  if (opts.list) {
    process.stdout.write(rangesText(s));
    return 0;
  }
  mkdirSync(path.join(ROOT, dir), { recursive: true });
  const rangesFile = `${dir}/ranges.txt`;
  atomicWrite(path.join(ROOT, rangesFile), rangesText(s));
  const commit = await gitHead();
  atomicWrite(
    path.join(ROOT, dir, 'sample.json'),
    `${JSON.stringify({ seed, commit, population: s.population, files: s.files, outside: s.outside, ranges: s.clusters.map(rangeString) }, null, 2)}\n`,
  );
  process.stdout.write(`${dir}: ${s.clusters.length} of ${s.population} clusters, seed ${seed}; Stryker's output in ${dir}/stryker.log\n`);
  return runSample(dir, rangesFile);
}

/** Stryker on the ranges file, then the estimate; the exit code. */
async function runSample(dir, rangesFile) {
  process.on('SIGINT', () => {
    interrupted = true;
    interruptStryker();
  });
  warnLoad();
  // A report left by an earlier run must not be read as this sample's if Stryker fails.
  rmSync(path.join(ROOT, dir, 'mutation.json'), { force: true });
  const started = Date.now();
  const r = await runStryker(path.basename(dir), path.join(ROOT, dir, 'stryker.log'), { MUTATE_RANGES_FILE: rangesFile });
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  if (interrupted) {
    process.stdout.write(`${dir}: interrupted after ${minutes} min\n`);
    return 130;
  }
  if (r.code !== 0 || !existsSync(path.join(ROOT, dir, 'mutation.json'))) {
    process.stdout.write(`${dir}: Stryker failed (exit ${r.code}) after ${minutes} min; see ${path.relative(ROOT, r.log)}\n`);
    return 1;
  }
  process.stdout.write(`${dir}: Stryker done in ${minutes} min\n`);
  warnLoad();
  process.stdout.write('\n');
  summarise(dir);
  return 0;
}

/** The commit the sample was drawn at, with `+changes` when the tree differs from it. */
function gitHead() {
  const run = (args) =>
    new Promise((resolve) => {
      const p = spawn('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('error', () => resolve(null));
      p.on('close', (code) => resolve(code === 0 ? out.trim() : null));
    });
  return Promise.all([run(['rev-parse', '--short', 'HEAD']), run(['status', '--porcelain', '--', 'model'])]).then(([head, status]) =>
    head === null ? null : `${head}${status ? '+changes' : ''}`,
  );
}

process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
});

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e) => {
      process.stderr.write(`mutate:sample: ${e.message}\n`);
      process.exitCode = 2;
    },
  );
}
