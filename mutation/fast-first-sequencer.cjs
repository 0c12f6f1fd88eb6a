/**
 * Test order of mutation runs (jest.stryker.config.js): cheap, focused tests first, so that
 * bail-environment.cjs skips the expensive ones for most killed mutants. The order is: the
 * model's unit tests, then properties/, then fuzz/ with faults.test.ts last, which is the
 * most expensive and the broadest. Within a rank, smaller files come first. Jest's default
 * order is the opposite: slowest first, from its cache of earlier durations.
 */
const Sequencer = require('@jest/test-sequencer').default;
const { statSync } = require('node:fs');

function rank(path) {
  if (path.includes('/model/')) return 0;
  if (path.includes('/properties/')) return 1;
  if (path.endsWith('/faults.test.ts')) return 3;
  return 2;
}

class FastFirstSequencer extends Sequencer {
  sort(tests) {
    const size = (t) => statSync(t.path).size;
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || size(a) - size(b) || a.path.localeCompare(b.path));
  }
}

module.exports = FastFirstSequencer;
