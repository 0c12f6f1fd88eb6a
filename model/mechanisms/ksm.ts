/**
 * KSM (issue: pages that move and merge): per-VM opt-in, ksmd merging identical pages within
 * and across guests into read-only KSM pages, copy-on-write on any write.
 */
import type { FaultDef } from '../faults';
import { breakCow, FAULT_COW_WRITES_SHARED, FAULT_MERGE_LEAVES_WRITABLE, FAULT_UNMERGEABLE_KEEPS_MERGED, ksmTeardown, nodeOfFrame, nodeOfGfn } from '../ksm/ksm';
import { ksmOperations } from '../ksm/ops';
import type { MechanismModel } from '../mechanism';
import type { World } from '../world';

export const ksmFaults: readonly FaultDef[] = [
  {
    name: FAULT_MERGE_LEAVES_WRITABLE,
    mechanism: 'ksm',
    scenario: 'model/ksm/ksm.test.ts',
    breaks: ['ksm-merged-read-only', 'ksm-cow-isolation'],
    reproduces: 'mm/ksm.c write_protect_page / replace_page: a merged page is mapped read-only in every page table (and KVM\'s EPT); a writable mapping lets one sharer write into the page the others read',
  },
  {
    name: FAULT_COW_WRITES_SHARED,
    mechanism: 'ksm',
    scenario: 'model/ksm/ksm.test.ts',
    breaks: ['ksm-cow-isolation', 'ksm-merged-read-only', 'read-returns-last-write', 'oracle-agreement'],
    reproduces: 'CVE-2016-5195 (Dirty COW) class: a write fault on a copy-on-write page must write the private copy; making the shared page writable instead lands the write in every sharer\'s view',
  },
  {
    name: FAULT_UNMERGEABLE_KEEPS_MERGED,
    mechanism: 'ksm',
    scenario: 'model/ksm/ksm.test.ts',
    breaks: ['ksm-opt-in'],
    reproduces: 'mm/ksm.c ksm_madvise(MADV_UNMERGEABLE) -> unmerge_ksm_pages: a VM that opts out must get private copies of its merged pages; skipping it keeps it sharing (and exposed to the side channel) against its will',
  },
];

/** ksm: a page's life and a range's opt-in. */
export const ksmTransitions: Readonly<Record<string, readonly string[]>> = {
  ksm: ['private->merged', 'merged->private', 'merged->freed', 'unmergeable->mergeable', 'mergeable->unmergeable'],
};

function init(w: World): void {
  for (const g of w.guests) {
    g.backingHooks.push({
      readOnly: (world, guest, gfn) => nodeOfGfn(world, guest, gfn) !== undefined,
      writeFault: (world, guest, gfn) => (nodeOfGfn(world, guest, gfn) ? breakCow(world, guest, gfn, 'write') : null),
      busy: (world, guest, gfn) => {
        const hfn = guest.backing.get(gfn);
        return hfn !== undefined && nodeOfFrame(world, hfn) ? 'a KSM page (KSM moves and reclaims its own pages)' : null;
      },
    });
    g.teardownHooks.push(ksmTeardown);
  }
}

export const ksmMechanism: MechanismModel = {
  name: 'ksm',
  operations: ksmOperations,
  faults: ksmFaults,
  transitions: ksmTransitions,
  init,
};
