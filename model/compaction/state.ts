/**
 * Per-world state of migration and compaction: the migrations in flight, the frames they hold
 * locked, and the records (with their ghost observations) that the properties read for the
 * step that produced them. Kept here rather than on World or Guest (style: one mechanism, one
 * module).
 */
import type { Content } from '../content';
import type { GuestFrameOwner } from '../guest/guest';
import type { HostOwner } from '../host/frames';
import type { World } from '../world';

export type MigrationSide = 'guest' | 'host';

/**
 * A migration's cycle: locked -> unmapped -> copied -> done, and locked | unmapped -> aborted.
 * `begin` isolates and locks the source and allocates the target; `step` moves one edge.
 */
export type MigrationStage = 'locked' | 'unmapped' | 'copied' | 'done' | 'aborted';

/** Who asked for the migration. */
export type MigrationReason = 'compaction' | 'offline' | 'single';

/** What could still reach a frame at one moment: TLB entries and present mappings, described. */
export interface Reach {
  readonly tlb: readonly string[];
  readonly mappings: readonly string[];
}

/** Migration.pid when no process maps the page: the host side, or a kernel page moved under compaction-migrates-unmovable. */
export const NO_PROCESS = -1;

export interface Migration {
  readonly id: number;
  readonly side: MigrationSide;
  readonly guest: number;
  /** The guest frame concerned: the page itself (guest side) or the gfn whose backing moves (host side). */
  readonly gfn: number;
  /** Guest side: the process and address mapping the page (NO_PROCESS and -1 when no process maps it). */
  readonly pid: number;
  readonly vpn: number;
  /** Source and target: gfns on the guest side, hfns on the host side. */
  readonly src: number;
  readonly dst: number;
  readonly reason: MigrationReason;
  stage: MigrationStage;
  /** The TLB flush of the unmap has not happened yet (only under migrate-copy-before-flush: it comes at the end). */
  flushPending: boolean;
  // Ghost observations (pKVM-style instrumentation, taken with read-only views; the properties
  // judge them). None of them is read by the protocol itself.
  /** Owner of the source when it was isolated. */
  readonly srcGuestOwner?: GuestFrameOwner;
  readonly srcHostOwner?: HostOwner;
  /** Host side: the source was part of a 2 MiB backing unit. */
  readonly srcHuge?: boolean;
  /** What reached the source when the copy began. */
  atCopy?: Reach;
  /** At the end: what reached the source, what the source and target held, whether it was still mapped. */
  atDone?: { readonly reach: Reach; readonly src: Content; readonly dst: Content; readonly remapped: boolean };
}

/** A compaction run (compact_zone), with the ghost of the zone as it was when the run began. */
export interface CompactionRun {
  readonly id: number;
  readonly side: MigrationSide;
  readonly guest: number;
  readonly order: number;
  readonly proactive: boolean;
  outcome: 'success' | 'complete' | 'skipped' | 'not-needed';
  /** Migrations that could not complete for reasons outside compaction (OOM, a raced invalidation). */
  failures: number;
  migrated: number;
  readonly ghost: ZoneGhost | null;
}

/** One pageblock of the zone as the run found it (free / movable / other pages). */
export interface PageblockGhost {
  readonly pfn: number;
  readonly free: number;
  readonly movable: number;
  /** Offsets (0..511) of pages that are neither free nor movable. */
  readonly other: readonly number[];
  readonly isolated: boolean;
  /** The pageblock's type admits a block of any order for a MOVABLE request (not CMA/HIGHATOMIC/ISOLATE). */
  readonly usable: boolean;
  /** suitable_migration_target: MOVABLE (or CMA), not isolated, not one whole free pageblock. */
  readonly target: boolean;
}

export interface ZoneGhost {
  readonly base: number;
  readonly pageblocks: readonly PageblockGhost[];
}

export interface CompactionState {
  nextId: number;
  readonly active: Map<number, Migration>;
  /** Finished migrations and runs, kept for the properties of the step (bounded). */
  readonly finished: Map<number, Migration>;
  readonly runs: Map<number, CompactionRun>;
  /** Guest frames locked by a guest-side migration (folio lock), per guest. */
  readonly guestLocked: Map<number, Set<number>>;
  /** Host frames locked by a host-side migration. */
  readonly hostLocked: Set<number>;
}

/** Records kept after they finish, for the properties of the step that finished them. */
export const FINISHED_KEPT_MAX = 256;
/** Single migrations (the operation's) in flight at once, per world; compaction's own end within their run. */
export const MIGRATIONS_IN_FLIGHT_MAX = 16;

const states = new WeakMap<World, CompactionState>();

export function compactionState(w: World): CompactionState {
  let s = states.get(w);
  if (!s) {
    s = { nextId: 1, active: new Map(), finished: new Map(), runs: new Map(), guestLocked: new Map(), hostLocked: new Set() };
    states.set(w, s);
  }
  return s;
}

export function guestLockedSet(s: CompactionState, guest: number): Set<number> {
  let l = s.guestLocked.get(guest);
  if (!l) s.guestLocked.set(guest, (l = new Set()));
  return l;
}

/** Keep a bounded history: the oldest records go first (Maps iterate in insertion order). */
export function prune<K, V>(m: Map<K, V>): void {
  while (m.size > FINISHED_KEPT_MAX) m.delete(m.keys().next().value as K);
}

/** The migration or run with this id, in flight or recently finished. */
export function migrationById(w: World, id: number): Migration | undefined {
  const s = compactionState(w);
  return s.active.get(id) ?? s.finished.get(id);
}
