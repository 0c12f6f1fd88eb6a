/**
 * memctl (issue 3): the pvmemcontrol device (model/memctl/memctl.ts).
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { int, oneOf, PAGES_MAX, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import { ENABLED_OPTION, MEMCTL_FUNCS, inRegion, initMemctl, memctlAccess, memctlOf, memctlReclaimLazy, memctlRequest, type MemctlFunc } from '../memctl/memctl';
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
];

export const memctlMechanism: MechanismModel = {
  name: 'memctl',
  operations,
  faults,
  transitions: { [M]: ['handed->in-use', 'in-use->handed', 'in-use->lazy', 'lazy->handed'] },
  init(w) {
    if (!w.option<boolean>(ENABLED_OPTION, false)) return;
    for (const g of w.guests) initMemctl(w, g);
  },
};
