/**
 * ept-coherence (domain.md sections 1 and 10.4): the EPT is a cache of the host's primary
 * mapping of guest memory. Every present EPT leaf maps gfn to exactly the frame the primary
 * mapping holds for it, and that frame's owner record says it backs this guest at this gfn:
 * no EPT entry points at a frame the guest no longer owns.
 */
import { ramLike, windowAt } from '../../model/host/ept-fault';
import { describeOwner } from '../../model/host/frames';
import type { Guest } from '../../model/guest/guest';
import type { World } from '../../model/world';
import { nodeOfFrame, sharerKey } from '../../model/ksm/ksm';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'ept-coherence';

/** The last 2 MiB unit looked up: a huge leaf answers for all 512 gfns with one walk. */
interface UnitCache {
  guest: number;
  unit: number;
  hfnBase: number;
}

function checkGfn(w: World, g: Guest, gfn: number, r: Reporter, cache?: UnitCache): void {
  const unit = gfn >> 9;
  let hfn: number;
  if (cache && cache.guest === g.id && cache.unit === unit) hfn = cache.hfnBase + (gfn & 511);
  else {
    const l = g.ept.lookup(w, gfn);
    if (l.kind !== 'leaf') return;
    hfn = l.hfn;
    if (cache && l.level === 2) {
      cache.guest = g.id;
      cache.unit = unit;
      cache.hfnBase = l.hfn - (gfn & 511);
    }
  }
  const l = { hfn };
  const subject = (): string => `g${g.id} gfn ${hex(gfn)}`;
  const backing = g.backing.get(gfn);
  if (backing !== l.hfn) {
    r.report({ property: NAME, kind: 'stale-ept-entry', subject: subject(), message: 'the EPT maps a frame the primary mapping no longer holds', expected: backing === undefined ? 'no EPT leaf (not backed)' : `hfn ${hex(backing)}`, actual: `EPT -> hfn ${hex(l.hfn)}` });
    return;
  }
  const o = w.frames.owner(l.hfn);
  // A KSM page is mapped by every (guest, gfn) its stable node lists (read-only: ksm-merged-read-only).
  if (o?.kind === 'ksm' && nodeOfFrame(w, l.hfn)?.sharers.has(sharerKey(g.id, gfn))) return;
  // A device window gfn (above RAM) maps what its window says (a DAX window: its shared file
  // page or this guest's private copy of it); RAM and `ram` memslots map this guest's frame.
  const owned = !ramLike(g, gfn) ? (windowAt(g, gfn)?.frameOk?.(w, g, gfn, l.hfn) ?? false) : o?.kind === 'guest-memory' && o.guest === g.id && o.gfn === gfn;
  if (!owned)
    r.report({ property: NAME, kind: 'ept-to-foreign-frame', subject: subject(), message: 'the EPT maps a frame this guest does not own', expected: `g${g.id} gfn ${hex(gfn)}`, actual: describeOwner(o) });
}

export const eptCoherence: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: 'every EPT leaf agrees with the host primary mapping and the frame owner',
  checkStep({ world: w, journal: j }, r) {
    const cache: UnitCache = { guest: -1, unit: -1, hfnBase: 0 };
    for (const [gid, gfns] of j.gfns) for (const gfn of gfns) checkGfn(w, w.guests[gid]!, gfn, r, cache);
    for (const hfn of j.released) for (const hit of w.eptRmap.reaching(hfn)) {
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
