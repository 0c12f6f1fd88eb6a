/**
 * Shared page cache (issue 4): host file pages mapped into guests' DAX windows.
 */
import { daxInit, daxTeardown } from '../dax/shared-cache';
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { pressureOperations } from '../ops/pressure';

export const sharedPageCacheFaults: readonly FaultDef[] = [
  {
    name: 'dax-evict-while-mapped',
    mechanism: 'shared-page-cache',
    breaks: ['dax-only-granted-pages', 'ept-coherence', 'ownership-partition'],
    reproduces: 'fs/fuse/dax.c reclaims a DAX range only after fuse_dax_break_layouts saw its last user go; freeing a shared page still in a guest\'s EPT is the f268f6cf875f / CVE-2021-22543 class (a guest kept a mapping to a page the host freed)',
    scenario: 'model/dax/shared-cache.test.ts',
  },
  {
    name: 'dax-revoke-skips-tlb-flush',
    mechanism: 'shared-page-cache',
    breaks: ['dax-revocation-complete', 'tlb-coherence'],
    reproduces: 'a835429cda91 ("KVM: x86/mmu: Ensure TLBs are flushed when yielding during GFN range zap"): SPTEs zapped without the TLB flush left the guest a working translation after the range was taken away',
    scenario: 'model/dax/shared-cache.test.ts',
  },
  {
    name: 'dax-ro-write-hits-shared',
    mechanism: 'shared-page-cache',
    breaks: ['dax-only-granted-pages', 'dax-private-isolation'],
    reproduces: 'CVE-2016-5195 (Dirty COW): a write that must go to a private copy landed in the read-only page-cache page every other reader maps',
  },
  {
    name: 'dax-savings-miscount',
    mechanism: 'shared-page-cache',
    breaks: ['shared-savings-exact'],
    reproduces: 'an off-by-one in the accounting of shared copies (a page mapped by n guests saves n - 1 frames; the statistics-drift class of bbbc709a0fbf): the savings figure no longer matches the mappings',
  },
];

export const sharedPageCacheMechanism: MechanismModel = {
  name: 'shared-page-cache',
  operations: pressureOperations.filter((o) => o.mechanism === 'shared-page-cache'),
  faults: sharedPageCacheFaults,
  transitions: {
    'shared-page-cache': [
      'absent->cached', 'unmapped->shared', 'shared->private', 'not-exported->exported-ro', 'not-exported->exported-rw', 'shared->revoked', 'cached->absent',
    ],
  },
  init: daxInit,
  teardown: daxTeardown,
};
