/**
 * `npm run mutate:sample` (mutation/sample.mjs): the clusters it draws from, its seeded sample,
 * its estimate and interval, and its answers to options. None of these runs Stryker.
 *
 * sample.mjs is an ES module and Jest runs this file as CommonJS, which cannot load one on Node
 * 20; so its functions are called in a child Node process (`pure`), their results back as JSON.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = join(__dirname, '..', '..');
const sampleMjs = join(root, 'mutation/sample.mjs');

/** Evaluates `expr` in an ES module where `m` is sample.mjs; returns its value through JSON. */
function pure<T>(expr: string, env: Record<string, string> = {}): T {
  const script = `import * as m from ${JSON.stringify(pathToFileURL(sampleMjs).href)};\nprocess.stdout.write(JSON.stringify(${expr}));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function run(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [sampleMjs, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Pos {
  line: number;
  column: number;
}
interface Cluster {
  file: string;
  start: Pos;
  end: Pos;
  kind: string;
  name: string;
}

describe('cluster enumeration', () => {
  const fixture = [
    /*  1 */ "import { helper } from './helper';",
    /*  2 */ 'export type Id = number;',
    /*  3 */ 'interface Shape { id: Id }',
    /*  4 */ 'export function outer(a: number): number {',
    /*  5 */ '  function inner(b: number) { return b + 1; }',
    /*  6 */ '  const twice = (c: number) => c * 2;',
    /*  7 */ '  return inner(twice(a));',
    /*  8 */ '}',
    /*  9 */ '/** The operations. */',
    /* 10 */ 'export const operations = [',
    /* 11 */ "  { name: 'a', run: () => helper(1) },",
    /* 12 */ '];',
    /* 13 */ 'let counter = 0, limit = 3;',
    /* 14 */ 'export class Box {',
    /* 15 */ '  private items = new Map<string, number>();',
    /* 16 */ '  readonly size: number;',
    /* 17 */ '  constructor(n: number) { this.size = n; }',
    /* 18 */ '  get count(): number { return this.items.size; }',
    /* 19 */ '  put(k: string): void {',
    /* 20 */ '    const key = () => k;',
    /* 21 */ '    this.items.set(key(), 1);',
    /* 22 */ '  }',
    /* 23 */ '}',
    /* 24 */ 'declare const ambient: number;',
    /* 25 */ 'function overload(a: number): number;',
    /* 26 */ 'function overload(a: unknown): unknown { return a; }',
    /* 27 */ "if (counter > limit) throw new Error('too many');",
    /* 28 */ 'export { ambient };',
  ].join('\n');
  const { clusters, outside } = pure<{ clusters: Cluster[]; outside: { file: string; line: number; code: string }[] }>(
    `m.enumerateClusters('model/fixture.ts', ${JSON.stringify(fixture)})`,
  );
  const ranges = pure<string[]>(`m.enumerateClusters('model/fixture.ts', ${JSON.stringify(fixture)}).clusters.map(m.rangeString)`);

  test('every function, class member with code and top-level variable statement, in source order', () => {
    expect(clusters.map((c) => [c.kind, c.name])).toEqual([
      ['function', 'outer'],
      ['variable', 'operations'],
      ['variable', 'counter, limit'],
      ['property', 'Box.items'],
      ['constructor', 'Box.constructor'],
      ['accessor', 'Box.count'],
      ['method', 'Box.put'],
      ['function', 'overload'],
    ]);
  });

  test("ranges in Stryker's syntax: lines from 1, columns from 0, the end just past the last character", () => {
    expect(ranges).toEqual([
      'model/fixture.ts:4:0-8:1',
      'model/fixture.ts:10:0-12:2',
      'model/fixture.ts:13:0-13:27',
      'model/fixture.ts:15:2-15:44',
      'model/fixture.ts:17:2-17:43',
      'model/fixture.ts:18:2-18:49',
      'model/fixture.ts:19:2-22:3',
      'model/fixture.ts:26:0-26:52',
    ]);
    expect(pure<Cluster>(`m.parseRange('model/fixture.ts:19:2-22:3')`)).toEqual({ file: 'model/fixture.ts', start: { line: 19, column: 2 }, end: { line: 22, column: 3 } });
  });

  test('nested functions are inside their enclosing cluster; signatures, types and ambient code are none', () => {
    expect(clusters.map((c) => c.name)).not.toContain('inner');
    expect(clusters.map((c) => c.name)).not.toContain('twice');
    expect(clusters.map((c) => c.name)).not.toContain('key');
    expect(clusters.filter((c) => c.name === 'overload')).toHaveLength(1);
    expect(clusters.some((c) => c.name === 'ambient' || c.name === 'Box.size')).toBe(false);
  });

  test('a top-level statement outside any declaration is reported, not sampled', () => {
    expect(outside).toEqual([{ file: 'model/fixture.ts', line: 27, code: "if (counter > limit) throw new Error('too many');" }]);
  });

  test("the model's own clusters do not overlap", () => {
    const all = pure<Cluster[]>('m.modelClusters().clusters');
    expect(all.length).toBeGreaterThan(100);
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1], all[i]];
      if (a.file !== b.file) continue;
      expect(a.end.line < b.start.line || (a.end.line === b.start.line && a.end.column <= b.start.column)).toBe(true);
    }
  });
});

describe('the seeded sample', () => {
  test('the same seed draws the same sample; another seed another', () => {
    const [a, b, c] = pure<number[][]>('[m.sampleIndices(1000, 40, 1), m.sampleIndices(1000, 40, 1), m.sampleIndices(1000, 40, 2)]');
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  test('without replacement: distinct indices in range, in increasing order; k = n takes all', () => {
    const [a, all] = pure<number[][]>('[m.sampleIndices(50, 45, 7), m.sampleIndices(12, 12, 3)]');
    expect(a).toHaveLength(45);
    expect(new Set(a).size).toBe(45);
    expect(a.every((i) => Number.isInteger(i) && i >= 0 && i < 50)).toBe(true);
    expect([...a].sort((x, y) => x - y)).toEqual(a);
    expect(all).toEqual([...Array(12).keys()]);
    expect(pure<string[]>("m.sample(['p', 'q', 'r', 's'], 2, 5)")).toHaveLength(2);
  });

  test('uniform: over 4000 seeds each of 5 items is drawn in about 2 of 5 samples', () => {
    const freq = pure<number[]>(
      'Array.from({ length: 4000 }, (_, s) => m.sampleIndices(5, 2, s)).flat().reduce((f, i) => (f[i]++, f), [0, 0, 0, 0, 0])',
    );
    // Expected 1600 each; the binomial's standard deviation is 31.
    for (const f of freq) expect(Math.abs(f - 1600)).toBeLessThan(130);
  });
});

describe('the estimate', () => {
  interface Estimate {
    N: number;
    k: number;
    detected: number;
    valid: number;
    score: number | null;
    se: number | null;
    low: number | null;
    high: number | null;
  }
  const est = (per: [number, number][], N: number) =>
    pure<Estimate>(`m.estimate(${JSON.stringify(per.map(([detected, valid]) => ({ detected, valid })))}, ${N})`);

  test('ratio estimate and 95% interval with the finite population correction, by hand', () => {
    // R = 16/20 = 0.8; residuals d - R v: -0.2, 1, -1.6, 0.8, squares sum 4.24, over k-1: 4.24/3;
    // vbar = 5; var = (1 - 4/10) / (4 * 25) * 4.24/3 = 0.00848; se = 0.0920869; 1.96 se = 0.180487.
    const e = est(
      [
        [3, 4],
        [5, 5],
        [0, 2],
        [8, 9],
      ],
      10,
    );
    expect(e).toMatchObject({ N: 10, k: 4, detected: 16, valid: 20, score: 0.8 });
    expect(e.se).toBeCloseTo(Math.sqrt(0.00848), 12);
    expect(e.low).toBeCloseTo(0.619513, 5);
    expect(e.high).toBeCloseTo(0.980487, 5);
  });

  test('the interval is clipped to [0, 1]', () => {
    // R = 10/11; residuals +-10/11; var = (1 - 2/100) / (2 * 5.5^2) * 2 (10/11)^2 = 0.0267750.
    const e = est(
      [
        [10, 10],
        [0, 1],
      ],
      100,
    );
    expect(e.score).toBeCloseTo(10 / 11, 12);
    expect(e.se).toBeCloseTo(Math.sqrt(0.98 / 60.5 * 2 * (10 / 11) ** 2), 12);
    expect(e.low).toBeCloseTo(10 / 11 - 1.959964 * (e.se as number), 5);
    expect(e.high).toBe(1);
  });

  test('a census has no sampling error; one cluster has no interval; no valid mutant has no score', () => {
    expect(est([[1, 2], [3, 3]], 2)).toMatchObject({ score: 0.8, se: 0, low: 0.8, high: 0.8 });
    expect(est([[1, 2]], 9)).toMatchObject({ score: 0.5, se: null, low: null, high: null });
    expect(est([[0, 0], [0, 0]], 9)).toMatchObject({ score: null, se: null });
  });

  test("a report's mutants are counted in the cluster that holds them (report columns count from 1)", () => {
    const clusters = ['a.ts:2:0-4:1', 'a.ts:6:2-6:20', 'b.ts:1:0-1:10'];
    const mutant = (status: string, sl: number, sc: number, el: number, ec: number) => ({ status, location: { start: { line: sl, column: sc }, end: { line: el, column: ec } } });
    const files = {
      'a.ts': {
        mutants: [
          mutant('Killed', 2, 1, 4, 2), // the whole of 2:0-4:1
          mutant('Survived', 3, 5, 3, 9),
          mutant('Ignored', 3, 1, 3, 3),
          mutant('Timeout', 6, 3, 6, 21), // the whole of 6:2-6:20
          mutant('NoCoverage', 6, 3, 6, 22), // one past its end
          mutant('CompileError', 6, 4, 6, 6),
        ],
      },
      'b.ts': { mutants: [mutant('Killed', 1, 1, 1, 3), mutant('Survived', 2, 1, 2, 3)] },
    };
    const r = pure<{ per: { detected: number; valid: number; counts: Record<string, number> }[]; unassigned: unknown[] }>(
      `m.countByCluster(${JSON.stringify(files)}, ${JSON.stringify(clusters)}.map(m.parseRange))`,
    );
    expect(r.per).toEqual([
      { detected: 1, valid: 2, counts: { Killed: 1, Survived: 1, Ignored: 1 } },
      { detected: 1, valid: 1, counts: { Timeout: 1, CompileError: 1 } },
      { detected: 1, valid: 1, counts: { Killed: 1 } },
    ]);
    expect(r.unassigned).toEqual([
      { file: 'a.ts', line: 6, column: 3, status: 'NoCoverage' },
      { file: 'b.ts', line: 2, column: 1, status: 'Survived' },
    ]);
  });
});

describe('stryker.config.mjs with MUTATE_RANGES_FILE', () => {
  test("mutates the file's ranges and writes the reports and incremental file next to it", () => {
    const dir = join(root, '.scratch', `ranges-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, 'ranges.txt'), '# a comment\nmodel/mmu/tlb.ts:61:2-63:3\n\nmodel/world.ts:1:0-2:1\n');
      const script = `import c from ${JSON.stringify(pathToFileURL(join(root, 'stryker.config.mjs')).href)}; process.stdout.write(JSON.stringify(c));`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, MUTATE_RANGES_FILE: join(dir, 'ranges.txt') },
      });
      expect(r.status).toBe(0);
      const c = JSON.parse(r.stdout);
      const rel = `.scratch/ranges-${process.pid}`;
      expect(c.mutate).toEqual(['model/mmu/tlb.ts:61:2-63:3', 'model/world.ts:1:0-2:1']);
      expect(c.incrementalFile).toBe(`${rel}/stryker-incremental.json`);
      expect(c.jsonReporter.fileName).toBe(`${rel}/mutation.json`);
      expect(c.htmlReporter.fileName).toBe(`${rel}/index.html`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the command line', () => {
  test('--help prints the usage once and exits 0', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.out.match(/^Usage: mutate:sample/gm)).toHaveLength(1);
    expect(r.out).toContain('--clusters <k>');
  });

  test('--list prints the sample, the same for the same seed, without running Stryker', () => {
    const a = run('--list', '--clusters', '12', '--seed', '3');
    const b = run('--list', '--clusters', '12', '--seed', '3');
    const c = run('--list', '--clusters', '12', '--seed', '4');
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    expect(a.out).not.toBe(c.out);
    const lines = a.out.trim().split('\n');
    expect(lines[0]).toMatch(/^# seed 3: 12 of \d+ clusters \(declarations\) in \d+ files of model\/$/);
    expect(lines[1]).toMatch(/^# not sampled: \d+ top-level statement\(s\) outside any declaration/);
    const ranges = lines.filter((l) => !l.startsWith('#'));
    expect(ranges).toHaveLength(12);
    expect(new Set(ranges).size).toBe(12);
    for (const range of ranges) {
      const m = /^(model\/.+\.ts):(\d+):(\d+)-(\d+):(\d+)$/.exec(range);
      expect(m).not.toBeNull();
      expect(m![1].endsWith('.test.ts')).toBe(false);
      expect(existsSync(join(root, m![1]))).toBe(true);
    }
    expect(existsSync(join(root, 'reports/mutation/sample-3'))).toBe(false);
  });

  test('--summary prints the estimate from a report and writes summary.json', () => {
    const seed = '4294967290';
    const dir = join(root, `reports/mutation/sample-${seed}`);
    mkdirSync(dir, { recursive: true });
    try {
      const ranges = ['model/a.ts:1:0-1:20', 'model/a.ts:3:0-5:1', 'model/b.ts:2:2-4:3'];
      writeFileSync(join(dir, 'sample.json'), JSON.stringify({ seed: Number(seed), commit: 'abc1234', population: 30, files: 2, outside: [], ranges }));
      const m = (status: string, line: number, column: number) => ({ id: `${line}.${column}`, mutatorName: 'ConditionalExpression', replacement: 'true', status, location: { start: { line, column }, end: { line, column: column + 1 } } });
      const report = {
        schemaVersion: '1',
        files: {
          'model/a.ts': { language: 'typescript', source: '', mutants: [m('Killed', 1, 2), m('Survived', 1, 4), m('Killed', 4, 1), m('Timeout', 4, 3)] },
          'model/b.ts': { language: 'typescript', source: '', mutants: [m('Killed', 3, 5), m('NoCoverage', 3, 7), m('Ignored', 3, 9)] },
        },
      };
      writeFileSync(join(dir, 'mutation.json'), JSON.stringify(report));
      const r = run('--summary', '--seed', seed);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      // d = (1, 2, 1), v = (2, 2, 2): R = 4/6; residuals -1/3, 2/3, -1/3, squares 2/3, over 2: 1/3;
      // vbar = 2; var = (1 - 3/30) / (3 * 4) / 3 = 0.025; se = 0.158114; 1.96 se = 0.309903.
      expect(r.out).toContain('estimated model/ mutation score: 66.67%, 95% CI 35.68% to 97.66% (standard error 15.81%');
      expect(r.out).toContain('mutants: Ignored 1, Killed 3, NoCoverage 1, Survived 1, Timeout 1');
      expect(r.out).toContain('model/a.ts:1:4\tSurvived\tConditionalExpression\t"true"');
      expect(r.out).toContain('model/b.ts:3:7\tNoCoverage');
      const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
      expect(summary).toMatchObject({ seed: Number(seed), population: 30, sampled: 3, detected: 4, valid: 6, unassigned: [] });
      expect(summary.ci95[0]).toBeCloseTo(0.356768, 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    [['--bogus'], "mutate:sample: unknown option '--bogus'"],
    [['--clusters', '0'], 'mutate:sample: --clusters must be a positive integer, got 0'],
    [['--clusters', '3x'], 'mutate:sample: --clusters must be a positive integer, got 3x'],
    [['--clusters', '1000000', '--list'], 'mutate:sample: --clusters must be at most '],
    [['--seed', 'x'], 'mutate:sample: --seed must be an integer from 0 to 4294967295, got x'],
    [['--seed', '4294967296'], 'mutate:sample: --seed must be an integer from 0 to 4294967295, got 4294967296'],
    [['--list', '--summary'], 'mutate:sample: --list, --summary and --retest-timeouts cannot be combined'],
    [['--summary', '--retest-timeouts'], 'mutate:sample: --list, --summary and --retest-timeouts cannot be combined'],
    [['--retest-timeouts', '--seed', '4294967295'], 'mutate:sample: no finished sample in reports/mutation/sample-4294967295/ to re-test'],
    [['--summary', '--seed', '4294967295'], 'mutate:sample: no sample report in reports/mutation/sample-4294967295/'],
  ])('%j is refused in one line with exit 2', (args, message) => {
    const r = run(...args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.err.startsWith(message)).toBe(true);
  });
});

describe('re-testing timeouts', () => {
  /** A finished sample's files with the given incremental file text; returns the seed and cleans up after `body`. */
  function withSample(incremental: string, body: (seed: string) => void): void {
    const seed = '4294967291';
    const dir = join(root, `reports/mutation/sample-${seed}`);
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, 'sample.json'), JSON.stringify({ seed: Number(seed), commit: 'abc1234', population: 30, files: 1, outside: [], ranges: ['model/a.ts:1:0-1:20'] }));
      writeFileSync(join(dir, 'ranges.txt'), 'model/a.ts:1:0-1:20\n');
      writeFileSync(join(dir, 'stryker-incremental.json'), incremental);
      body(seed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('a sample without timeouts has nothing to re-test: exit 0, Stryker not run, the incremental file untouched', () => {
    const text = JSON.stringify({ schemaVersion: '1', files: { 'model/a.ts': { source: '', mutants: [{ id: '1', status: 'Survived' }] } } });
    withSample(text, (seed) => {
      const r = run('--retest-timeouts', '--seed', seed);
      expect(r).toMatchObject({ code: 0, err: '' });
      expect(r.out).toBe(`reports/mutation/sample-${seed}: no mutant timed out; nothing to re-test\n`);
      expect(readFileSync(join(root, `reports/mutation/sample-${seed}/stryker-incremental.json`), 'utf8')).toBe(text);
      expect(existsSync(join(root, `reports/mutation/sample-${seed}/stryker.log`))).toBe(false);
    });
  });

  test('a malformed incremental file is refused in one line with exit 2', () => {
    withSample('{ not json', (seed) => {
      const r = run('--retest-timeouts', '--seed', seed);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.err.startsWith(`mutate:sample: reports/mutation/sample-${seed}/stryker-incremental.json is not Stryker's incremental report: `)).toBe(true);
    });
  });
});
