/**
 * `npm run mutate:all` (mutation/overnight.mjs) answers its options before it starts a night's
 * work: help once, the chunk list, and a one-line error with exit 2 for an unknown option, an
 * unknown chunk, a bad concurrency or a malformed incremental file to re-test. Also its
 * helpers for timeouts (shared with mutate:sample). None of these runs Stryker.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = join(__dirname, '..', '..');

function run(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(root, 'mutation/overnight.mjs'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--help prints the usage once and exits 0', () => {
  const r = run('--help');
  expect(r.code).toBe(0);
  expect(r.out.match(/^Usage: mutate:all/gm)).toHaveLength(1);
  expect(r.out).toContain('--only <chunks>');
});

test('--list prints one chunk per directory of model/, then model/ itself', () => {
  const dirs = readdirSync(join(root, 'model'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => `model/${d.name}`).sort();
  const r = run('--list');
  expect(r.code).toBe(0);
  expect(r.out.trim().split('\n')).toEqual([...dirs, 'model']);
});

test.each([
  [['--bogus'], "mutate:all: unknown option '--bogus'"],
  [['--only', 'model/mmu,model/nope'], 'mutate:all: unknown chunk model/nope (chunks: '],
  [['--concurrency', '0'], 'mutate:all: --concurrency must be a positive integer, got 0'],
  [['--summary', '--retest-timeouts'], 'mutate:all: --summary and --retest-timeouts cannot be combined'],
])('%j is refused in one line with exit 2', (args, message) => {
  const r = run(...args);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
  expect(r.err.startsWith(message)).toBe(true);
});

/** Evaluates `expr` in an ES module where `m` is overnight.mjs (Jest's CommonJS cannot load it on Node 20). */
function pure<T>(expr: string): T {
  const script = `import * as m from ${JSON.stringify(pathToFileURL(join(root, 'mutation/overnight.mjs')).href)};\nprocess.stdout.write(JSON.stringify(${expr}));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('timeouts', () => {
  test('dropTimeouts removes only the Timeout mutants, file by file, and counts them', () => {
    const m = (id: string, status: string) => ({ id, status });
    const report = { schemaVersion: '1', files: { 'model/a.ts': { source: 'x', mutants: [m('1', 'Killed'), m('2', 'Timeout'), m('3', 'Survived')] }, 'model/b.ts': { source: 'y', mutants: [m('4', 'Timeout')] } } };
    const r = pure<{ report: typeof report; dropped: number }>(`m.dropTimeouts(${JSON.stringify(report)})`);
    expect(r.dropped).toBe(2);
    expect(r.report).toEqual({ schemaVersion: '1', files: { 'model/a.ts': { source: 'x', mutants: [m('1', 'Killed'), m('3', 'Survived')] }, 'model/b.ts': { source: 'y', mutants: [] } } });
  });

  test('a run warns when the load average is above the cores, not at or below', () => {
    expect(pure<(string | null)[]>('[m.loadWarning(2, 2), m.loadWarning(0.5, 2), m.loadWarning(5.24, 2)]')).toEqual([
      null,
      null,
      'warning: load average 5.2 on 2 cores: a surviving mutant may time out and count as detected; re-test the timeouts on a quiet machine (--retest-timeouts)',
    ]);
  });

  test("--retest-timeouts refuses a chunk's malformed incremental file in one line with exit 2, before running anything", () => {
    const dir = join(root, 'reports/mutation/chunks/model_paging');
    const file = join(dir, 'stryker-incremental.json');
    const kept = existsSync(file) ? readFileSync(file, 'utf8') : null;
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(file, '{ not json');
      const r = run('--retest-timeouts', '--only', 'model/paging');
      expect(r.code).toBe(2);
      // Nothing ran: no chunk's progress line.
      expect(r.out).toBe('');
      expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.err.startsWith("mutate:all: reports/mutation/chunks/model_paging/stryker-incremental.json is not Stryker's incremental report: ")).toBe(true);
    } finally {
      if (kept === null) rmSync(file, { force: true });
      else writeFileSync(file, kept);
    }
  });
});

test('applyListedReplacements counts as Ignored only the undetected mutant of that line, code and replacement', () => {
  const loc = (line: number, column: number) => ({ start: { line, column }, end: { line, column: column + 5 } });
  const m = (id: string, status: string, line: number, column: number, replacement: string) => ({ id, status, location: loc(line, column), replacement });
  const files = {
    'model/a.ts': {
      source: 'let x = 0;\nfor (let i = 0; i < n; i++) f();',
      mutants: [m('1', 'Survived', 2, 17, 'i <= n'), m('2', 'Killed', 2, 17, 'false'), m('3', 'Survived', 2, 17, 'true'), m('4', 'Killed', 2, 17, 'i <= n'), m('5', 'Survived', 1, 9, 'i <= n')],
    },
  };
  const entries = [
    { file: 'model/a.ts', line: 2, code: 'i < n', replacement: 'i <= n', reason: 'never reached' },
    { file: 'model/b.ts', line: 2, code: 'i < n', replacement: 'i <= n', reason: 'no such file in the report' },
    { file: 'model/a.ts', line: 2, code: 'j < n', replacement: 'true', reason: 'code not at the mutant' },
  ];
  const r = pure<{ n: number; files: typeof files }>(`(() => { const f = ${JSON.stringify(files)}; const n = m.applyListedReplacements(f, ${JSON.stringify(entries)}); return { n, files: f }; })()`);
  expect(r.n).toBe(1);
  const mutants = r.files['model/a.ts'].mutants as { id: string; status: string; statusReason?: string }[];
  expect(mutants.map((x) => x.status)).toEqual(['Ignored', 'Killed', 'Survived', 'Killed', 'Survived']);
  expect(mutants[0]!.statusReason).toBe('equivalent: never reached');
});
