/**
 * Test order and selection of mutation runs (jest.stryker.config.js). Stryker runs a mutant's
 * covering tests in one in-band jest run and bail-environment.cjs stops it at the first
 * failure, so what a killed mutant costs is the time of the tests run before the killing one.
 *
 * - Selection: in a mutant run, drop the test files that hold none of the tests the run's name
 *   pattern selects (Stryker's covering tests), going by the names the initial run recorded
 *   (test-names.cjs). A file with no record is kept, and so is everything if nothing would be
 *   left.
 * - Order in a mutant run: first the test files beside the mutated file (its directory, the
 *   file named after it first: model/mmu/tlb.test.ts for model/mmu/tlb.ts), which test it
 *   most directly; then the rest by what their covering tests cost in the initial run,
 *   cheapest first. Measured on model/mmu/tlb.ts, ordering by file size instead ran 20 to 30
 *   files (about 10 s) before the differential TLB test that kills most of its mutants.
 * - A static mutant (code run while modules load, which Stryker attributes to no test) comes
 *   with no name pattern: every related file is kept, in the same order, by the cost of all
 *   its tests.
 * - Order otherwise (the initial run, or no record): the model's unit tests, then properties/,
 *   then fuzz/, with faults.test.ts last (the most expensive and the broadest); smaller files
 *   first within a rank. Jest's default is the opposite: slowest first.
 */
const Sequencer = require('@jest/test-sequencer').default;
const { statSync } = require('node:fs');
const path = require('node:path');
const { readNames } = require('./test-names.cjs');

function rank(file) {
  if (file.includes('/model/')) return 0;
  if (file.includes('/properties/')) return 1;
  if (file.endsWith('/faults.test.ts')) return 3;
  return 2;
}

/** 0: the test file named after a mutated file, 1: another in its directory, 2: the rest. */
function nearness(file, mutated) {
  let best = 2;
  for (const m of mutated) {
    if (path.dirname(m) !== path.dirname(file)) continue;
    const stem = path.basename(m).replace(/\.[cm]?[jt]s$/, '');
    best = Math.min(best, path.basename(file).startsWith(`${stem}.test.`) ? 0 : 1);
  }
  return best;
}

class FastFirstSequencer extends Sequencer {
  constructor(options) {
    super(options);
    this.pattern = options?.globalConfig?.testNamePattern;
    this.mutated = (options?.globalConfig?.nonFlagArgs ?? []).map((f) => path.resolve(f));
  }

  sort(tests) {
    const names = process.env.__STRYKER_ACTIVE_MUTANT__ !== undefined ? readNames() : null;
    if (!names) {
      const size = (t) => statSync(t.path).size;
      return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || size(a) - size(b) || a.path.localeCompare(b.path));
    }
    // A static mutant (run at module load, so covered by no test in particular) comes with no
    // name pattern: every related file runs, and every test in it counts.
    const re = this.pattern ? new RegExp(this.pattern, 'i') : null;
    const cost = new Map();
    for (const t of tests) {
      const recorded = names[t.path];
      if (!recorded) cost.set(t.path, Number.MAX_SAFE_INTEGER);
      else {
        const hits = Object.entries(recorded).filter(([id]) => !re || re.test(id));
        if (hits.length > 0 || !re) cost.set(t.path, hits.reduce((n, [, ms]) => n + ms, 0));
      }
    }
    const kept = tests.filter((t) => cost.has(t.path));
    if (kept.length === 0) return tests;
    const near = (t) => nearness(t.path, this.mutated);
    return kept.sort((a, b) => near(a) - near(b) || cost.get(a.path) - cost.get(b.path) || a.path.localeCompare(b.path));
  }
}

module.exports = FastFirstSequencer;
