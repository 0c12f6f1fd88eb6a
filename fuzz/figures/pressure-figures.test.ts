/**
 * The figures of issue 4 on the sample workload (fuzz/figures/pressure-figures.ts): computed
 * with every property checked at every step, and equal to what the workload implies. Each test
 * runs the workload it asserts on inside the test: mutation testing attributes the model code a
 * test runs to that test, and code run while the file loads to no test at all (a static
 * mutant, which Stryker must test against every test of every related file).
 */
import { HOST_CACHE_PAGES_MAX } from '../../model/pagecache/layout';
import { doubleCachingFigures, sharedCacheFigures } from './pressure-figures';

describe('issue 4 figures', () => {
  it('double caching: every host frame of a cache=writeback image holds a block the guest caches; none with cache=none', () => {
    const [wb, mixed, none, upc] = doubleCachingFigures();
    expect(wb).toMatchObject({ guestPages: 256, hostFrames: 4 * HOST_CACHE_PAGES_MAX, doubleCached: 4 * HOST_CACHE_PAGES_MAX, violations: 0 });
    expect(mixed).toMatchObject({ guestPages: 256, hostFrames: 2 * HOST_CACHE_PAGES_MAX, doubleCached: 2 * HOST_CACHE_PAGES_MAX, violations: 0 });
    expect(none).toMatchObject({ guestPages: 256, hostFrames: 0, doubleCached: 0, violations: 0 });
    // Unmapped page-cache control keeps 16 unmapped pages per guest: the newest, read from the
    // cache=none disk, so what the host holds is no longer cached twice.
    expect(upc).toMatchObject({ guestPages: 32, hostFrames: 2 * HOST_CACHE_PAGES_MAX, doubleCached: 0, violations: 0 });
  });

  it('shared page cache: 3 guests reading 16 shared pages need 16 frames instead of 48', () => {
    const shared = sharedCacheFigures();
    expect(shared.read).toMatchObject({ mappings: 48, sharedFrames: 16, privateCopies: 0, perGuestFrames: 48, saved: 32, savedRecount: 32, violations: 0 });
    // Four private copies: those pages are shared by two guests now, not three.
    expect(shared.afterWrites).toMatchObject({ mappings: 48, sharedFrames: 16, privateCopies: 4, saved: 28, savedRecount: 28, violations: 0 });
  });
});
