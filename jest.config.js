/**
 * `npm test`: fast, deterministic. fast-check seeds are fixed in the tests themselves and
 * globally under Stryker (fuzz/testing/jest-setup.ts), so names and outcomes are stable.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/model', '<rootDir>/properties', '<rootDir>/fuzz'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  setupFiles: ['<rootDir>/fuzz/testing/jest-setup.ts'],
  testTimeout: 120000,
  // Jest's default leaves one core idle; the suites are independent CPU-bound processes, so on
  // the 2-core CI machine both cores halve the wall time (133 s -> 80 s measured).
  maxWorkers: '100%',
};
