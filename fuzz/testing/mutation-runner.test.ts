/**
 * The two pieces that make mutation runs affordable (jest.stryker.config.js) do what they
 * claim. The test plays Stryker's part: an initial run with no active mutant, then mutant
 * runs with `__STRYKER_ACTIVE_MUTANT__` set and the covering tests as a name pattern.
 * - mutation/bail-environment.cjs skips a mutant's remaining tests after its first failure,
 *   and records the test names and times in the initial run.
 * - mutation/bail-runner.cjs loads no further test file once the mutant has failed a test.
 * - mutation/fast-first-sequencer.cjs loads only the files that hold a covering test, and
 *   runs the files beside the mutated file first, then the cheapest.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const root = join(__dirname, '..', '..');
const dirs: string[] = [];

/** A throwaway jest project holding `files` (path -> text). */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mutation-runner-'));
  dirs.push(dir);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{}');
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  return dir;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Outcome {
  readonly files: string[];
  readonly tests: Record<string, string>;
}

/** Runs jest in `dir` as Stryker's test runner would; `mutant` is the active mutant, if any. */
function jest(dir: string, mutant: string | undefined, args: string[] = []): Outcome {
  const env: NodeJS.ProcessEnv = { ...process.env, STRYKER_MUTATOR_WORKER: '1' };
  delete env.__STRYKER_ACTIVE_MUTANT__;
  if (mutant !== undefined) env.__STRYKER_ACTIVE_MUTANT__ = mutant;
  const r = spawnSync(
    process.execPath,
    [join(root, 'node_modules/jest/bin/jest.js'), '--config', '{}', '--rootDir', dir, '--runInBand', '--json', '--testEnvironment', join(root, 'mutation/bail-environment.cjs'), '--testSequencer', join(root, 'mutation/fast-first-sequencer.cjs'), '--runner', join(root, 'mutation/bail-runner.cjs'), ...args],
    { cwd: dir, encoding: 'utf8', env },
  );
  const report = JSON.parse(r.stdout) as { testResults: { name: string; assertionResults: { title: string; status: string }[] }[] };
  const tests: Record<string, string> = {};
  for (const f of report.testResults) for (const t of f.assertionResults) tests[t.title] = t.status;
  return { files: report.testResults.map((f) => f.name.slice(dir.length + 1)), tests };
}

const twoFiles = () =>
  project({
    // a.test.js is the larger file, so it runs second.
    'a.test.js': "test('a fails', () => { expect(1).toBe(2); });\ntest('a passes', () => { expect(1).toBe(1); });\n// padding to make this file the larger one\n",
    'b.test.js': "test('b passes', () => { expect(1).toBe(1); });\n",
  });

test('a mutant run skips the tests after the first failure; the initial run records names and times and skips nothing', () => {
  const dir = twoFiles();
  const initial = jest(dir, undefined);
  expect(initial.tests).toEqual({ 'b passes': 'passed', 'a fails': 'failed', 'a passes': 'passed' });
  const recorded = JSON.parse(readFileSync(join(dir, '.mutation-test-names.json'), 'utf8')) as Record<string, Record<string, number>>;
  expect(Object.fromEntries(Object.entries(recorded).map(([f, ts]) => [f.slice(dir.length + 1), Object.keys(ts).sort()]))).toEqual({
    'a.test.js': ['a fails', 'a passes'],
    'b.test.js': ['b passes'],
  });
  for (const ts of Object.values(recorded)) for (const ms of Object.values(ts)) expect(ms).toBeGreaterThanOrEqual(0);
  // The cheapest file runs first; the times just recorded are a millisecond or two each, so fix
  // them (b cheaper) to make the order, and so which tests the first failure skips, certain.
  const fixed = Object.fromEntries(Object.entries(recorded).map(([f, ts]) => [f, Object.fromEntries(Object.keys(ts).map((t) => [t, f.endsWith('a.test.js') ? 50 : 1]))]));
  writeFileSync(join(dir, '.mutation-test-names.json'), JSON.stringify(fixed));
  const mutant = jest(dir, '7');
  expect(mutant.files).toEqual(['b.test.js', 'a.test.js']);
  expect(mutant.tests).toEqual({ 'b passes': 'passed', 'a fails': 'failed', 'a passes': 'pending' });
});

test('a mutant run loads no test file after the one that killed it; the initial run loads every file', () => {
  const dir = project({
    'a.test.js': "test('a fails', () => { expect(1).toBe(2); });\n",
    'b.test.js': "test('b passes', () => { expect(1).toBe(1); });\n",
    'c.test.js': "test('c passes', () => { expect(1).toBe(1); });\n",
  });
  const initial = jest(dir, undefined);
  expect(initial.files.sort()).toEqual(['a.test.js', 'b.test.js', 'c.test.js']);
  const ms = { 'a.test.js': { 'a fails': 1 }, 'b.test.js': { 'b passes': 5 }, 'c.test.js': { 'c passes': 9 } };
  writeFileSync(join(dir, '.mutation-test-names.json'), JSON.stringify(Object.fromEntries(Object.entries(ms).map(([f, t]) => [join(dir, f), t]))));
  const killed = jest(dir, '11');
  expect(killed.files).toEqual(['a.test.js']);
  expect(killed.tests).toEqual({ 'a fails': 'failed' });
  // Another mutant starts afresh: every file is loaded again until one of its tests fails.
  const survivor = jest(dir, '12', ['--testNamePattern', '(b passes)|(c passes)']);
  expect(survivor.files).toEqual(['b.test.js', 'c.test.js']);
  expect(survivor.tests).toEqual({ 'b passes': 'passed', 'c passes': 'passed' });
});

test('a mutant run loads only the files that hold its covering tests', () => {
  const dir = twoFiles();
  jest(dir, undefined);
  const run = jest(dir, '8', ['--testNamePattern', '(b passes)']);
  expect(run.files).toEqual(['b.test.js']);
  expect(run.tests).toEqual({ 'b passes': 'passed' });
});

test('a mutant run takes the test named after the mutated file first, then its directory, then the cheapest covering tests; a static mutant too', () => {
  const uses = (name: string, from: string) => `const t = require('${from}');\ntest('${name}', () => { expect(t.twice(2)).toBe(4); });\n`;
  const dir = project({
    'src/thing.js': 'exports.twice = (n) => n * 2;\n',
    'src/thing.test.js': uses('thing', './thing'),
    'src/other.test.js': uses('other', './thing'),
    'far-cheap.test.js': uses('far cheap', './src/thing'),
    'far-dear.test.js': uses('far dear', './src/thing'),
  });
  const ms = { 'src/thing.test.js': { thing: 900 }, 'src/other.test.js': { other: 500 }, 'far-cheap.test.js': { 'far cheap': 1 }, 'far-dear.test.js': { 'far dear': 50 } };
  writeFileSync(join(dir, '.mutation-test-names.json'), JSON.stringify(Object.fromEntries(Object.entries(ms).map(([f, t]) => [join(dir, f), t]))));
  const run = jest(dir, '9', ['--findRelatedTests', 'src/thing.js', '--testNamePattern', '(thing)|(other)|(far cheap)|(far dear)']);
  expect(run.files).toEqual(['src/thing.test.js', 'src/other.test.js', 'far-cheap.test.js', 'far-dear.test.js']);
  // A static mutant comes with no name pattern: every file runs, in the same order.
  const all = jest(dir, '10', ['--findRelatedTests', 'src/thing.js']);
  expect(all.files).toEqual(['src/thing.test.js', 'src/other.test.js', 'far-cheap.test.js', 'far-dear.test.js']);
});
