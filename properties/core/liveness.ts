/**
 * Liveness, checked after the fault-free settle phase (domain.md section 10.7; the settle
 * phase is fuzz/settle.ts):
 * - invalidation-completes: every invalidation that began has ended and no fault or reclaim
 *   is left in flight.
 * - teardown-frees-everything: after every guest is destroyed, every host frame is free again
 *   (nothing leaked).
 */
import type { Property } from '../property';

export const invalidationCompletes: Property = {
  name: 'invalidation-completes',
  mechanism: 'nested-mmu',
  kind: 'liveness',
  description: 'after settling, no invalidation is in progress and nothing is left in flight',
  checkStep() {},
  checkAll() {},
  settled({ world: w }, r) {
    for (const g of w.guests) {
      const s = g.invalidation;
      if (s.inProgress !== 0 || g.pendingReclaim || g.pendingFault)
        r.report({ property: 'invalidation-completes', kind: 'stuck-invalidation', subject: `g${g.id}`, message: 'an invalidation, fault or reclaim never completed', expected: 'in_progress 0, nothing in flight', actual: `in_progress ${s.inProgress}${g.pendingReclaim ? ', reclaim in flight' : ''}${g.pendingFault ? ', fault in flight' : ''}` });
    }
  },
};

export const teardownFreesEverything: Property = {
  name: 'teardown-frees-everything',
  mechanism: 'buddy',
  kind: 'liveness',
  description: 'destroying every guest returns every host frame to the allocator',
  checkStep() {},
  checkAll() {},
  afterTeardown({ world: w }, r) {
    const allocated = w.hostBuddy.allocatedPages();
    if (allocated !== 0 || w.frames.owned !== 0)
      r.report({ property: 'teardown-frees-everything', kind: 'leak-at-teardown', subject: 'host', message: 'frames still allocated after every guest was destroyed', expected: '0 allocated', actual: `${allocated} allocated, ${w.frames.owned} with an owner` });
  },
};
