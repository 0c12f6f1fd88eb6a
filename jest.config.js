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
};
