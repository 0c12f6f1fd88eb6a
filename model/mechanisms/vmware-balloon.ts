/**
 * vmware-balloon (issue 3): the VMware balloon of model/balloon/vmware-balloon.ts.
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { bool, int, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import { CAPS_OPTION, releaseRefused, vmwAlloc, vmwDeflate, vmwHostDiscard, vmwLock, vmwOf, vmwProbe, vmwSettle } from '../balloon/vmware-balloon';
import { GFN, GUEST, withDevice } from './device-args';
import { hex } from '../../properties/violation';

const M = 'vmware-balloon';

const operations: readonly OperationDef[] = [
  {
    name: 'vmw.host.target', mechanism: M, args: { guest: GUEST, pages: int(0, 2 ** 20) },
    apply: (w, a) => {
      const x = withDevice(w, a, vmwOf, 'VMware balloon');
      if ('ok' in x) return x;
      x.d.target = a.pages as number;
      return ok();
    },
  },
  {
    name: 'vmw.inflate', mechanism: M, args: { guest: GUEST, small: bool },
    apply: (w, a) => {
      const x = withDevice(w, a, vmwOf, 'VMware balloon');
      if ('ok' in x) return x;
      if (x.d.batch.length > 0) return refuse('busy', `g${x.g.id}: a batch waits for LOCK`);
      if (x.d.size >= x.d.target) return refuse('invalid', `g${x.g.id}: balloon at or above target`);
      const n = vmwAlloc(w, x.g, x.d, a.small as boolean);
      return n > 0 ? ok(n) : refuse('guest-oom', `g${x.g.id}: ${x.d.stuck ?? 'no page'}`);
    },
  },
  {
    name: 'vmw.lock', mechanism: M, args: { guest: GUEST, refuse: int(0, 2 ** 32 - 1) },
    apply: (w, a) => {
      const x = withDevice(w, a, vmwOf, 'VMware balloon');
      if ('ok' in x) return x;
      if (x.d.batch.length === 0) return refuse('invalid', `g${x.g.id}: nothing to lock`);
      return ok(vmwLock(w, x.g, x.d, a.refuse as number));
    },
  },
  {
    name: 'vmw.deflate', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, vmwOf, 'VMware balloon');
      if ('ok' in x) return x;
      releaseRefused(w, x.g, x.d);
      const n = vmwDeflate(w, x.g, x.d);
      return n > 0 ? ok(n) : refuse('invalid', `g${x.g.id}: balloon not above target`);
    },
  },
  {
    name: 'vmw.host.discard', mechanism: M, args: { guest: GUEST, gfn: GFN },
    apply: (w, a) => {
      const x = withDevice(w, a, vmwOf, 'VMware balloon');
      if ('ok' in x) return x;
      const p = x.d.pages.find((q) => q.head === a.gfn);
      if (!p) return refuse('invalid', `g${x.g.id} gfn ${hex(a.gfn as number)} is not a locked balloon page`);
      return ok(vmwHostDiscard(w, x.g, x.d, p));
    },
  },
];

const faults: readonly FaultDef[] = [
  {
    name: 'vmw-2m-without-batching', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['vmw-balloon-accounting'],
    reproduces: 'vmw_balloon: "do not use 2MB without batching" (Nadav Amit, 2018): with BATCHED_2M but not BATCHED the driver sent 2 MiB pages through the single LOCK command, which locks one 4 KiB PFN',
  },
];

export const vmwareBalloonMechanism: MechanismModel = {
  name: 'vmware-balloon',
  operations,
  faults,
  transitions: { [M]: ['guest->batched', 'batched->locked', 'batched->refused', 'refused->guest', 'locked->guest'] },
  init(w) {
    // With no capabilities offered (the default) vmwProbe finds no basic commands and probes nothing.
    const caps = w.option<number>(CAPS_OPTION, 0);
    for (const g of w.guests) vmwProbe(w, g, caps);
  },
  settle(w) {
    for (const g of w.guests) {
      const b = vmwOf(g);
      if (b) vmwSettle(w, g, b);
    }
  },
};
