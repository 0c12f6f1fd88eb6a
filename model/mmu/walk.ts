/**
 * The two-dimensional (nested) page walk (Bhargava et al., "Accelerating two-dimensional page
 * walks for virtualized systems", ASPLOS 2008; Intel SDM vol. 3C 29.3). Every guest
 * paging-structure read is at a guest-physical address, so it first needs an EPT walk of its
 * own; the final guest-physical address needs one more. With g guest levels and h EPT levels
 * that is (g+1)(h+1)-1 memory references: 24 for 4/4, 29 for 4/5, 35 for 5/5. A huge leaf
 * ends either walk early.
 *
 * The walk is the hardware's: it sets accessed and dirty bits in guest entries (SDM 4.8) but
 * never allocates. It reports the first problem it meets: a guest page fault, an EPT
 * violation (the gfn it needed is not mapped), or a table that is not a table.
 */
import { guestTableOf } from '../content';
import { PTE_ACCESSED, PTE_DIRTY, PTE_RW, PTE_USER, EPT_READ, EPT_WRITE, EPT_EXEC } from '../constants';
import { framesAtLevel, guestIsLeaf, guestPresent, guestPsReserved, indexAt } from '../paging/entries';
import type { Entry } from '../paging/table';
import type { Guest } from '../guest/guest';
import type { World } from '../world';

export type AccessKind = 'read' | 'write' | 'exec';

export interface WalkOk {
  readonly kind: 'ok';
  readonly refs: number;
  readonly hfn: number;
  readonly gfn: number;
  /** Leaf levels: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. */
  readonly guestLeafLevel: number;
  readonly eptLeafLevel: number;
  readonly writable: boolean;
  readonly user: boolean;
  readonly nx: boolean;
  readonly dirty: boolean;
  /** EPT permissions of the final leaf. */
  readonly eptRead: boolean;
  readonly eptWrite: boolean;
  readonly eptExec: boolean;
  /** The guest table gfns read, root first (guestLevelsWalked of them). */
  readonly gfns: number[];
  /** EPT references of each step: one per guest table read, then the final gfn's. */
  readonly eptRefs: number[];
  readonly guestLevelsWalked: number;
}

export type WalkResult =
  | WalkOk
  | { readonly kind: 'guest-fault'; readonly refs: number; readonly level: number; readonly reason: string }
  | { readonly kind: 'ept-violation'; readonly refs: number; readonly gfn: number }
  | { readonly kind: 'bad-table'; readonly refs: number; readonly gfn: number; readonly level: number };

/**
 * Walk vpn in the address space rooted at cr3 (a gfn) of guest g. `setBits` lets checks walk
 * without side effects (a "fresh walk" that leaves the A/D bits alone).
 */
export function nestedWalk(world: World, g: Guest, cr3: number, vpn: number, access: AccessKind, setBits: boolean): WalkResult {
  let refs = 0;
  let tableGfn = cr3;
  let writable = true;
  let user = true;
  let nx = false;
  const gfns: number[] = [];
  const eptRefs: number[] = [];
  const levels = g.config.guestLevels;
  for (let level = levels; level >= 1; level--) {
    const h = g.ept.lookup(world, tableGfn);
    refs += h.refs;
    gfns.push(tableGfn);
    eptRefs.push(h.refs);
    if (h.kind === 'violation') return { kind: 'ept-violation', refs, gfn: tableGfn };
    if (h.kind === 'misconfig') return { kind: 'bad-table', refs, gfn: tableGfn, level };
    refs++; // the guest entry itself
    const c = world.frames.read(h.hfn);
    const t = guestTableOf(c);
    const table = t?.level === level ? t : null;
    if (c.kind !== 'zero' && !table) return { kind: 'bad-table', refs, gfn: tableGfn, level };
    const idx = indexAt(vpn, level);
    const e = table?.get(idx);
    if (!guestPresent(e)) return { kind: 'guest-fault', refs, level, reason: 'not present' };
    if (guestPsReserved(e, level)) return { kind: 'guest-fault', refs, level, reason: 'reserved bit (PS)' };
    writable &&= (e.flags & PTE_RW) !== 0;
    user &&= (e.flags & PTE_USER) !== 0;
    nx ||= e.nx;
    const leaf = guestIsLeaf(e, level);
    if (setBits && table) setAccessedDirty(world, g, tableGfn, table, idx, e, leaf && access === 'write' && writable);
    if (leaf) {
      const gfn = e.pfn + (vpn % framesAtLevel(level));
      return finalTranslation(world, g, gfn, refs, {
        guestLeafLevel: level, writable, user, nx, dirty: access === 'write' ? writable : (e.flags & PTE_DIRTY) !== 0,
        gfns, eptRefs, guestLevelsWalked: levels - level + 1,
      });
    }
    tableGfn = e.pfn;
  }
  /* c8 ignore next */
  throw new Error('unreachable: level-1 entries are leaves');
}

function finalTranslation(
  world: World, g: Guest, gfn: number, refs: number,
  r: Pick<WalkOk, 'guestLeafLevel' | 'writable' | 'user' | 'nx' | 'dirty' | 'gfns' | 'eptRefs' | 'guestLevelsWalked'>,
): WalkResult {
  // Hazard: with EPT on, the final guest-physical address must itself go through the EPT (SDM
  // 29.3). Using it as a host-physical address reads whatever host frame has that number.
  if (world.fault('walk-skips-final-ept')) {
    return { kind: 'ok', refs, hfn: gfn, gfn, eptLeafLevel: 1, eptRead: true, eptWrite: true, eptExec: true, ...r };
  }
  const h = g.ept.lookup(world, gfn);
  refs += h.refs;
  r.eptRefs.push(h.refs);
  if (h.kind === 'violation') return { kind: 'ept-violation', refs, gfn };
  if (h.kind === 'misconfig') return { kind: 'bad-table', refs, gfn, level: 0 };
  const f = h.entry.flags;
  return {
    kind: 'ok', refs, hfn: h.hfn, gfn, eptLeafLevel: h.level,
    eptRead: (f & EPT_READ) !== 0, eptWrite: (f & EPT_WRITE) !== 0, eptExec: (f & EPT_EXEC) !== 0, ...r,
  };
}

function setAccessedDirty(world: World, g: Guest, tableGfn: number, table: { set(i: number, e: Entry): void }, idx: number, e: Entry, dirty: boolean): void {
  let flags = e.flags | PTE_ACCESSED;
  if (dirty) flags |= PTE_DIRTY;
  if (flags === e.flags) return;
  table.set(idx, { pfn: e.pfn, flags, nx: e.nx });
  world.journal.guestTable(g.id, tableGfn);
}

/** Expected references of a walk whose guest levels needed `eptRefs` EPT references each. */
export function expectedWalkRefs(guestLevelsWalked: number, eptRefs: readonly number[]): number {
  let sum = 0;
  for (const h of eptRefs) sum += h;
  return sum + guestLevelsWalked;
}

/** (g+1)(h+1)-1 for uniform levels (domain.md section 1). */
export function uniformWalkRefs(g: number, h: number): number {
  return (g + 1) * (h + 1) - 1;
}
