/**
 * The two pieces that make mutation runs affordable (jest.stryker.config.js) do what they
 * claim. The test plays Stryker's part: an initial run with no active mutant, then mutant
 * runs with `__STRYKER_ACTIVE_MUTANT__` set and the covering tests as a name pattern.
 * - mutation/bail-environment.cjs skips a mutant's remaining tests after its first failure,
 *   and records the test names in the initial run.
 * - mutation/fast-first-sequencer.cjs runs smaller files first and loads only the files that
 *   hold a covering test.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mutation-runner-'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{}');
  // a.test.js is the larger file, so it runs second.
  writeFileSync(join(dir, 'a.test.js'), "test('a fails', () => { expect(1).toBe(2); });\ntest('a passes', () => { expect(1).toBe(1); });\n// padding to make this file the larger one\n");
  writeFileSync(join(dir, 'b.test.js'), "test('b passes', () => { expect(1).toBe(1); });\n");
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  readonly files: string[];
  readonly tests: Record<string, string>;
}

/** Runs jest in `dir` as Stryker's test runner would; `mutant` is the active mutant, if any. */
function jest(mutant: string | undefined, args: string[] = []): Outcome {
  const env: NodeJS.ProcessEnv = { ...process.env, STRYKER_MUTATOR_WORKER: '1' };
  delete env.__STRYKER_ACTIVE_MUTANT__;
  if (mutant !== undefined) env.__STRYKER_ACTIVE_MUTANT__ = mutant;
  const r = spawnSync(
    process.execPath,
    [join(root, 'node_modules/jest/bin/jest.js'), '--config', '{}', '--rootDir', dir, '--runInBand', '--json', '--testEnvironment', join(root, 'mutation/bail-environment.cjs'), '--testSequencer', join(root, 'mutation/fast-first-sequencer.cjs'), ...args],
    { cwd: dir, encoding: 'utf8', env },
  );
  const report = JSON.parse(r.stdout) as { testResults: { name: string; assertionResults: { title: string; status: string }[] }[] };
  const tests: Record<string, string> = {};
  for (const f of report.testResults) for (const t of f.assertionResults) tests[t.title] = t.status;
  return { files: report.testResults.map((f) => f.name.slice(dir.length + 1)), tests };
}

test('a mutant run skips the tests after the first failure; the initial run records names and skips nothing', () => {
  const initial = jest(undefined);
  expect(initial.tests).toEqual({ 'b passes': 'passed', 'a fails': 'failed', 'a passes': 'passed' });
  const mutant = jest('7');
  expect(mutant.files).toEqual(['b.test.js', 'a.test.js']);
  expect(mutant.tests).toEqual({ 'b passes': 'passed', 'a fails': 'failed', 'a passes': 'pending' });
});

test('a mutant run loads only the files that hold its covering tests', () => {
  jest(undefined);
  const run = jest('8', ['--testNamePattern', '(b passes)']);
  expect(run.files).toEqual(['b.test.js']);
  expect(run.tests).toEqual({ 'b passes': 'passed' });
});
