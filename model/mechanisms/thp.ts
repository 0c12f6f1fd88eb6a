/**
 * Transparent huge pages (issue: pages that move and merge): the huge zero page on read
 * faults, splits, MADV_DONTNEED, and khugepaged in guest processes and on the host's backing
 * of guest memory.
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import type { World } from '../world';
import type { Guest } from '../guest/guest';
import { MAX_PAGE_ORDER } from '../constants';
import { FAULT_COLLAPSE_SKIPS_NOTIFIER } from '../thp/host-khugepaged';
import { FAULT_COLLAPSE_MAPS_PTES, FAULT_COLLAPSE_STALE_SCAN } from '../thp/khugepaged';
import { thpOperations } from '../thp/ops';
import { FAULT_SPLIT_WITHOUT_INVALIDATE } from '../thp/split';
import { thpState } from '../thp/state';
import { FAULT_HUGE_ZERO_WRITABLE, thpFaultHook } from '../thp/zero-page';

export const thpFaults: readonly FaultDef[] = [
  {
    name: FAULT_COLLAPSE_STALE_SCAN,
    mechanism: 'thp',
    scenario: 'model/thp/thp.test.ts',
    breaks: ['thp-translation-equivalent', 'thp-collapse-stays-in-bounds', 'oracle-agreement', 'read-returns-last-write', 'no-cross-tenant-leak', 'ownership-partition', 'virtio-mem-unplugged-inaccessible'],
    reproduces: 'mm/khugepaged.c collapse_huge_page must revalidate under mmap_write_lock (hugepage_vma_revalidate, __collapse_huge_page_isolate); collapsing from the scan\'s stale view copies pages discarded since (DONTNEED, balloon, unplug) back into the range',
  },
  {
    name: FAULT_COLLAPSE_SKIPS_NOTIFIER,
    mechanism: 'thp',
    scenario: 'model/thp/thp.test.ts',
    breaks: ['ept-coherence', 'walk-cost'],
    reproduces: 'f268f6cf875f (mm/khugepaged: invoke MMU notifiers in shmem/file collapse paths): a collapse without mmu_notifier_invalidate_range_start left KVM mapping the freed small pages',
  },
  {
    name: FAULT_COLLAPSE_MAPS_PTES,
    mechanism: 'thp',
    scenario: 'model/thp/thp.test.ts',
    breaks: ['thp-walk-cost'],
    reproduces: 'mm/khugepaged.c collapse_huge_page installs one PMD leaf (set_pmd_at); a huge page left mapped by 512 PTEs keeps the 4 KiB walk the collapse exists to shorten',
  },
  {
    name: FAULT_SPLIT_WITHOUT_INVALIDATE,
    mechanism: 'thp',
    scenario: 'model/thp/thp.test.ts',
    breaks: ['tlb-coherence'],
    reproduces: 'mm/huge_memory.c __split_huge_pmd_locked: pmdp_invalidate and flush before installing the PTE table, or a 2 MiB and a 4 KiB TLB entry coexist for the same page (AMD erratum 383)',
  },
  {
    name: FAULT_HUGE_ZERO_WRITABLE,
    mechanism: 'thp',
    scenario: 'model/thp/thp.test.ts',
    breaks: ['thp-zero-page-intact', 'oracle-agreement', 'page-table-well-formed'],
    reproduces: 'CVE-2017-1000405 ("Huge Dirty COW"): touch_pmd made the huge zero page\'s PMD dirty and writable, so a write corrupted the zeroes every process reads',
  },
];

/** thp: guest huge/zero mappings, splits, khugepaged's candidates (guest and host). */
export const thpTransitions: Readonly<Record<string, readonly string[]>> = {
  thp: [
    'unmapped->huge-zero', 'huge-zero->split', 'zero-4k->copied', 'mapped-2m->split', 'backed-2m->host-split',
    'idle->scanned', 'scanned->collapsed', 'scanned->aborted', 'idle->host-scanned', 'host-scanned->host-collapsed', 'host-scanned->aborted',
  ],
};

/**
 * Memory the guest gave back (a page in a balloon or CMM, a free block being reported or reported:
 * PG_reported) must stay unpopulated: host khugepaged must not fill it in by collapsing its
 * unit (the device discarded it so the host could use the memory).
 */
function givenBack(_w: World, g: Guest, gfn: number): string | null {
  const o = g.owners.get(gfn);
  if (o?.kind === 'balloon') return `in the ${o.device}`;
  if (o?.kind === 'reporting') return 'a free block being reported';
  if (o?.kind === 'cmm') return 'a page the CMM driver gave the host';
  for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
    const head = gfn - (gfn % 2 ** order);
    if (g.buddy.freeBlockAt(head)?.order === order) return g.buddy.isReported(head) ? 'a reported free block' : null;
  }
  return null;
}

function init(w: World): void {
  for (const g of w.guests) {
    g.pageFaultHooks.push(thpFaultHook);
    g.backingHooks.push({ collapseBarrier: givenBack });
  }
}

/** khugepaged's candidates are dropped (khugepaged sleeps): nothing else is in flight. */
function settle(w: World): void {
  const s = thpState(w);
  for (const id of [...s.guestCandidate.keys()]) {
    s.guestCandidate.delete(id);
    w.transition('thp', 'scanned', 'aborted');
  }
  for (const id of [...s.hostCandidate.keys()]) {
    s.hostCandidate.delete(id);
    w.transition('thp', 'host-scanned', 'aborted');
  }
}

export const thpMechanism: MechanismModel = {
  name: 'thp',
  operations: thpOperations,
  faults: thpFaults,
  transitions: thpTransitions,
  init,
  settle,
};
