/**
 * Jest setup (wire it as `setupFiles: ['<rootDir>/fuzz/testing/jest-setup.ts']`): under Stryker
 * every fast-check property gets one fixed seed, so mutant runs compare like with like and test
 * names (which @fast-check/jest suffixes with the seed) stay stable (harness.md, fast-check
 * pitfalls). Outside Stryker nothing changes: tests fix their own seeds.
 */
import fc from 'fast-check';

/** Any fixed value works; it only has to be the same for every mutant. */
const STRYKER_SEED = 20251122;

if (process.env.STRYKER_MUTATOR_WORKER !== undefined) {
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: STRYKER_SEED });
}
