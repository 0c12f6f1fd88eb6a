/**
 * The committed list of equivalent mutants (mutation/equivalent-mutants.json) must stay true to
 * the code: every entry names a file that exists, a line on which its code starts, and a
 * reason. Otherwise an edit that moves or changes the code would leave the entry matching
 * nothing, and the mutants it once excused would come back as survivors. Or, worse, a stale
 * line could one day match a different node.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const list = JSON.parse(readFileSync(join(root, 'mutation/equivalent-mutants.json'), 'utf8')) as {
  mutants: { file: string; line: number; code: string; reason: string }[];
  replacements: { file: string; line: number; code: string; replacement: string; reason: string }[];
  diagnostics: { callee: string; argument?: number; reason: string }[];
};

test('the equivalent-mutant list is a list of entries', () => {
  expect(Array.isArray(list.mutants)).toBe(true);
});

test('every diagnostic rule names a function the model calls, and why its text is not behaviour', () => {
  const sources = readdirSync(join(root, 'model'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  const model = sources.map((f) => readFileSync(join(root, 'model', f), 'utf8')).join('\n');
  for (const d of list.diagnostics) {
    expect(model).toMatch(new RegExp(`\\b${d.callee}\\(`));
    expect(d.reason.length).toBeGreaterThan(40);
  }
});

describe.each(list.mutants.map((m) => [`${m.file}:${m.line} ${m.code}`, m] as const))('%s', (_, m) => {
  test('names a model file, a line where its code starts, and a specific reason', () => {
    expect(m.file.startsWith('model/')).toBe(true);
    expect(existsSync(join(root, m.file))).toBe(true);
    const line = readFileSync(join(root, m.file), 'utf8').split('\n')[m.line - 1] ?? '';
    expect(line).toContain(m.code);
    expect(m.reason.length).toBeGreaterThan(40);
  });
});

describe.each(list.replacements.map((m) => [`${m.file}:${m.line} ${m.code} -> ${m.replacement}`, m] as const))('%s', (_, m) => {
  test('names a model file, a line where its code starts, the replacement, and a specific reason', () => {
    expect(m.file.startsWith('model/')).toBe(true);
    expect(existsSync(join(root, m.file))).toBe(true);
    const line = readFileSync(join(root, m.file), 'utf8').split('\n')[m.line - 1] ?? '';
    expect(line).toContain(m.code);
    expect(m.replacement).not.toBe(m.code);
    expect(m.reason.length).toBeGreaterThan(40);
  });
});
