/**
 * Side-effect-free views used by the checks: what a guest would see at a gfn or a virtual
 * page right now, without faulting anything in and without touching accessed/dirty bits.
 * A gfn the host swapped out reads as its swapped contents; one never backed reads as zero
 * (the host will clear it on first touch).
 */
import { PTE_RW } from '../constants';
import { type Content, guestTableOf, ZERO } from '../content';
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
    const table = guestTableOf(peekGuestPhysical(world, g, tableGfn));
    if (!table) return null;
    const e = table.get(indexAt(vpn, level));
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

/**
 * Every present leaf of p's tables that overlaps [vpnStart, vpnEnd), visiting only present
 * subtrees (cost follows what is mapped, not the width of the range).
 */
export function forEachLeaf(
  world: World,
  g: Guest,
  p: Process,
  vpnStart: number,
  vpnEnd: number,
  fn: (vpn: number, leaf: PeekLeaf) => void,
  /** True for a leaf (level, its first vpn in range) whose pages need only that first one. */
  once?: (level: number, vpn: number) => boolean,
): void {
  const visit = (tableGfn: number, level: number, base: number, writable: boolean, nx: boolean): void => {
    const table = guestTableOf(peekGuestPhysical(world, g, tableGfn));
    if (!table) return;
    const span = framesAtLevel(level);
    const first = Math.max(0, Math.floor((vpnStart - base) / span));
    const last = Math.min(511, Math.floor((vpnEnd - 1 - base) / span));
    const visitEntry = (e: Entry | undefined, i: number): void => {
      if (i < first || i > last) return;
      // A migration entry still names its page, as in peekLeaf (in range: its index is).
      if (level === 1 && isMigrationEntry(e)) {
        fn(base + i, { entry: e, level, gfn: e.pfn, writable: writable && (e.flags & PTE_RW) !== 0, nx: nx || e.nx });
        return;
      }
      if (!guestPresent(e)) return;
      const w = writable && (e.flags & PTE_RW) !== 0;
      const x = nx || e.nx;
      const v = base + i * span;
      if (guestIsLeaf(e, level)) {
        const from = Math.max(v, vpnStart);
        const to = Math.min(v + span, vpnEnd);
        if (once?.(level, from)) fn(from, { entry: e, level, gfn: e.pfn + (from - v), writable: w, nx: x });
        else for (let k = from; k < to; k++) fn(k, { entry: e, level, gfn: e.pfn + (k - v), writable: w, nx: x });
      } else visit(e.pfn, level - 1, v, w, x);
    };
    if (last - first + 1 < table.size) for (let i = first; i <= last; i++) visitEntry(table.get(i), i);
    else table.forEach(visitEntry);
  };
  visit(p.cr3, g.config.guestLevels, 0, true, false);
}
