/**
 * device-discards-only-donated: the host discards (drops the backing of) only guest memory the
 * guest gave the discarding device: a page in the virtio balloon (inflating, or in the balloon
 * under the spec's rules), a page the VMware host locked, a free block isolated for a report,
 * memctl memory of the calling guest. Anything else is data loss (QEMU 483f13524bb2 discarded
 * a whole host huge page for one ballooned sub-page). Free page hinting has its own rules
 * (hinting-device-rules): the device may drop any page unchanged since its hint; memctl
 * requests that reach another guest are memctl-confined's.
 */
import { DISCARD_MARK, discardLog, type DiscardEvent } from '../../model/devices/discard';
import { describeGuestOwner } from '../../model/guest/guest';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'device-discards-only-donated';

function allowed(e: DiscardEvent): boolean {
  const o = e.owner;
  switch (e.device) {
    case 'virtio-balloon':
      return o?.kind === 'balloon' && o.device === 'virtio-balloon';
    case 'vmware-balloon':
      return o?.kind === 'balloon' && o.device === 'vmware-balloon';
    case 'free-page-reporting':
      return o?.kind === 'reporting';
    case 'memctl':
      return e.guest !== e.caller || o?.kind === 'memctl';
    case 'free-page-hinting':
      return true;
  }
}

function check({ world: w, journal: j }: StepContext, r: Reporter): void {
  const log = discardLog(w);
  for (const id of j.marks.get(DISCARD_MARK) ?? []) {
    const e = log[id]!;
    if (!allowed(e))
      r.report({ property: NAME, kind: 'discarded-live-page', subject: `g${e.guest} gfn ${hex(e.gfn)}`, message: `the host discarded, for ${e.device}, a page the guest had not given it`, expected: `a page donated to ${e.device}`, actual: describeGuestOwner(e.owner) });
  }
}

export const deviceDiscardsOnlyDonated: Property = {
  name: NAME,
  mechanism: 'virtio-balloon',
  kind: 'safety',
  description: 'the host discards only guest memory donated to the device that asked',
  checkStep: check,
  checkAll: check,
};
