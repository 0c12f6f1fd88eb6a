/**
 * Per-world state of transparent huge pages: each guest's zero pages, khugepaged's candidate
 * (guest side and host side), and the record of every split and collapse with its ghost
 * images, kept for the properties of the step that made it.
 */
import type { Content } from '../content';
import type { GuestFrameOwner } from '../guest/guest';
import type { HostOwner } from '../host/frames';
import type { World } from '../world';

/**
 * khugepaged's limits (mm/khugepaged.c khugepaged_max_ptes_none = HPAGE_PMD_NR - 1,
 * khugepaged_max_ptes_swap = HPAGE_PMD_NR / 8). max_ptes_shared (HPAGE_PMD_NR / 2) has no
 * counterpart: the model's collapse never takes a shared page (KSM pages are barriers).
 */
export const MAX_PTES_NONE_DEFAULT = 511;
export const MAX_PTES_SWAP_DEFAULT = 64;

/** What one page of the range looked like (a read-only view: mmu/peek.ts). */
export interface PageImage {
  /** Virtual page (guest side) or gfn (host side). */
  readonly at: number;
  /** Guest side: mapped (present leaf or migration entry). Host side: always true. */
  readonly present: boolean;
  /** Guest frame it maps (guest side), or -1. */
  readonly gfn: number;
  readonly content: Content;
  readonly writable: boolean;
  /** Maps the zero page or the huge zero page (guest side). */
  readonly zero: boolean;
}

/**
 * A frame a collapse read for one subpage, with its owner at the time of the copy: the
 * property judges from the owner whether the frame was that subpage's. A subpage filled with
 * zeroes read no frame and has no source.
 */
export interface CollapseSource<Owner> {
  readonly index: number;
  /** gfn (guest side) or hfn (host side) read. */
  readonly frame: number;
  readonly owner: Owner | undefined;
}

/** What every split and collapse records: the 2 MiB range and its ghost images. */
interface ChangeCommon {
  readonly id: number;
  readonly guest: number;
  /** First vpn (guest side) or gfn (host side) of the 2 MiB range. */
  readonly base: number;
  readonly pre: readonly PageImage[];
  readonly post: readonly PageImage[];
}

/** A guest split or collapse (of process pid's range), or a host split or collapse (of a guest-memory unit). */
export type ThpChange =
  | (ChangeCommon & { readonly kind: 'split'; readonly pid: number })
  | (ChangeCommon & { readonly kind: 'collapse'; readonly pid: number; readonly vmaWrite: boolean; readonly sources: readonly CollapseSource<GuestFrameOwner>[] })
  | (ChangeCommon & { readonly kind: 'host-split' })
  | (ChangeCommon & {
      readonly kind: 'host-collapse';
      readonly sources: readonly CollapseSource<HostOwner>[];
      /** The gfns of the unit a collapse must not populate (unplugged, ballooned), seen at the collapse. */
      readonly barriers: readonly string[];
    });

/** A change as its mechanism records it (recordChange numbers it). */
export type NewThpChange = ThpChange extends infer C ? (C extends ThpChange ? Omit<C, 'id'> : never) : never;

export interface GuestCandidate {
  readonly pid: number;
  readonly base: number;
  /** The scan's view: subpage index -> gfn mapped then (absent: none or zero). */
  readonly scanned: ReadonlyMap<number, number>;
}

export interface HostCandidate {
  readonly unit: number;
  /** The scan's view: gfn -> hfn backing it then. */
  readonly scanned: ReadonlyMap<number, number>;
}

export interface ThpState {
  nextId: number;
  readonly zero4k: Map<number, number>;
  readonly zero2m: Map<number, number>;
  readonly guestCandidate: Map<number, GuestCandidate>;
  readonly hostCandidate: Map<number, HostCandidate>;
  readonly changes: Map<number, ThpChange>;
}

/** Changes kept for the properties of the step that made them (the oldest go first). */
export const CHANGES_KEPT_MAX = 64;
const states = new WeakMap<World, ThpState>();

export function thpState(w: World): ThpState {
  let s = states.get(w);
  if (!s) {
    s = { nextId: 1, zero4k: new Map(), zero2m: new Map(), guestCandidate: new Map(), hostCandidate: new Map(), changes: new Map() };
    states.set(w, s);
  }
  return s;
}

export function recordChange(w: World, c: NewThpChange): ThpChange {
  const s = thpState(w);
  const full: ThpChange = { ...c, id: s.nextId++ };
  s.changes.set(full.id, full);
  while (s.changes.size > CHANGES_KEPT_MAX) s.changes.delete(s.changes.keys().next().value as number);
  w.journal.mark('thp:change', full.id);
  return full;
}
