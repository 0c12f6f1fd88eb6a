import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, gaps, main, parseExplanations, render, type Report } from './coverage-gaps';

const ROOT = '/repo';
const WALK = '/repo/model/mmu/walk.ts';
const SOURCE = [
  'export function walk(x: number): number {', // 1
  '  if (x < 0) return -1;', // 2
  '  if (x > 9) {', // 3
  '    return;', // 4
  '  }', // 5
  '  if (x === 5) {', // 6
  '    return;', // 7
  '  }', // 8
  '  return x;', // 9
  '}', // 10
].join('\n');

const loc = (l1: number, c1: number, l2: number, c2: number) => ({ start: { line: l1, column: c1 }, end: { line: l2, column: c2 } });

/** One file, four arms: taken, `return -1;` untaken, two untaken `return;` with different code after them. */
function report(): Report {
  return {
    [WALK]: {
      branchMap: {
        '0': { type: 'branch', loc: loc(1, 0, 10, 1), locations: [loc(1, 0, 10, 1)] },
        '1': { type: 'branch', loc: loc(2, 13, 2, 23), locations: [loc(2, 13, 2, 23)] },
        '2': { type: 'branch', loc: loc(3, 14, 5, 3), locations: [loc(4, 4, 4, 11)] },
        '3': { type: 'branch', loc: loc(6, 16, 8, 3), locations: [loc(7, 4, 7, 11)] },
      },
      b: { '0': [3], '1': [0], '2': [0], '3': [0] },
    },
  };
}

const read = (p: string) => (p === WALK ? SOURCE : undefined);

describe('gaps', () => {
  test('lists exactly the untaken arms, with range, relative file and the text from the start column', () => {
    const list = gaps(report(), ROOT, read);
    expect(list.map((g) => [g.file, `${g.start.line}:${g.start.column}-${g.end.line}:${g.end.column}`, g.source])).toEqual([
      ['model/mmu/walk.ts', '2:13-2:23', 'return -1;'],
      ['model/mmu/walk.ts', '4:4-4:11', 'return;'],
      ['model/mmu/walk.ts', '7:4-7:11', 'return;'],
    ]);
    // The matching text runs on past the arm, whitespace collapsed.
    expect(list[1]!.context.startsWith('return; } if (x === 5) {')).toBe(true);
  });

  test('a start column of -1 (range from the previous newline) reads as the line start; a missing file gives no source', () => {
    const r = report();
    r[WALK]!.branchMap['1'] = { type: 'branch', loc: loc(9, -1, 9, 11), locations: [loc(9, -1, 9, 11)] };
    expect(gaps(r, ROOT, read).find((g) => g.start.line === 9)).toMatchObject({ start: { line: 9, column: 0 }, source: 'return x;' });
    expect(gaps(r, ROOT, () => undefined).every((g) => g.source === '' && g.context === '')).toBe(true);
  });
});

describe('explain', () => {
  const list = () => gaps(report(), ROOT, read);

  test('matches by file and code prefix at the arm start, whatever the line number and indentation', () => {
    const { arms, unused } = explain(list(), [{ file: 'model/mmu/walk.ts', code: 'return   -1', reason: 'negative inputs are refused by the caller' }]);
    expect(arms.map((a) => a.reason)).toEqual(['negative inputs are refused by the caller', undefined, undefined]);
    expect(unused).toEqual([]);
  });

  test('a prefix shared by arms at two places explains neither; following code disambiguates', () => {
    const vague = { file: 'model/mmu/walk.ts', code: 'return;', reason: 'some reason long enough' };
    const r1 = explain(list(), [vague]);
    expect(r1.arms.filter((a) => a.reason !== undefined)).toEqual([]);
    expect(r1.arms[1]!.ambiguous).toEqual(['return;']);
    expect(r1.ambiguous).toEqual([vague]);

    const precise = { file: 'model/mmu/walk.ts', code: 'return; } if (x === 5)', reason: 'x above 9 never reaches walk' };
    const r2 = explain(list(), [precise]);
    expect(r2.arms.map((a) => a.reason)).toEqual([undefined, 'x above 9 never reaches walk', undefined]);
    expect(r2.ambiguous).toEqual([]);
  });

  test('another file, or code that is not at the arm start, matches nothing and is reported unused', () => {
    const other = { file: 'model/mmu/tlb.ts', code: 'return -1;', reason: 'wrong file entirely' };
    const middle = { file: 'model/mmu/walk.ts', code: '-1;', reason: 'not at the arm start' };
    const { arms, unused } = explain(list(), [other, middle]);
    expect(arms.every((a) => a.reason === undefined)).toBe(true);
    expect(unused).toEqual([other, middle]);
  });

  test('render: the summary line counts explained and unexplained arms; each arm says which', () => {
    const text = render(explain(list(), [{ file: 'model/mmu/walk.ts', code: 'return -1', reason: 'negative inputs are refused' }, { file: 'model/x.ts', code: 'gone', reason: 'an old explanation' }]));
    const lines = text.split('\n');
    expect(lines[0]).toBe('3 untaken branch arms in 1 files: 1 explained, 2 unexplained');
    expect(lines[1]).toBe('model/mmu/walk.ts (3, 2 unexplained)');
    expect(lines[2]).toBe('  2:13-2:23\tbranch\treturn -1;');
    expect(lines[3]).toBe('      explained: negative inputs are refused');
    expect(lines.filter((l) => l.trim() === 'UNEXPLAINED')).toHaveLength(2);
    expect(text).toContain('stale explanation (matches no untaken arm): model/x.ts "gone"');
  });
});

describe('parseExplanations', () => {
  test('accepts a list of {file, code, reason}', () => {
    expect(parseExplanations('[{"file":"model/a.ts","code":"x","reason":"ten chars at least"}]', 'e.json')).toEqual([{ file: 'model/a.ts', code: 'x', reason: 'ten chars at least' }]);
  });
  test.each([
    ['not JSON', '{', /^e\.json is not JSON/],
    ['not a list', '{}', /^e\.json is malformed at \(top\)/],
    ['missing reason', '[{"file":"model/a.ts","code":"x"}]', /^e\.json is malformed at 0\.reason/],
    ['empty code', '[{"file":"model/a.ts","code":"  ","reason":"ten chars at least"}]', /^e\.json is malformed at 0\.code/],
    ['unknown key', '[{"file":"model/a.ts","code":"x","reason":"ten chars at least","line":3}]', /^e\.json is malformed at 0/],
  ])('%s: one line naming the place', (_name, text, message) => {
    const r = parseExplanations(text, 'e.json');
    expect(typeof r).toBe('string');
    expect(r).toMatch(message);
    expect(r as string).not.toContain('\n');
  });
});

describe('main: exit status', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coverage-gaps-'));
  const run = (...argv: string[]) => {
    let out = '';
    let err = '';
    const code = main(argv, (s) => (out += s), (s) => (err += s));
    return { code, out, err };
  };
  // main reads sources relative to the working directory: a report of a file that is not there
  // lists its arms with no source, which is enough to check the exit statuses.
  const file = join(dir, 'final.json');
  writeFileSync(file, JSON.stringify({ [join(process.cwd(), 'model/nowhere.ts')]: report()[WALK] }));
  const noArms = join(dir, 'none.json');
  writeFileSync(noArms, JSON.stringify({ [join(process.cwd(), 'model/nowhere.ts')]: { branchMap: {}, b: {} } }));
  const empty = join(dir, 'explained.json');
  writeFileSync(empty, '[]');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '[{"file":"model/a.ts"}]');

  test('1 when a model/ arm is unexplained, 0 when there is none', () => {
    const r = run(file, '--explained', empty);
    expect(r.code).toBe(1);
    expect(r.out.split('\n')[0]).toBe('3 untaken branch arms in 1 files: 0 explained, 3 unexplained');
    expect(run(noArms, '--explained', empty).code).toBe(0);
  });

  test('2 with a one-line message for a missing or malformed report or explanations file', () => {
    for (const r of [run(join(dir, 'missing.json')), run(bad, '--explained', empty), run(file, '--explained', bad), run(file, '--explained', join(dir, 'missing.json'))]) {
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});
