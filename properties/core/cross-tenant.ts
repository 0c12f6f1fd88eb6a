/**
 * no-cross-tenant-leak (domain.md section 10.2): a frame that backs guest g holds nothing but
 * g's own data, zeroes or poison. A frame that last held another domain's data must be
 * cleared before it is handed over: checked when it is handed over, before anyone reads it.
 */
import { contentOwner, describeContent, domainName } from '../../model/content';
import type { World } from '../../model/world';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'no-cross-tenant-leak';

function check(w: World, hfn: number, r: Reporter): void {
  const owner = w.frames.owner(hfn);
  if (owner?.kind !== 'guest-memory') return;
  const c = w.frames.read(hfn);
  const from = contentOwner(c);
  if (from !== null && from !== owner.guest)
    r.report({ property: NAME, kind: 'foreign-data', subject: `hfn ${hex(hfn)} (g${owner.guest} gfn ${hex(owner.gfn)})`, message: `a frame backing g${owner.guest} holds ${domainName(from)}'s data`, expected: `zero, poison or g${owner.guest}'s data`, actual: describeContent(c) });
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
