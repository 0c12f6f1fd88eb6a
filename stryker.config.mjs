// Mutation testing of model/ (npm run mutate): Stryker 9.6.1 with the jest runner, per-test
// coverage, the TypeScript checker and incremental mode. A changed file alone:
//   npm run mutate -- --mutate model/mmu/tlb.ts
// The whole model is the overnight job. Reports go to reports/mutation/ (not in git).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { configFile: 'jest.stryker.config.js', enableFindRelatedTests: true },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: ['model/**/*.ts', '!model/**/*.test.ts'],
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  concurrency: 2,
  timeoutMS: 30000,
  // The initial run executes the whole suite in one instrumented process; it took longer than
  // Stryker's default 5 minutes on 2 cores.
  dryRunTimeoutMinutes: 30,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  plugins: ['@stryker-mutator/*', './mutation/equivalent-ignorer.mjs'],
  ignorers: ['equivalent-mutants'],
};
