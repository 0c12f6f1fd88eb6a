/**
 * ept-coherence (domain.md sections 1 and 10.4): the EPT is a cache of the host's primary
 * mapping of guest memory. Every present EPT leaf maps gfn to exactly the frame the primary
 * mapping holds for it, and that frame's owner record says it backs this guest at this gfn:
 * no EPT entry points at a frame the guest no longer owns.
 */
import { windowFrameOk } from '../../model/dax/shared-cache';
import { describeOwner } from '../../model/host/frames';
import type { Guest } from '../../model/guest/guest';
import type { World } from '../../model/world';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'ept-coherence';

function checkGfn(w: World, g: Guest, gfn: number, r: Reporter): void {
  const l = g.ept.lookup(w, gfn);
  if (l.kind !== 'leaf') return;
  const subject = `g${g.id} gfn ${hex(gfn)}`;
  const backing = g.backing.get(gfn);
  if (backing !== l.hfn) {
    r.report({ property: NAME, kind: 'stale-ept-entry', subject, message: 'the EPT maps a frame the primary mapping no longer holds', expected: backing === undefined ? 'no EPT leaf (not backed)' : `hfn ${hex(backing)}`, actual: `EPT -> hfn ${hex(l.hfn)}` });
    return;
  }
  const o = w.frames.owner(l.hfn);
  // A window gfn (above RAM) maps its shared file page or this guest's private copy of it.
  const owned = gfn >= g.config.frames ? windowFrameOk(w, g, gfn, l.hfn) : o?.kind === 'guest-memory' && o.guest === g.id && o.gfn === gfn;
  if (!owned)
    r.report({ property: NAME, kind: 'ept-to-foreign-frame', subject, message: 'the EPT maps a frame this guest does not own', expected: `g${g.id} gfn ${hex(gfn)}`, actual: describeOwner(o) });
}

export const eptCoherence: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: 'every EPT leaf agrees with the host primary mapping and the frame owner',
  checkStep({ world: w, journal: j }, r) {
    for (const [gid, gfns] of j.gfns) for (const gfn of gfns) checkGfn(w, w.guests[gid]!, gfn, r);
    for (const hfn of j.frames) for (const hit of w.eptRmap.reaching(hfn)) {
      if (j.gfns.get(hit.owner)?.has(hit.source)) continue;
      checkGfn(w, w.guests[hit.owner]!, hit.source, r);
    }
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests)
      for (const leaf of g.ept.leaves(w)) {
        const span = leaf.level === 1 ? 1 : 512 ** (leaf.level - 1);
        for (let i = 0; i < span; i++) checkGfn(w, g, leaf.gfn + i, r);
      }
  },
};
