import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { InputError, loadCounterexample, checkCounterexample } from './load';
import { findDangerousKey, parseJsonText } from './safe-json';
import { createFakeEngine } from '../testing/fake-engine';
import { tmpDir } from '../testing/helpers';

const engine = createFakeEngine();
const GOOD = path.join(__dirname, '..', 'testing', 'fixtures', 'good-counterexample.json');
const goodText = fs.readFileSync(GOOD, 'utf8');
const good = () => JSON.parse(goodText);
const dir = tmpDir();

function write(name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

function refusal(name: string, content: string): string {
  const file = write(name, content);
  try {
    loadCounterexample(file, engine);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    const message = (err as Error).message;
    expect(message.startsWith(`${file}: `)).toBe(true);
    expect(message).not.toContain('\n');
    return message.slice(file.length + 2);
  }
  throw new Error(`${name} was accepted`);
}

function mutated(mutate: (cx: any) => void): string {
  const cx = good();
  mutate(cx);
  return JSON.stringify(cx);
}

test('a good file loads', () => {
  expect(loadCounterexample(GOOD, engine).operations).toHaveLength(3);
});

test.each([
  ['truncated', goodText.slice(0, goodText.length / 2), /^not valid JSON \(.*\); the file may be truncated$/],
  ['empty', '', /^empty file$/],
  ['not JSON', 'format: yaml', /^not valid JSON/],
  ['wrong format', mutated((c) => (c.format = 'hypothesis-db')), /^\$\.format: /],
  ['wrong version', mutated((c) => (c.version = 2)), /^\$\.version: /],
  ['unknown key at the top', mutated((c) => (c.hits = 3)), /^\$: Unrecognized key: "hits"/],
  ['unknown key nested', mutated((c) => (c.config.guests[0].cpus = 2)), /^\$\.config\.guests\[0\]: Unrecognized key: "cpus"/],
  ['missing field', mutated((c) => delete c.origin.commit), /^\$\.origin\.commit: /],
  ['unknown operation', mutated((c) => (c.operations[1] = { kind: 'mmu.teleport', args: {} })), /^\$\.operations\[1\]: unknown operation kind "mmu\.teleport"$/],
  ['argument out of range', mutated((c) => (c.operations[0].args.pages = 100000)), /^\$\.operations\[0\]: balloon\.inflate: argument "pages" = 100000 is outside 1\.\.512$/],
  ['unknown property', mutated((c) => (c.violation.property = 'nope')), /^\$\.violation\.property: unknown property "nope"$/],
  ['unknown fault', mutated((c) => (c.faults = ['nope'])), /^\$\.faults\[0\]: unknown fault "nope"$/],
  ['unknown weight kind', mutated((c) => (c.config.weights.warp = 1)), /^\$\.config\.weights: unknown operation kind "warp"$/],
  ['step past the trace', mutated((c) => (c.violation.step = 4)), /^\$\.violation\.step: 4 is past the last operation \(3 operations\)$/],
  ['step below -1', mutated((c) => (c.violation.step = -2)), /^\$\.violation\.step: /],
  ['non-integer step', mutated((c) => (c.violation.step = 1.5)), /^\$\.violation\.step: /],
  ['negative weight', mutated((c) => (c.config.weights['mmu.map'] = -1)), /^\$\.config\.weights\["mmu\.map"\]: /],
  ['non-finite (1e999)', goodText.replace('"hostFrames": 4096', '"hostFrames": 1e999'), /^\$\.config\.hostFrames: /],
  ['non-finite argument', goodText.replace('"pages": 40', '"pages": 1e999'), /^\$\.operations\[0\]\.args\.pages: /],
  ['host frames not a power of two', mutated((c) => (c.config.hostFrames = 5000)), /^\$\.config\.hostFrames: must be a power of two$/],
  ['paging levels', mutated((c) => (c.config.guests[0].guestLevels = 3)), /^\$\.config\.guests\[0\]\.guestLevels: /],
  ['__proto__ nested', goodText.replace('"pages": 40', '"pages": 40, "__proto__": {"polluted": true}'), /^\$\.operations\[0\]\.args\.__proto__: forbidden key "__proto__"$/],
  ['constructor', goodText.replace('"freePageReporting"', '"constructor": 1, "freePageReporting"'), /^\$\.config\.options\.constructor: forbidden key "constructor"$/],
  ['prototype at the top', goodText.replace('"format"', '"prototype": {}, "format"'), /^\$\.prototype: forbidden key "prototype"$/],
  ['a JSON array', '[1,2]', /^\$: /],
])('refuses a file that is %s, naming the JSON path', (name, content, reason) => {
  expect(refusal(`${name.replace(/\W+/g, '-')}.json`, content)).toMatch(reason);
});

test('refuses an oversized file before reading it', () => {
  const file = write('big.json', goodText);
  expect(() => loadCounterexample(file, engine)).not.toThrow();
  const big = write('huge.json', ' '.repeat(9 * 1024 * 1024));
  expect(() => loadCounterexample(big, engine)).toThrow(/huge\.json: 9437184 bytes is over the 8388608-byte limit/);
});

test('refuses a missing file and a directory', () => {
  expect(() => loadCounterexample(path.join(dir, 'missing.json'), engine)).toThrow(/missing\.json: cannot read \(ENOENT\)/);
  expect(() => loadCounterexample(dir, engine)).toThrow(/not a regular file/);
});

test('parsing never touches Object.prototype', () => {
  expect(() => parseJsonText('{"a":{"__proto__":{"polluted":1}}}', 'x')).toThrow(InputError);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(findDangerousKey({ a: [{ b: 1 }, { ok: { prototype: 1 } }] }, '$')).toBe('$.a[1].ok.prototype');
});

test('any JSON document is either a valid counterexample or refused with an InputError (never a crash)', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (doc) => {
      try {
        checkCounterexample(doc, 'doc', engine);
        return false;
      } catch (err) {
        return err instanceof InputError && (err as Error).message.startsWith('doc: ');
      }
    }),
    { seed: 42, numRuns: 300 },
  );
});

test('mutating one scalar of a good file gives a valid file or a one-line refusal', () => {
  const leaves: (string | number)[][] = [];
  const walk = (v: unknown, at: (string | number)[]) => {
    if (v !== null && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...at, Array.isArray(v) ? Number(k) : k]);
    else leaves.push(at);
  };
  walk(good(), []);
  fc.assert(
    fc.property(fc.constantFrom(...leaves), fc.oneof(fc.jsonValue(), fc.constantFrom(-1, 0.5, 2 ** 53, '', '<script>')), (at, value) => {
      const doc = good();
      let target = doc;
      for (const k of at.slice(0, -1)) target = target[k];
      target[at[at.length - 1]] = value;
      try {
        checkCounterexample(doc, 'doc', engine);
        return true;
      } catch (err) {
        return err instanceof InputError && !(err as Error).message.includes('\n');
      }
    }),
    { seed: 7, numRuns: 300 },
  );
});
