/**
 * page-table-well-formed: the guest's paging structures form a tree the hardware can walk.
 * Each table frame holds a table of its level; a non-leaf entry points at a page-table page
 * of the next level owned by the same process (and nothing else points at it); PS appears only
 * in PDEs and PDPTEs; a leaf points at frames the guest kernel has given to that process at
 * that address. EPT tables likewise: no misconfigured entry (W or X without R, reserved
 * memory types; SDM vol. 3C 29.3.3.1), every child a table of this EPT.
 */
import { describeGuestOwner, type Guest } from '../../model/guest/guest';
import { leafMayMap } from '../../model/guest/leaf';
import { peekGuestPhysical } from '../../model/mmu/peek';
import { eptIsLeaf, eptMisconfigured, eptPresent, framesAtLevel, guestIsLeaf, guestPresent, guestPsReserved } from '../../model/paging/entries';
import type { World } from '../../model/world';
import { PTE_RW } from '../../model/constants';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'page-table-well-formed';

function checkGuestTable(w: World, g: Guest, gfn: number, r: Reporter): void {
  const info = g.tables.get(gfn);
  if (!info) return; // freed: its referrers are checked through tableRefs
  const subject = (): string => `g${g.id} table gfn ${hex(gfn)}`;
  const c = peekGuestPhysical(w, g, gfn);
  if (c.kind !== 'table' || c.table.kind !== 'guest' || c.table.level !== info.level) {
    r.report({ property: NAME, kind: 'not-a-table', subject: subject(), message: 'a page-table page does not hold a table of its level', expected: `L${info.level} table`, actual: c.kind });
    return;
  }
  const owner = g.owners.get(gfn);
  if (owner?.kind !== 'page-table' || owner.pid !== info.pid)
    r.report({ property: NAME, kind: 'table-not-owned', subject: subject(), message: 'a live page-table page is not owned as one', expected: `pid ${info.pid} page table`, actual: describeGuestOwner(owner) });
  c.table.forEach((e, idx) => {
    if (!guestPresent(e)) return;
    const at = (): string => `${subject()}[${idx}]`;
    if (guestPsReserved(e, info.level)) {
      r.report({ property: NAME, kind: 'reserved-bit', subject: at(), message: 'PS set above the PDPTE', expected: 'PS clear', actual: 'PS set' });
      return;
    }
    if (!guestIsLeaf(e, info.level)) {
      const child = g.tables.get(e.pfn);
      if (!child || child.level !== info.level - 1 || child.pid !== info.pid || child.parent !== gfn || child.index !== idx)
        r.report({ property: NAME, kind: 'dangling-table-pointer', subject: at(), message: 'a table entry points at a frame that is not its child table', expected: `pid ${info.pid} L${info.level - 1} table`, actual: `gfn ${hex(e.pfn)}: ${describeGuestOwner(g.owners.get(e.pfn))}` });
      return;
    }
    const vpn = info.vpnBase + idx * framesAtLevel(info.level);
    const span = framesAtLevel(info.level);
    for (const i of span === 1 ? [0] : [0, span - 1]) {
      const o = g.owners.get(e.pfn + i);
      // The shared zero pages may be mapped anywhere by anyone, read-only (mm/huge_memory.c).
      if (o?.kind === 'zero-page' ? (e.flags & PTE_RW) !== 0 : !leafMayMap(g, info.pid, vpn + i, e.pfn + i))
        r.report({ property: NAME, kind: 'dangling-leaf', subject: at(), message: 'a leaf maps a frame not given to this process at this address', expected: `pid ${info.pid} va ${hex((vpn + i) * 4096)}`, actual: `gfn ${hex(e.pfn + i)}: ${describeGuestOwner(o)}` });
    }
  });
}

/** A gfn whose ownership changed: whatever still points at it must agree. */
function checkReferrers(g: Guest, gfn: number, r: Reporter): void {
  const ref = g.tableRefs.get(gfn);
  if (ref && g.tables.has(ref.table)) {
    const info = g.tables.get(gfn);
    const o = g.owners.get(gfn);
    if (!info || o?.kind !== 'page-table')
      r.report({ property: NAME, kind: 'dangling-table-pointer', subject: `g${g.id} table gfn ${hex(ref.table)}[${ref.index}]`, message: 'a table entry points at a page that is no longer a page table', expected: 'a live page-table page', actual: `gfn ${hex(gfn)}: ${describeGuestOwner(o)}` });
  }
  for (const hit of g.rmap.reaching(gfn)) {
    const o = g.owners.get(gfn);
    // A zero page is mapped by many; leafMayMap allows it, the table check sees the write bit.
    if (!leafMayMap(g, hit.owner, hit.source, gfn))
      r.report({ property: NAME, kind: 'dangling-leaf', subject: `g${g.id} pid ${hit.owner} va ${hex(hit.source * 4096)}`, message: 'a leaf maps a frame not given to this process at this address', expected: `pid ${hit.owner} va ${hex(hit.source * 4096)}`, actual: `gfn ${hex(gfn)}: ${describeGuestOwner(o)}` });
  }
}

function checkEptTable(w: World, g: Guest, hfn: number, r: Reporter): void {
  const info = g.ept.tables.get(hfn);
  if (!info) return;
  const t = g.ept.table(w, hfn);
  const subject = (): string => `g${g.id} EPT table hfn ${hex(hfn)}`;
  if (!t || t.level !== info.level) {
    r.report({ property: NAME, kind: 'not-a-table', subject: subject(), message: 'an EPT table frame does not hold a table of its level', expected: `L${info.level} EPT table`, actual: t ? `L${t.level}` : w.frames.read(hfn).kind });
    return;
  }
  t.forEach((e, idx) => {
    if (!eptPresent(e)) return;
    const bad = eptMisconfigured(e, info.level);
    if (bad) r.report({ property: NAME, kind: 'ept-misconfig', subject: `${subject()}[${idx}]`, message: 'an EPT misconfiguration', expected: 'a valid entry', actual: bad });
    if (!eptIsLeaf(e, info.level)) {
      const child = g.ept.tables.get(e.pfn);
      if (!child || child.level !== info.level - 1 || child.parent !== hfn)
        r.report({ property: NAME, kind: 'dangling-table-pointer', subject: `${subject()}[${idx}]`, message: 'an EPT entry points at a frame that is not its child table', expected: `L${info.level - 1} EPT table`, actual: `hfn ${hex(e.pfn)}` });
    }
  });
}

export const pageTableWellFormed: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: 'guest page tables and EPT tables form well-formed trees of owned table pages',
  checkStep({ world: w, journal: j }, r) {
    for (const [gid, gfns] of j.guestTables) for (const gfn of gfns) checkGuestTable(w, w.guests[gid]!, gfn, r);
    for (const [gid, gfns] of j.gfns) {
      const g = w.guests[gid]!;
      const written = j.guestTables.get(gid);
      for (const gfn of gfns) {
        checkReferrers(g, gfn, r);
        // A table page whose backing changed (swap-out, migration) must still hold its table.
        if (g.tables.has(gfn) && !written?.has(gfn)) checkGuestTable(w, g, gfn, r);
      }
    }
    for (const [gid, hfns] of j.eptTables) for (const hfn of hfns) checkEptTable(w, w.guests[gid]!, hfn, r);
    // Any host frame written this step that holds a table: a stray write may have replaced it.
    for (const hfn of j.frames) {
      const o = w.frames.owner(hfn);
      if (o?.kind === 'guest-memory') {
        const g = w.guests[o.guest]!;
        if (g.tables.has(o.gfn) && !j.guestTables.get(o.guest)?.has(o.gfn)) checkGuestTable(w, g, o.gfn, r);
      } else if (o?.kind === 'ept-table' && !j.eptTables.get(o.guest)?.has(hfn)) checkEptTable(w, w.guests[o.guest]!, hfn, r);
    }
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) {
      for (const gfn of g.tables.keys()) checkGuestTable(w, g, gfn, r);
      for (const gfn of g.tableRefs.keys()) checkReferrers(g, gfn, r);
      for (const hfn of g.ept.tables.keys()) checkEptTable(w, g, hfn, r);
    }
  },
};
