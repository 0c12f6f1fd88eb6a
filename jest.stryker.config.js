/**
 * The test suite as Stryker runs it against each mutant of model/: everything that exercises
 * the model (unit tests, properties, faults, regressions, equivalence), without the campaign
 * machinery's process, CLI and browser tests (they run the model only through the fake engine
 * or spawn processes Stryker's sandbox does not need). fast-check seeds and run counts are
 * fixed under Stryker by fuzz/testing/jest-setup.ts.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testPathIgnorePatterns: ['/node_modules/', '/fuzz/campaign/', '/fuzz/report/', '/fuzz/counterexample/', '/fuzz/testing/'],
};
