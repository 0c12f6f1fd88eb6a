/**
 * Test order and selection of mutation runs (jest.stryker.config.js).
 *
 * - Order: cheap, focused tests first, so that bail-environment.cjs skips the expensive ones
 *   for most killed mutants. First the model's unit tests, then properties/, then fuzz/, with
 *   faults.test.ts last (the most expensive and the broadest). Within a rank, smaller files
 *   come first. Jest's default is the opposite: slowest first, from its cache of durations.
 * - Selection: in a mutant run, drop the test files that hold none of the tests the run's name
 *   pattern selects (Stryker's covering tests), going by the names the initial run recorded
 *   (test-names.cjs). A file with no record is kept, and so is everything if nothing would be
 *   left.
 */
const Sequencer = require('@jest/test-sequencer').default;
const { statSync } = require('node:fs');
const { readNames } = require('./test-names.cjs');

function rank(path) {
  if (path.includes('/model/')) return 0;
  if (path.includes('/properties/')) return 1;
  if (path.endsWith('/faults.test.ts')) return 3;
  return 2;
}

class FastFirstSequencer extends Sequencer {
  constructor(options) {
    super(options);
    this.pattern = options?.globalConfig?.testNamePattern;
  }

  sort(tests) {
    const size = (t) => statSync(t.path).size;
    const ordered = [...tests].sort((a, b) => rank(a.path) - rank(b.path) || size(a) - size(b) || a.path.localeCompare(b.path));
    return this.select(ordered);
  }

  select(tests) {
    if (process.env.__STRYKER_ACTIVE_MUTANT__ === undefined || !this.pattern) return tests;
    const names = readNames();
    if (!names) return tests;
    const re = new RegExp(this.pattern, 'i');
    const kept = tests.filter((t) => !names[t.path] || names[t.path].some((id) => re.test(id)));
    return kept.length > 0 ? kept : tests;
  }
}

module.exports = FastFirstSequencer;
