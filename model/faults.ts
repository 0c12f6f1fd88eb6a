/**
 * Known-bug injection (FoundationDB's BUGGIFY, turned into named variants): each fault switches
 * the model to a variant that reproduces a real bug or breaks a real rule, at one hazard in
 * the code (search for `world.fault('<name>')`). Every property must be broken by at least one
 * fault, and every fault names what it reproduces.
 */

export interface FaultDef {
  readonly name: string;
  readonly mechanism: string;
  /** Properties expected to catch it (the catalogue checks that one of them does). */
  readonly breaks: readonly string[];
  readonly reproduces: string;
  /**
   * The test file (path from the repository root) whose deterministic scenario shows the fault
   * caught by a property it breaks, or a regression-corpus trace (fuzz/regressions.test.ts
   * replays it with the fault, expecting the property, and without, expecting none). fuzz/faults.test.ts spends its fixed random budget only on
   * faults without one (it is required where that budget cannot reach the fault); the campaign
   * and the catalogue still hunt every fault at random.
   */
  readonly scenario?: string;
  /**
   * Swarm options the bug needs to exist at all (the machine it lives on, e.g. a guest that
   * poisons its free pages on a host that does not offer PAGE_POISON). The hunt's focused runs
   * use them; its other runs, and every campaign, draw all options at random.
   */
  readonly machine?: Readonly<Record<string, number | boolean | string>>;
}

export const coreFaults: readonly FaultDef[] = [
  {
    name: 'tlb-no-flush-on-unmap',
    mechanism: 'tlb',
    breaks: ['tlb-coherence'],
    reproduces: 'CVE-2018-18281: mremap freed a page before the TLB flush, leaving a stale translation to a reused frame',
  },
  {
    name: 'tlb-entry-uses-guest-size',
    mechanism: 'tlb',
    breaks: ['tlb-coherence'],
    reproduces: 'Intel SDM vol. 3C 29.4.2: a combined TLB entry covers only the smaller of the guest and EPT page sizes',
    scenario: 'model/mmu/tlb-size.test.ts',
  },
  {
    name: 'buddy-merge-across-isolation',
    mechanism: 'buddy',
    breaks: ['buddy-invariants'],
    reproduces: 'd9dddbf55667 / 3c605096d315: buddies merged across an isolated pageblock; free counts drifted until MemFree exceeded MemTotal',
  },
  {
    name: 'no-zero-on-reassign',
    mechanism: 'nested-mmu',
    breaks: ['no-cross-tenant-leak'],
    reproduces: 'Xen XSA-100 / CVE-2014-4021: pages handed to a guest without scrubbing exposed another domain\'s data',
  },
  {
    name: 'ept-kept-after-free',
    mechanism: 'nested-mmu',
    breaks: ['ept-coherence'],
    reproduces: 'f268f6cf875f / CVE-2021-22543: the host dropped a page without the MMU notifier; KVM kept an EPT mapping to the freed frame',
    scenario: 'fuzz/regressions/ept-kept-after-free.json',
  },
  {
    name: 'fault-ignores-invalidation-seq',
    mechanism: 'nested-mmu',
    breaks: ['ept-coherence'],
    reproduces: 'arch/x86/kvm/mmu/mmu.c is_page_fault_stale: a fault that raced an invalidation must retry, not install the frame it resolved before',
    scenario: 'fuzz/regressions/fault-ignores-invalidation-seq.json',
  },
  {
    name: 'reclaim-copies-before-zap',
    mechanism: 'nested-mmu',
    breaks: ['read-returns-last-write', 'oracle-agreement', 'page-table-well-formed'],
    reproduces: 'd950c9477d51 (try_to_unmap_flush_dirty): contents copied out while a writable translation survives miss the writes made through it',
    scenario: 'fuzz/regressions/reclaim-copies-before-zap.json',
  },
  {
    name: 'walk-skips-final-ept',
    mechanism: 'nested-mmu',
    breaks: ['walk-cost'],
    reproduces: 'Intel SDM vol. 3C 29.3: with EPT enabled the final guest-physical address is translated through the EPT (a walk of (g+1)(h+1)-1 references); skipping it reads host memory by guest address',
  },
  {
    name: 'pt-page-freed-while-linked',
    mechanism: 'nested-mmu',
    breaks: ['page-table-well-formed'],
    reproduces: '5e0fb5df2ee8 class (x86/mm: free pmd/pte page interfaces): a page-table page freed while an upper entry still points at it',
  },
  {
    name: 'host-reclaim-skips-free',
    mechanism: 'nested-mmu',
    breaks: ['ownership-partition', 'teardown-frees-everything'],
    reproduces: 'the leak class page_owner exists to find (mm/page_owner.c): a frame whose mapping is gone but which was never freed',
  },
  {
    name: 'invalidate-end-skipped',
    mechanism: 'nested-mmu',
    breaks: ['invalidation-completes'],
    reproduces: 'include/linux/mmu_notifier.h: every invalidate_range_start needs its _end; an unbalanced start leaves KVM retrying faults in the range forever',
  },
];
