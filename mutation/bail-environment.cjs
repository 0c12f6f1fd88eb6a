/**
 * The jest environment of mutation runs (jest.stryker.config.js), doing two things:
 *
 * - Bail per mutant. Once a test has failed against a mutant, every later test of that
 *   mutant's run is skipped: the mutant is already killed, and the rest only costs time.
 *   bail-runner.cjs, jest's runner for mutation runs, then loads no further test file.
 *   Stryker's jest runner cannot bail itself (jest has no programmatic bail, and Stryker sets
 *   `bail: false`), so without this a killed mutant ran every test that covers it. Stryker
 *   runs a mutant's covering tests in one in-band jest run, with the mutant's id in
 *   `__STRYKER_ACTIVE_MUTANT__`. This module is loaded once per test-runner process and
 *   shared by every test file of a run, so it can remember the last mutant that failed a test.
 * - Record test names and times. In Stryker's initial run, which has no active mutant, it
 *   records which tests each file holds and how long each took (test-names.cjs), for
 *   fast-first-sequencer.cjs.
 *
 * Outside Stryker (no STRYKER_MUTATOR_WORKER) it is jest's node environment, unchanged.
 */
const { TestEnvironment } = require('jest-environment-node');
const { testId, readNames, writeNames } = require('./test-names.cjs');

const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';
const UNDER_STRYKER = process.env.STRYKER_MUTATOR_WORKER !== undefined;
let killed;
let names = null;

class BailEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
  }

  async handleTestEvent(event) {
    if (!UNDER_STRYKER) return;
    const mutant = process.env[ACTIVE_MUTANT];
    if (mutant === undefined) {
      if (event.name === 'test_done') {
        names ??= readNames() ?? {};
        const tests = (names[this.testPath] ??= {});
        const id = testId(event.test);
        tests[id] = (tests[id] ?? 0) + (event.test.duration ?? 0);
      }
      return;
    }
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') killed = mutant;
    else if (event.name === 'test_start' && killed === mutant) event.test.mode = 'skip';
  }

  async teardown() {
    if (UNDER_STRYKER && process.env[ACTIVE_MUTANT] === undefined && names) writeNames(names);
    await super.teardown();
  }
}

/** The last mutant that failed a test, if any (bail-runner.cjs stops loading files for it). */
BailEnvironment.killedMutant = () => killed;

module.exports = BailEnvironment;
