import { checkNames, helpText, parseFuzzArgs } from './options';
import { UsageError } from './usage-error';
import { createFakeEngine } from '../testing/fake-engine';

const parse = (...argv: string[]) => parseFuzzArgs(argv, 4);
const refused = (argv: string[], message: RegExp) => {
  expect(() => parseFuzzArgs(argv, 4)).toThrow(UsageError);
  expect(() => parseFuzzArgs(argv, 4)).toThrow(message);
};

describe('parseFuzzArgs', () => {
  test('no options: a reproducible 60 s campaign, seed 1, one worker per core, engine default faults', () => {
    expect(parse()).toEqual({
      kind: 'campaign',
      run: {
        workers: 4,
        json: false,
        junit: null,
        out: null,
        config: { seed: 1, shard: { index: 0, count: 1 }, runs: null, durationMs: 60_000, faults: null, mechanisms: [], properties: [] },
      },
    });
  });

  test('every option is read', () => {
    const c = parse('--runs', '500', '--seed', '42', '--workers', '3', '--fault', 'a', '--fault', 'b', '--fault', 'a', '--mechanisms', 'x, y', '--properties', 'p', '--out', 'o', '--shard', '2/8', '--json', '--junit', 'j.xml');
    expect(c).toEqual({
      kind: 'campaign',
      run: {
        workers: 3,
        json: true,
        junit: 'j.xml',
        out: 'o',
        config: { seed: 42, shard: { index: 2, count: 8 }, runs: 500, durationMs: null, faults: ['a', 'b'], mechanisms: ['x', 'y'], properties: ['p'] },
      },
    });
    expect(parse('--minutes', '1.5')).toMatchObject({ run: { config: { durationMs: 90_000 } } });
    expect(parse('--hours', '2')).toMatchObject({ run: { config: { durationMs: 7_200_000 } } });
  });

  test('resume, list and merge', () => {
    expect(parse('--resume', 'd', '--minutes', '5', '--workers', '2')).toEqual({ kind: 'resume', run: { dir: 'd', durationMs: 300_000, workers: 2, json: false, junit: null } });
    expect(parse('--list', '--json')).toEqual({ kind: 'list', json: true });
    expect(parse('merge', 'a', 'b', '--out', 'm', '--json')).toEqual({ kind: 'merge', dirs: ['a', 'b'], out: 'm', json: true, junit: null });
  });

  test.each([
    [['--frobnicate'], /^unknown option '--frobnicate'/],
    [['extra'], /too many arguments/],
    [['--seconds', 'ten'], /--seconds expects a positive number, got "ten"/],
    [['--seconds', '0'], /--seconds must be more than 0/],
    [['--runs', '-5'], /--runs expects an integer/],
    [['--runs', '1.5'], /--runs expects an integer/],
    [['--runs', '0'], /--runs must be between 1/],
    [['--workers', '0'], /--workers must be between 1 and 256/],
    [['--seed', '4294967296'], /--seed must be between 0 and 4294967295/],
    [['--runs', '5', '--seconds', '3'], /--seconds and --runs cannot be combined/],
    [['--minutes', '1', '--hours', '1'], /--minutes and --hours cannot be combined/],
    [['--shard', '3/3'], /I must be less than N/],
    [['--shard', '1/0'], /N must be between 1/],
    [['--shard', 'half'], /--shard expects I\/N/],
    [['--mechanisms', 'a,,b'], /comma-separated/],
    [['--list', '--runs', '5'], /--list takes no other option but --json/],
    [['--resume', 'd', '--seed', '2'], /--seed cannot be changed/],
    [['--resume', 'd', '--out', 'x'], /--out cannot be changed/],
    [['--seed', '3', 'merge', 'a'], /merge takes only --out, --json and --junit/],
    [['merge'], /missing required argument/],
    [['--runs'], /argument missing/],
  ])('%j is refused in one line', (argv, message) => {
    refused(argv as string[], message);
    try {
      parseFuzzArgs(argv as string[], 4);
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
    }
  });

  test('--help documents every option with an example, and merge', () => {
    const c = parse('--help');
    expect(c.kind).toBe('help');
    const text = (c as { text: string }).text;
    for (const option of ['--seconds', '--minutes', '--hours', '--runs', '--seed', '--workers', '--fault', '--mechanisms', '--properties', '--out', '--resume', '--shard', '--json', '--junit', '--list']) {
      expect(text).toContain(option);
      expect(text.split('\n').some((l) => l.includes(option) && (l.includes('e.g.') || l.trim().startsWith('npm run fuzz')))).toBe(true);
    }
    expect(text).toContain('merge');
    expect(text).toContain('Exit codes: 0 nothing found, 1 a property was violated, 2 bad usage');
    expect(helpText()).toContain('--shard <I/N>');
    expect((parse('merge', '--help') as { text: string }).text).toContain('npm run fuzz -- merge');
  });
});

describe('checkNames', () => {
  const inv = createFakeEngine().inventory();
  test('accepts inventory names', () => {
    expect(() => checkNames({ faults: ['balloon-leak'], mechanisms: ['buddy'], properties: ['mmu.tlb-coherent'] }, inv)).not.toThrow();
  });
  test.each([
    [{ faults: ['nope'], mechanisms: [], properties: [] }, /unknown fault "nope" \(known: balloon-leak, buddy-double-merge, tlb-skip-flush; see --list\)/],
    [{ faults: [], mechanisms: ['gpu'], properties: [] }, /unknown mechanism "gpu"/],
    [{ faults: [], mechanisms: [], properties: ['liveness'] }, /unknown property "liveness"/],
  ])('refuses unknown names (%j)', (config, message) => {
    expect(() => checkNames(config, inv)).toThrow(message);
  });
});
