/**
 * Side-effect-free views used by the checks: what a guest would see at a gfn or a virtual
 * page right now, without faulting anything in and without touching accessed/dirty bits.
 * A gfn the host swapped out reads as its swapped contents; one never backed reads as zero
 * (the host will clear it on first touch).
 */
import { PTE_RW } from '../constants';
import { type Content, ZERO } from '../content';
import { framesAtLevel, guestIsLeaf, guestPresent, indexAt, isMigrationEntry } from '../paging/entries';
import type { Entry } from '../paging/table';
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import type { World } from '../world';

export function peekGuestPhysical(world: World, g: Guest, gfn: number): Content {
  const hfn = g.backing.get(gfn);
  if (hfn !== undefined) return world.frames.read(hfn);
  return g.hostSwap.get(gfn) ?? ZERO;
}

export interface PeekLeaf {
  readonly entry: Entry;
  readonly level: number;
  readonly gfn: number;
  readonly writable: boolean;
  readonly nx: boolean;
}

/** The guest translation of vpn, following tables through the host's primary mapping. */
export function peekLeaf(world: World, g: Guest, p: Process, vpn: number): PeekLeaf | null {
  let tableGfn = p.cr3;
  let writable = true;
  let nx = false;
  for (let level = g.config.guestLevels; level >= 1; level--) {
    const c = peekGuestPhysical(world, g, tableGfn);
    if (c.kind !== 'table' || c.table.kind !== 'guest') return null;
    const e = c.table.get(indexAt(vpn, level));
    // A migration entry still names the page (mm/migrate.c): the page is reachable, only
    // waiting, so the abstract view follows it to the page being migrated.
    if ((level as number) === 1 && isMigrationEntry(e)) return { entry: e, level, gfn: e.pfn, writable: writable && (e.flags & PTE_RW) !== 0, nx: nx || e.nx };
    if (!guestPresent(e)) return null;
    writable &&= (e.flags & PTE_RW) !== 0;
    nx ||= e.nx;
    if (guestIsLeaf(e, level)) return { entry: e, level, gfn: e.pfn + (vpn % framesAtLevel(level)), writable, nx };
    tableGfn = e.pfn;
  }
  return null;
}
