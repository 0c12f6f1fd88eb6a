/**
 * vmw-balloon-accounting (drivers/misc/vmw_balloon.c): the driver's balloon size equals what
 * the hypervisor locked (in 4 KiB pages); a 2 MiB balloon page is locked whole; at most
 * VMW_BALLOON_MAX_REFUSED refused pages are held aside.
 */
import type { Guest } from '../../model/guest/guest';
import { VMW_BALLOON_MAX_REFUSED, vmwMark, vmwOf } from '../../model/balloon/vmware-balloon';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'vmw-balloon-accounting';

function check(g: Guest, r: Reporter): void {
  const b = vmwOf(g);
  if (!b) return;
  const subject = `g${g.id} vmware-balloon`;
  if (b.size !== b.hostLocked.size)
    r.report({ property: NAME, kind: 'size-mismatch', subject, message: 'the driver counts pages the hypervisor did not lock', expected: `${b.hostLocked.size} pages locked by the host`, actual: `size ${b.size}` });
  for (const p of b.pages)
    if (p.order > 0 && !b.hostLocked.has(p.head + 2 ** p.order - 1)) {
      r.report({ property: NAME, kind: 'huge-page-partly-locked', subject: `${subject} gfn ${hex(p.head)}`, message: 'a 2 MiB balloon page the host locked only in part', expected: '512 pages locked', actual: 'the last 4 KiB page unlocked' });
      break;
    }
  if (b.refused.length > VMW_BALLOON_MAX_REFUSED)
    r.report({ property: NAME, kind: 'refused-overflow', subject, message: 'more refused pages held than VMW_BALLOON_MAX_REFUSED', expected: `<= ${VMW_BALLOON_MAX_REFUSED}`, actual: String(b.refused.length) });
}

export const vmwBalloonAccounting: Property = {
  name: NAME,
  mechanism: 'vmware-balloon',
  kind: 'safety',
  description: "the driver's balloon size equals the pages the hypervisor locked; 2 MiB pages locked whole; at most 16 refused pages held",
  checkStep({ world: w, journal: j }, r) {
    for (const g of w.guests) if (j.marks.has(vmwMark(g))) check(g, r);
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) check(g, r);
  },
};
