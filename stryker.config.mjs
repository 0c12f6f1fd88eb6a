// Mutation testing of model/ (npm run mutate): Stryker 9.6.1 with the jest runner, per-test
// coverage, the TypeScript checker and incremental mode. A changed file alone:
//   npm run mutate -- --mutate model/mmu/tlb.ts
// The whole model is the overnight job, one directory of model/ at a time
// (npm run mutate:all, mutation/overnight.mjs), which sets MUTATE_CHUNK. Reports go to
// reports/mutation/ (not in git), a chunk's under reports/mutation/chunks/<chunk>/.
// The sampled estimate (npm run mutate:sample, mutation/sample.mjs) sets MUTATE_RANGES_FILE: a
// file of mutate ranges (`file:line:col-line:col`), one a line, `#` lines ignored; that run's
// reports and incremental file go to the directory of the ranges file.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const chunk = process.env.MUTATE_CHUNK;
const rangesFile = process.env.MUTATE_RANGES_FILE;
const ranges = rangesFile
  ? readFileSync(rangesFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  : undefined;
const chunkDir = rangesFile
  ? path.relative(process.cwd(), path.dirname(path.resolve(rangesFile))).replaceAll(path.sep, '/')
  : chunk
    ? `reports/mutation/chunks/${chunk.replaceAll('/', '_')}`
    : 'reports/mutation';
/** The files of a chunk: a directory of model/, or `model` alone for the files at its top. */
const chunkFiles = (c) => (c === 'model' ? ['model/*.ts', '!model/*.test.ts'] : [`${c}/**/*.ts`, `!${c}/**/*.test.ts`]);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { configFile: 'jest.stryker.config.js', enableFindRelatedTests: true },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: ranges ?? (chunk ? chunkFiles(chunk) : ['model/**/*.ts', '!model/**/*.test.ts']),
  incremental: true,
  incrementalFile: `${chunkDir}/stryker-incremental.json`,
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: `${chunkDir}/index.html` },
  jsonReporter: { fileName: `${chunkDir}/mutation.json` },
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
