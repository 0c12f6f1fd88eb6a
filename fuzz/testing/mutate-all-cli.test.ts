/**
 * `npm run mutate:all` (mutation/overnight.mjs) answers its options before it starts a night's
 * work: help once, the chunk list, and a one-line error with exit 2 for an unknown option, an
 * unknown chunk or a bad concurrency. None of these runs Stryker.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

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
])('%j is refused in one line with exit 2', (args, message) => {
  const r = run(...args);
  expect(r.code).toBe(2);
  expect(r.out).toBe('');
  expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
  expect(r.err.startsWith(message)).toBe(true);
});
