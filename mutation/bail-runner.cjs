/**
 * The jest runner of mutation runs (jest.stryker.config.js): jest's own in-band runner, one
 * test file at a time, that stops loading test files once the active mutant has failed a test.
 *
 * bail-environment.cjs skips the tests after a mutant's first failure, but jest still loads
 * every remaining test file, and each one imports the whole model: a few hundred milliseconds a
 * file, over a hundred files for a static mutant (code run while modules load, which Stryker
 * runs against every related test). Files not run report nothing, which is what Stryker needs:
 * it calls a mutant killed when any test failed, and ignores tests that did not run.
 *
 * Outside a mutant run (no `__STRYKER_ACTIVE_MUTANT__`, or workers rather than in-band), it is
 * jest's runner, unchanged.
 */
const TestRunner = require('jest-runner').default;
const { killedMutant } = require('./bail-environment.cjs');

const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';

class BailRunner extends TestRunner {
  async runTests(tests, watcher, options) {
    const mutant = process.env[ACTIVE_MUTANT];
    if (mutant === undefined || !options.serial) return super.runTests(tests, watcher, options);
    for (const test of tests) {
      if (killedMutant() === mutant) return;
      await super.runTests([test], watcher, options);
    }
  }
}

module.exports = BailRunner;
