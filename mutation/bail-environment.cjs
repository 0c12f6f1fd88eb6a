/**
 * The jest environment of mutation runs (jest.stryker.config.js): once a test has failed
 * against a mutant, every later test of that mutant's run is skipped. The mutant is already
 * killed, so the rest of the run only costs time.
 *
 * Stryker's jest runner cannot bail (jest has no programmatic bail, and Stryker sets
 * `bail: false`). Without this, a killed mutant in a core file ran every test that covers it.
 * Stryker calls that file's covering tests in one in-band jest run, with the mutant's id in
 * `__STRYKER_ACTIVE_MUTANT__`. This module is loaded once per test-runner process and shared
 * by every test file of that run, so it remembers the last mutant that failed a test.
 *
 * The dry run has no active mutant, so nothing is ever skipped there.
 */
const { TestEnvironment } = require('jest-environment-node');

const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';
let killed;

class BailEnvironment extends TestEnvironment {
  async handleTestEvent(event) {
    const mutant = process.env[ACTIVE_MUTANT];
    if (mutant === undefined) return;
    if (event.name === 'test_fn_failure' || event.name === 'hook_failure') killed = mutant;
    else if (event.name === 'test_start' && killed === mutant) event.test.mode = 'skip';
  }
}

module.exports = BailEnvironment;
