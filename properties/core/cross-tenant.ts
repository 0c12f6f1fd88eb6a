/**
 * no-cross-tenant-leak (domain.md section 10.2): a frame that backs guest g holds nothing but
 * g's own data, zeroes or poison. A frame that last held another domain's data must be
 * cleared before it is handed over: checked when it is handed over, before anyone reads it.
 */
import { contentOwner, describeContent, domainName } from '../../model/content';
import type { World } from '../../model/world';
import { nodeOfFrame, sharerOf } from '../../model/ksm/ksm';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'no-cross-tenant-leak';

function check(w: World, hfn: number, r: Reporter): void {
  const owner = w.frames.owner(hfn);
  if (owner?.kind === 'ksm') return checkShared(w, hfn, r);
  if (owner?.kind !== 'guest-memory') return;
  const c = w.frames.read(hfn);
  const from = contentOwner(c);
  if (from !== null && from !== owner.guest)
    r.report({ property: NAME, kind: 'foreign-data', subject: `hfn ${hex(hfn)} (g${owner.guest} gfn ${hex(owner.gfn)})`, message: `a frame backing g${owner.guest} holds ${domainName(from)}'s data`, expected: `zero, poison or g${owner.guest}'s data`, actual: describeContent(c) });
}

/**
 * A KSM page is read by every sharer: it may hold a domain's data only when that domain is
 * the only guest sharing it (zeroes and byte patterns are nobody's secret).
 */
function checkShared(w: World, hfn: number, r: Reporter): void {
  const n = nodeOfFrame(w, hfn);
  if (!n) return;
  const from = contentOwner(w.frames.read(hfn));
  if (from === null) return;
  for (const key of n.sharers) {
    const guest = sharerOf(key).guest;
    if (guest !== from) {
      r.report({ property: NAME, kind: 'foreign-data', subject: `KSM hfn ${hex(hfn)} (node ${n.id})`, message: `a page shared with g${guest} holds ${domainName(from)}'s data`, expected: `zero, poison or g${guest}'s data`, actual: describeContent(w.frames.read(hfn)) });
      return;
    }
  }
}

export const noCrossTenantLeak: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: "no guest can reach another domain's data: frames are cleared before they change hands",
  checkStep({ world: w, journal: j }, r) {
    for (const hfn of j.frames) check(w, hfn, r);
  },
  checkAll({ world: w }, r) {
    for (const [hfn] of w.frames.ownedFrames()) check(w, hfn, r);
  },
};
