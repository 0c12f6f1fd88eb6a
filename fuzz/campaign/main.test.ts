import * as fs from 'fs';
import * as path from 'path';
import { fakeRef, fuzzInline, readJson, tmpDir } from '../testing/helpers';
import type { CampaignReport } from '../report/report';

const FAULT = ['--fault', 'balloon-leak'];

test('--list --json prints exactly JSON.stringify(engine.inventory())', async () => {
  const ref = fakeRef();
  const { code, stdout } = await fuzzInline(['--list', '--json'], { ref });
  expect(code).toBe(0);
  expect(stdout).toBe(JSON.stringify(ref.engine.inventory()) + '\n');
  const human = await fuzzInline(['--list']);
  expect(human.stdout).toContain('balloon-leak  (balloon) breaks balloon.accounting');
});

test('--help prints usage and exits 0 without loading the engine', async () => {
  const { code, stdout } = await fuzzInline(['--help'], {
    loadEngine: () => {
      throw new Error('must not load');
    },
  });
  expect(code).toBe(0);
  expect(stdout).toContain('Usage: npm run fuzz --');
});

test('exit 0 when nothing is found; the summary says where the report is', async () => {
  const dir = tmpDir();
  const { code, stdout } = await fuzzInline(['--runs', '40', '--out', dir]);
  expect(code).toBe(0);
  expect(stdout).toContain('fuzz: no property violated');
  expect(stdout).toContain(`fuzz: report: ${path.join(dir, 'report.html')}`);
  expect(stdout).toContain('never exercised: buddy: free->isolated, isolated->free');
});

test('exit 1 when a property is violated; --json prints report.json; --junit writes the XML', async () => {
  const dir = tmpDir();
  const junit = path.join(tmpDir(), 'junit.xml');
  const { code, stdout } = await fuzzInline(['--runs', '60', '--out', dir, '--json', '--junit', junit, ...FAULT]);
  expect(code).toBe(1);
  const report = JSON.parse(stdout) as CampaignReport;
  expect(report).toEqual(readJson(path.join(dir, 'report.json')));
  expect(report.failures.map((f) => f.property)).toEqual(['balloon.accounting']);
  expect(report.config).toMatchObject({ seed: 1, runs: 60, faults: ['balloon-leak'] });
  const xml = fs.readFileSync(junit, 'utf8');
  expect(xml).toContain('tests="4" failures="1"');
  expect(xml).toContain(path.join(dir, report.failures[0].file!));
});

test('names are checked against the inventory: exit 2, one line', async () => {
  for (const argv of [['--fault', 'nope'], ['--mechanisms', 'gpu'], ['--properties', 'x']]) {
    const { code, stderr, stdout } = await fuzzInline([...argv, '--runs', '5', '--out', tmpDir()]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^fuzz: unknown (fault|mechanism|property) "[a-z]+" \(known: [^\n]*\)\n$/);
  }
});

test('--resume of a directory without a campaign is bad input (exit 2)', async () => {
  const { code, stderr } = await fuzzInline(['--resume', tmpDir()]);
  expect(code).toBe(2);
  expect(stderr).toMatch(/^fuzz: --resume .*: no campaign state/);
});

test('an engine that does not load is an internal error (exit 3), not a usage error', async () => {
  const { code, stderr } = await fuzzInline(['--runs', '5'], {
    loadEngine: () => {
      throw new Error('Cannot find module ../engine');
    },
  });
  expect(code).toBe(3);
  expect(stderr).toBe('fuzz: cannot load the engine: Cannot find module ../engine\n');
});
