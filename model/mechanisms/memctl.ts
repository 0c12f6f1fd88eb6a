/**
 * memctl (issue 3): the pvmemcontrol device (model/memctl/memctl.ts).
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { bool, int, oneOf, PAGES_MAX, VPN_MAX, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import { ENABLED_OPTION, MEMCTL_FUNCS, REGION_OPTION, inRegion, initMemctl, memctlAccess, memctlMmap, memctlOf, memctlReclaimLazy, memctlRequest, type MemctlFunc, type RegionMode } from '../memctl/memctl';
import { GFN, GUEST, withDevice } from './device-args';
import { hex } from '../../properties/violation';

const M = 'memctl';

function access(write: boolean): OperationDef['apply'] {
  return (w, a) => {
    const x = withDevice(w, a, memctlOf, 'memctl device');
    if ('ok' in x) return x;
    const gfn = a.gfn as number;
    if (!inRegion(x.d, gfn)) return refuse('invalid', `g${x.g.id} gfn ${hex(gfn)} is not memctl memory`);
    return memctlAccess(w, x.g, x.d, gfn, write);
  };
}

const operations: readonly OperationDef[] = [
  {
    name: 'memctl.request', mechanism: M, args: { guest: GUEST, func: oneOf(...MEMCTL_FUNCS), gfn: GFN, pages: int(0, PAGES_MAX) },
    apply: (w, a) => {
      const x = withDevice(w, a, memctlOf, 'memctl device');
      if ('ok' in x) return x;
      return memctlRequest(w, x.g, a.func as MemctlFunc, a.gfn as number, a.pages as number);
    },
  },
  { name: 'memctl.read', mechanism: M, args: { guest: GUEST, gfn: GFN }, apply: access(false) },
  { name: 'memctl.write', mechanism: M, args: { guest: GUEST, gfn: GFN }, apply: access(true) },
  {
    // A process maps the 1 GiB region (memctl.region 'giga'): one 1 GiB guest page.
    name: 'memctl.mmap', mechanism: M, args: { guest: GUEST, pid: int(1, 2 ** 20), vpn: int(0, VPN_MAX), write: bool },
    apply: (w, a) => {
      const x = withDevice(w, a, memctlOf, 'memctl device');
      if ('ok' in x) return x;
      const p = x.g.processes.get(a.pid as number);
      if (!p) return refuse('no-such-process', `g${x.g.id} has no pid ${String(a.pid)}`);
      return memctlMmap(w, x.g, p, a.vpn as number, a.write as boolean);
    },
  },
  {
    name: 'memctl.host.reclaim', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, memctlOf, 'memctl device');
      if ('ok' in x) return x;
      if (x.d.lazy.size === 0) return refuse('invalid', `g${x.g.id}: no MADV_FREE memory`);
      return ok(memctlReclaimLazy(w, x.g, x.d));
    },
  },
];

const faults: readonly FaultDef[] = [
  {
    name: 'memctl-host-skips-zeroing', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['memctl-zeroed-once'],
    reproduces: 'memctl seed article: the guest does not zero memctl memory, the host zeroes it when it faults it back in; a VMM serving DONTNEED with MADV_FREE semantics keeps the old frame, so the guest touches it never zeroed',
  },
  {
    name: 'memctl-guest-zeroes', mechanism: M, breaks: ['memctl-zeroed-once'],
    reproduces: 'memctl seed article: zeroing memctl memory in the guest as well is the double clearing the mechanism exists to remove (every frame zeroed twice)',
  },
  {
    name: 'memctl-no-bounds-check', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['memctl-confined'],
    reproduces: 'pvmemcontrol: a request must act only inside the calling guest\'s memory (-EINVAL otherwise); checking the start address but not start + length lets a request run into another guest\'s memory',
  },
  {
    name: 'memctl-pageout-ignores-mlock', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['memctl-mlock-respected'],
    reproduces: 'mm/vmscan.c / mm/madvise.c: VM_LOCKED memory sits on the unevictable LRU and MADV_PAGEOUT skips it; a PAGEOUT or host reclaim that ignores MLOCK pages out memory the guest pinned',
  },
  {
    name: 'memctl-discard-main-ramblock', mechanism: M, scenario: 'model/memctl/giga.test.ts', breaks: ['memctl-zeroed-once'],
    reproduces: 'QEMU softmmu/physmem.c ram_block_discard_range: the discard is bounded by the RAMBlock that holds the range; a VMM that bounds it by the main RAM block leaves the memctl 1 GiB region (its own memslot above RAM) backed, so after DONTNEED the guest touches its old frame, never zeroed',
  },
  {
    name: 'memctl-mprotect-skips-notifier', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['memctl-protection-respected'],
    reproduces: 'mm/mprotect.c change_protection -> change_pmd_range: mmu_notifier_invalidate_range_start(MMU_NOTIFY_PROTECTION_VMA) makes KVM zap the EPT leaves of the range (kvm_mmu_notifier_invalidate_range_start); a VMM mprotect() that skips the notifier leaves the old writable EPT leaf, so the guest keeps writing memory the host made read-only or PROT_NONE',
  },
];

export const memctlMechanism: MechanismModel = {
  name: 'memctl',
  operations,
  faults,
  transitions: { [M]: ['handed->in-use', 'in-use->handed', 'in-use->lazy', 'lazy->handed', 'unmapped->mapped-1g'] },
  init(w) {
    if (!w.option<boolean>(ENABLED_OPTION, false)) return;
    const mode = w.option<RegionMode>(REGION_OPTION, 'ram');
    for (const g of w.guests) initMemctl(w, g, mode);
  },
};
