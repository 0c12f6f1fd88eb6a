/**
 * tlb-coherence (domain.md section 10.4): every TLB entry equals a fresh two-dimensional walk:
 * same host frame, a leaf on each side at least as large as the entry, and no more permission
 * than the walk grants. Checked for the entries this step used, and for every entry that
 * covers a range whose mappings changed or a host frame whose owner changed.
 */
import type { TlbEntry } from '../../model/mmu/tlb';
import { nestedWalk } from '../../model/mmu/walk';
import { framesAtLevel } from '../../model/paging/entries';
import type { World } from '../../model/world';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'tlb-coherence';

function describe(e: TlbEntry): string {
  return `va ${hex(e.vpnBase * 4096)} (+${e.frames}) -> hfn ${hex(e.hfnBase)}${e.writable ? ' W' : ''}${e.nx ? '' : ' X'}`;
}

function checkEntry(w: World, e: TlbEntry, r: Reporter): void {
  const g = w.guests[e.vpid - 1];
  const p = g?.processes.get(e.pcid);
  const subject = (): string => `vpid ${e.vpid} pcid ${e.pcid} va ${hex(e.vpnBase * 4096)}`;
  if (!g || !p || g.ept.root !== e.eptRoot) {
    if (g && g.ept.root !== e.eptRoot) return; // unreachable: tagged with an EPT root no longer in use
    r.report({ property: NAME, kind: 'stale-entry', subject: subject(), message: 'a TLB entry for an address space that no longer exists', expected: 'no entry', actual: describe(e) });
    return;
  }
  const walk = nestedWalk(w, g, p.cr3, e.vpnBase, 'read', false);
  if (walk.kind !== 'ok') {
    r.report({ property: NAME, kind: 'stale-entry', subject: subject(), message: `the TLB translates an address whose fresh walk ends in ${walk.kind}`, expected: walk.kind, actual: describe(e) });
    return;
  }
  if (walk.hfn !== e.hfnBase) {
    r.report({ property: NAME, kind: 'wrong-frame', subject: subject(), message: 'the TLB and a fresh walk disagree on the frame', expected: `hfn ${hex(walk.hfn)}`, actual: describe(e) });
    return;
  }
  const covered = Math.min(framesAtLevel(walk.guestLeafLevel), framesAtLevel(walk.eptLeafLevel));
  if (e.frames > covered) {
    r.report({ property: NAME, kind: 'oversized-entry', subject: subject(), message: 'a TLB entry covers more than the smaller of its guest and host pages', expected: `${covered} frames`, actual: `${e.frames} frames` });
    return;
  }
  const writable = walk.writable && walk.eptWrite;
  const exec = !walk.nx && walk.eptExec;
  if ((e.writable && !writable) || (!e.nx && !exec))
    r.report({ property: NAME, kind: 'excess-permission', subject: subject(), message: 'a TLB entry grants more than the page tables do', expected: `${writable ? 'W' : 'RO'}${exec ? ' X' : ' NX'}`, actual: describe(e) });
}

export const tlbCoherence: Property = {
  name: NAME,
  mechanism: 'tlb',
  kind: 'safety',
  description: 'every TLB entry equals a fresh nested walk (frame, size, permissions)',
  checkStep({ world: w, journal: j }, r) {
    const todo = new Set<TlbEntry>();
    for (const h of j.tlbHits) {
      const g = w.guests[h.guest]!;
      const e = w.tlb.lookup(g.vpid, h.pid, g.ept.root, h.vpn);
      if (e) todo.add(e);
    }
    for (const rg of j.ranges) {
      const g = w.guests[rg.guest]!;
      for (const e of w.tlb.overlapping(g.vpid, rg.pid, rg.vpnStart, rg.vpnEnd)) todo.add(e);
    }
    for (const hfn of j.released) for (const e of w.tlb.coveringHost(hfn)) todo.add(e);
    for (const [gid, gfns] of j.gfns) for (const gfn of gfns) for (const e of w.tlb.coveringGuestFrame(gid + 1, gfn)) todo.add(e);
    for (const e of todo) checkEntry(w, e, r);
  },
  checkAll({ world: w }, r) {
    for (const e of w.tlb.entries()) checkEntry(w, e, r);
  },
};
