/**
 * The real `npm run fuzz` process on the fake engine: forked workers, SIGKILL at an arbitrary
 * point then --resume, Ctrl-C, and the exit-code contract. Kept few: each spawns processes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadCounterexample } from '../counterexample/load';
import { readJsonFile } from '../counterexample/safe-json';
import { readState } from './state';
import { createFakeEngine } from '../testing/fake-engine';
import { fuzzInline, readJson, tmpDir, withoutTiming } from '../testing/helpers';
import { FUZZ_CLI, killSpawned, spawnTs, waitFor } from '../testing/spawn';
import type { CampaignReport } from '../report/report';

afterEach(killSpawned);

const FAULTS = ['--fault', 'buddy-double-merge', '--fault', 'balloon-leak', '--fault', 'tlb-skip-flush'];

function batchesDone(dir: string): number {
  try {
    return readState(dir).totals.batches;
  } catch {
    return 0;
  }
}

test('forked workers produce the same --runs report as in-process workers', async () => {
  const dir = tmpDir();
  const run = spawnTs(FUZZ_CLI, ['--runs', '120', '--seed', '5', '--workers', '2', '--json', '--out', dir, ...FAULTS]);
  const { code, stdout } = await run.done;
  expect(code).toBe(1);
  const forked = JSON.parse(stdout) as CampaignReport;
  expect(forked.workers.filter((w) => w.batches > 0).length).toBeGreaterThanOrEqual(1);
  const inline = await fuzzInline(['--runs', '120', '--seed', '5', '--workers', '3', '--json', '--out', tmpDir(), ...FAULTS], { commit: () => forked.commit });
  expect(withoutTiming(JSON.parse(inline.stdout))).toEqual(withoutTiming(forked));
});

test('SIGKILL at any point leaves only complete files; --resume keeps every failure found before', async () => {
  const dir = tmpDir();
  const run = spawnTs(FUZZ_CLI, ['--seconds', '120', '--seed', '9', '--workers', '2', '--out', dir, ...FAULTS], { batchDelayMs: 60 });
  await waitFor(() => batchesDone(dir) >= 4 && fs.readdirSync(path.join(dir, 'failures')).some((f) => f.endsWith('.json')), 'a few batches and a failure');
  run.child.kill('SIGKILL');
  const { signal } = await run.done;
  expect(signal).toBe('SIGKILL');

  // Every file the campaign left parses and validates; temp files are never .json.
  const engine = createFakeEngine();
  const before = new Map<string, string>();
  for (const name of fs.readdirSync(path.join(dir, 'failures')).filter((f) => f.endsWith('.json'))) {
    const file = path.join(dir, 'failures', name);
    loadCounterexample(file, engine);
    before.set(name, fs.readFileSync(file, 'utf8'));
  }
  for (const name of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) readJsonFile(path.join(dir, name));
  const state = readState(dir);
  expect(before.size).toBeGreaterThan(0);
  expect(state.finished).toBe(false);

  const resumed = await fuzzInline(['--resume', dir, '--seconds', '0.2', '--workers', '2', '--json']);
  expect(resumed.code).toBe(1);
  const report = JSON.parse(resumed.stdout) as CampaignReport;
  const files = new Set(report.failures.map((f) => f.file));
  for (const [name, text] of before) {
    expect(files.has(`failures/${name}`)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'failures', name), 'utf8')).toBe(text);
  }
  expect(report.runs).toBeGreaterThanOrEqual(state.totals.runs);
  for (const f of Object.values(state.totals.failures)) expect(report.failures.find((r) => r.key === f.key)!.count).toBeGreaterThanOrEqual(f.count);
  expect(fs.readdirSync(path.join(dir, 'failures')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test('Ctrl-C (SIGINT to the process group) stops gracefully: report written, exit code says a violation was found', async () => {
  const dir = tmpDir();
  const run = spawnTs(FUZZ_CLI, ['--seconds', '120', '--workers', '2', '--out', dir, ...FAULTS], { batchDelayMs: 60, detached: true });
  await waitFor(() => batchesDone(dir) >= 3, 'three batches');
  process.kill(-run.child.pid!, 'SIGINT');
  const { code, stdout, stderr } = await run.done;
  expect(stderr).toContain('stopping after the current batches');
  expect(code).toBe(1);
  expect(stdout).toContain(`--resume ${dir}`);
  const report = readJson<CampaignReport>(path.join(dir, 'report.json'));
  expect(report.stopReason).toBe('interrupted');
  expect(report.failures.length).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(dir, 'report.html'))).toBe(true);
});

test('bad usage exits 2 with one line on stderr and no stack trace', async () => {
  const { code, stderr, stdout } = await spawnTs(FUZZ_CLI, ['--fault', 'no-such-fault', '--runs', '10']).done;
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^fuzz: unknown fault "no-such-fault" \(known: .*\)$/)]);
});

test('a worker process that dies mid-batch stops the campaign with exit 3, state saved for --resume', async () => {
  const dir = tmpDir();
  const { code, stderr } = await spawnTs(FUZZ_CLI, ['--runs', '400', '--workers', '1', '--out', dir], { enginePath: require.resolve('../testing/crashing-engine') }).done;
  expect(code).toBe(3);
  expect(stderr).toMatch(/worker 0 exited \(code 7\) during a batch/);
  expect(stderr).toContain(`--resume ${dir}`);
  expect(readState(dir).totals.batches).toBe(1);
});
