/**
 * The test suite as Stryker runs it against each mutant of model/ (npm run mutate):
 * - Everything that exercises the model: unit tests, properties, faults, regressions.
 * - Left out: the campaign machinery's process, CLI and browser tests. They run the model only
 *   through the fake engine, or spawn processes that Stryker's sandbox does not need.
 * - Also left out: the two checker-equivalence tests. They compare properties/' incremental
 *   checkers with the naive ones, and properties/ is not mutated. The model mutants they
 *   would catch break a property in a fault-free run, and faults.test's fault-free batch
 *   catches those. They are 50 of the suite's 146 test-seconds.
 * - Tests run cheapest first (mutation/fast-first-sequencer.cjs). A mutant's remaining tests
 *   are skipped once one fails (mutation/bail-environment.cjs), and its remaining test files
 *   are not loaded (mutation/bail-runner.cjs), so a killed mutant costs the time to its first
 *   failure, not its whole covering set.
 * - fast-check seeds and run counts are fixed under Stryker by fuzz/testing/jest-setup.ts.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testEnvironment: `${__dirname}/mutation/bail-environment.cjs`,
  testSequencer: `${__dirname}/mutation/fast-first-sequencer.cjs`,
  runner: `${__dirname}/mutation/bail-runner.cjs`,
  testPathIgnorePatterns: [
    '/node_modules/',
    '/fuzz/campaign/',
    '/fuzz/report/',
    '/fuzz/counterexample/',
    '/fuzz/testing/',
    '/properties/checker-equivalence\\.test\\.ts$',
    '/properties/moving-equivalence\\.test\\.ts$',
  ],
};
