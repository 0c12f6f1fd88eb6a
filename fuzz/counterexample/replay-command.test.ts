import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { runReplay } from './replay-command';
import { renderRegressionTest } from './emit-test';
import { sideBySide } from './trace-format';
import { loadCounterexample } from './load';
import { createFakeEngine, FAKE_ENGINE_PATH } from '../testing/fake-engine';
import { fakeRef, tmpDir } from '../testing/helpers';

const GOOD = path.join(__dirname, '..', 'testing', 'fixtures', 'good-counterexample.json');
const BAD = path.join(__dirname, '..', 'testing', 'fixtures', 'bad-counterexample.json');

function replay(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const ref = fakeRef();
  const code = runReplay(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), loadEngine: () => ref });
  return { code, stdout, stderr };
}

test('exit 1 when the violation reproduces; the trace is printed step by step', () => {
  const { code, stdout } = replay(GOOD);
  expect(code).toBe(1);
  expect(stdout).toContain('  #0 balloon.inflate pages=40 -> ok');
  expect(stdout).toContain('  #1 mmu.map vpn=3 gfn=7 -> ok');
  expect(stdout).toContain('  VIOLATION balloon.accounting (leak) at step 2: deflated pages not returned');
  expect(stdout).toMatch(/expected +\| actual\n.*\n +334 pages returned +\| 0 pages returned/);
  expect(stdout).toContain('replay: the violation reproduces: balloon.accounting (leak) at step 2');
  expect(stdout).not.toContain('balloon: +40 pages');
});

test('--verbose shows what each step changed', () => {
  expect(replay(GOOD, '--verbose').stdout).toContain('  #0 balloon.inflate pages=40 -> ok\n      balloon: +40 pages (40)');
});

test('--no-faults replays on the correct model: exit 0', () => {
  const { code, stdout } = replay(GOOD, '--no-faults');
  expect(code).toBe(0);
  expect(stdout).toContain('faults: none (the correct model) (recorded: balloon-leak)');
  expect(stdout).toContain('replay: the trace passes on the correct model');
});

test('a bad file exits 2 with one line naming the file and the JSON path', () => {
  const { code, stderr, stdout } = replay(BAD);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toBe(`replay: ${BAD}: $.operations[1]: unknown operation kind "mmu.teleport"\n`);
  expect(replay().code).toBe(2);
  expect(replay(GOOD, '--fast').stderr).toBe("replay: unknown option '--fast'\n");
});

test('--help documents the options with examples', () => {
  const { code, stdout } = replay('--help');
  expect(code).toBe(0);
  for (const o of ['--verbose', '--no-faults', '--emit-test']) expect(stdout).toContain(o);
  expect(stdout).toContain('npm run replay -- ');
});

test('sideBySide pads and wraps both columns', () => {
  expect(sideBySide('a\nbb', 'ccc', 4)).toEqual(['expected | actual', '-----+-----', 'a    | ccc', 'bb   | ']);
});

/**
 * Runs an emitted test file without spawning jest: transpiled with TypeScript, its imports
 * resolved by Node, `describe`/`test` collected and run here, `expect` is jest's own.
 */
function runEmitted(file: string): { names: string[]; errors: unknown[] } {
  const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
  const tests: { name: string; fn: () => void }[] = [];
  const req = (spec: string) => require(path.resolve(path.dirname(file), spec));
  const shimDescribe = (_: string, body: () => void) => body();
  const shimTest = (name: string, fn: () => void) => tests.push({ name, fn });
  new Function('require', 'exports', 'describe', 'test', 'expect', js)(req, {}, shimDescribe, shimTest, expect);
  const errors: unknown[] = [];
  for (const t of tests) {
    try {
      t.fn();
    } catch (err) {
      errors.push(err);
    }
  }
  return { names: tests.map((t) => t.name), errors };
}

test('--emit-test writes a jest test that replays the trace and expects the violation', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'leak.test.ts');
  const { code, stdout } = replay(GOOD, '--emit-test', out);
  expect(code).toBe(1);
  expect(stdout).toContain(`replay: wrote ${out}`);
  const text = fs.readFileSync(out, 'utf8');
  expect(text).toContain('import { replay } from "');
  expect(text).toContain('"kind": "balloon.deflate"');

  // The same file, importing the fake engine instead of fuzz/engine, run for real.
  const cx = loadCounterexample(GOOD, createFakeEngine());
  const runnable = path.join(dir, 'fake.test.ts');
  fs.writeFileSync(runnable, renderRegressionTest(cx, runnable, { enginePath: FAKE_ENGINE_PATH, sourceFile: GOOD }));
  const result = runEmitted(runnable);
  expect(result.names).toEqual(['with faults balloon-leak, balloon.accounting is still violated', 'on the correct model (no faults) the trace passes']);
  expect(result.errors).toEqual([]);

  // It fails when the fault no longer breaks the property (the detector regressed).
  const broken = path.join(dir, 'broken.test.ts');
  fs.writeFileSync(broken, renderRegressionTest({ ...cx, faults: ['tlb-skip-flush'] }, broken, { enginePath: FAKE_ENGINE_PATH, sourceFile: GOOD }));
  expect(runEmitted(broken).errors).toHaveLength(1);
});

test('a trace found without faults emits a test that the fix must make pass', () => {
  const cx = { ...loadCounterexample(GOOD, createFakeEngine()), faults: [] };
  const dir = tmpDir();
  const file = path.join(dir, 'bug.test.ts');
  fs.writeFileSync(file, renderRegressionTest(cx, file, { enginePath: FAKE_ENGINE_PATH, sourceFile: 'bug.json' }));
  const result = runEmitted(file);
  expect(result.names).toHaveLength(1);
  expect(result.errors).toEqual([]);
});
