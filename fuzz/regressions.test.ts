/**
 * The regression corpus: every fuzz/regressions/*.json is a shrunk counterexample replayed by
 * `npm test` without the generators (harness.md, "Corpus practice"). A file that no longer
 * parses or validates fails loudly, naming the file and the JSON path: that is a
 * specification change to look at, never a silent skip.
 *
 * Each file must, replayed on the real engine:
 * - with its recorded faults, still violate its recorded property (the check can still fail);
 * - with faults [], pass (the correct model does not violate it).
 * A file recorded without faults is a real bug that was fixed: only the second check applies.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Engine } from './campaign/engine-port';
import { InputError, loadCounterexample } from './counterexample/load';
// A static import, not the CLI's loadEngine: jest's --findRelatedTests (which Stryker uses to
// pick a mutant's tests) follows imports only, so with a dynamic require a fault whose scenario
// is a file here would never be replayed against the model's mutants.
import * as realEngine from './engine';
import { createFakeEngine } from './testing/fake-engine';

const REGRESSIONS_DIR = path.join(__dirname, 'regressions');
const FIXTURES_DIR = path.join(__dirname, 'testing', 'fixtures');
/** Files allowed beside the corpus: its README and tests emitted by `replay --emit-test`. */
const ALLOWED_OTHER = /^(README\.md|.*\.test\.ts)$/;

const entries = fs.existsSync(REGRESSIONS_DIR) ? fs.readdirSync(REGRESSIONS_DIR).sort() : [];
const corpus = entries.filter((f) => f.endsWith('.json'));

describe('regression corpus', () => {
  test('fuzz/regressions/ exists and holds only counterexamples, its README and emitted tests', () => {
    expect(fs.statSync(REGRESSIONS_DIR).isDirectory()).toBe(true);
    expect(entries.filter((f) => !f.endsWith('.json') && !ALLOWED_OTHER.test(f))).toEqual([]);
  });

  // The loader the corpus relies on, exercised on kept fixtures so this file asserts something
  // real even while the corpus is empty (fixtures are valid for the fake engine only).
  test('the loader accepts a good counterexample and refuses a bad one, naming the path', () => {
    const fake = createFakeEngine();
    const good = loadCounterexample(path.join(FIXTURES_DIR, 'good-counterexample.json'), fake);
    expect(good.violation.property).toBe('balloon.accounting');
    expect(fake.replay(good, { faults: good.faults }).violation?.property).toBe('balloon.accounting');
    expect(fake.replay(good, { faults: [] }).violation).toBeNull();
    expect(() => loadCounterexample(path.join(FIXTURES_DIR, 'bad-counterexample.json'), fake)).toThrow(InputError);
    expect(() => loadCounterexample(path.join(FIXTURES_DIR, 'bad-counterexample.json'), fake)).toThrow(
      /bad-counterexample\.json: \$\.operations\[1\]: unknown operation kind "mmu\.teleport"/,
    );
  });
});

if (corpus.length > 0) {
  const engine: Engine = realEngine;

  describe.each(corpus)('fuzz/regressions/%s', (name) => {
    const file = path.join(REGRESSIONS_DIR, name);
    const load = () => loadCounterexample(file, engine);

    test('parses and validates against the current model', () => {
      expect(load().format).toBe('nested-mm-counterexample');
    });

    test('with its recorded faults, its recorded property is still violated', () => {
      const cx = load();
      const result = engine.replay(cx, { faults: cx.faults });
      if (cx.faults.length === 0) {
        // Found on the correct model: a fixed bug. The meaningful check is the one below.
        expect(result.violation).toBeNull();
        return;
      }
      expect(result.violation?.property).toBe(cx.violation.property);
    });

    test('with no faults, the trace passes', () => {
      expect(engine.replay(load(), { faults: [] }).violation).toBeNull();
    });
  });
}
