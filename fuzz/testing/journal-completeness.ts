/**
 * Journal completeness (a deliberately simpler oracle, style.md 6): after every step, diff a
 * snapshot of the observable state with the one before it and require that everything that
 * changed is in the step's journal (model/journal.ts), in the field the incremental checkers
 * (properties/) look it up by. A model change that forgets a journal call leaves incremental
 * checking blind to it, and nothing else notices in a fault-free run: both checkers find
 * nothing (properties/checker-equivalence.test.ts compares them, so it cannot see this).
 *
 * What is compared, and what a change must be journaled as:
 * - host frame, owner record (site, reason, step, order included): `frames` and `owners`, and
 *   `released` when the frame had an owner before (freed or reassigned: tlb-coherence and
 *   ept-coherence look for stale entries only there);
 * - host frame content, for frames owned before and after: `frames`;
 * - per guest gfn (backed, owned, host-swapped or EPT-mapped before or after): backing, guest
 *   owner, host swap slot and its contents, EPT leaf (frame, flags, level), and what the guest
 *   reads there (peekGuestPhysical): `gfns` of the guest;
 * - per process, every present guest leaf (peekLeaf's view: frame, level, effective W and NX,
 *   entry flags, migration entry): covered as oracle-agreement and tlb-coherence cover it (see
 *   `translationCovered`);
 * - per process, where each written but non-present page is kept (pagedOut: a guest swap
 *   slot's contents): a `ranges` entry, the only way oracle-agreement reaches such a page.
 *
 * Accepted in place of `gfns`, because that is where the checker of the field looks:
 * - a table gfn whose entries changed: `guestTables` (see below);
 * - a device-window gfn (above guest RAM: the DAX window) whose contents changed with the
 *   shared frame its EPT leaf maps: that frame in `frames` (dax-only-granted-pages reaches the
 *   gfn from there through the EPT rmap; model/dax's host write journals only the frame).
 *
 * Deliberately not compared, each because no incremental checker needs it (so a missing entry
 * there is not a blind spot):
 * - the content of a free host frame: only frames.write changes it, and every checker that
 *   reads contents (no-cross-tenant-leak, ept-coherence) looks at owned frames only; a frame
 *   becoming owned is an owner change, journaled as such;
 * - the accessed and dirty bits of guest and EPT entries: the walk sets them on every access
 *   (mmu/walk.ts setAccessedDirty) and journals only the table (`guestTables`); the checkers
 *   of translations compare frames and permissions, never these bits. A table whose entries
 *   differ in nothing else is accepted when its table is in `guestTables` / `eptTables`;
 * - a guest table's entries as the gfn's "content": writeEntry journals `guestTables` and the
 *   translations below it (`ranges`), which is where page-table-well-formed and the
 *   translation checkers look; a table gfn whose entries changed is accepted through
 *   `guestTables` rather than `gfns`;
 * - mechanism state outside frames, gfns and translations (balloon queues, swap slots of the
 *   guests, page caches, KSM trees): each mechanism's `marks` are its own contract;
 * - TLB contents, invalidation state and `guests`: a TLB entry is checked against the walk
 *   whenever its translation or frame is journaled, which is what is audited here.
 *
 * Cost: the state is scanned whole after every step (a few thousand frames and gfns on the
 * small machines of the tests), so this is for short traces, not campaigns.
 */
import fc from 'fast-check';
import { EPT_ACCESSED, EPT_DIRTY, PTE_ACCESSED, PTE_DIRTY } from '../../model/constants';
import type { ModelConfig } from '../../model/config';
import { type Content, copyContent, describeContent } from '../../model/content';
import { describeGuestOwner, type Guest, type GuestFrameOwner } from '../../model/guest/guest';
import { describeOwner, type FrameRecord } from '../../model/host/frames';
import type { Journal } from '../../model/journal';
import { pagedOut } from '../../model/guest/leaf';
import { forEachLeaf, peekGuestPhysical, type PeekLeaf } from '../../model/mmu/peek';
import { framesAtLevel, isMigrationEntry } from '../../model/paging/entries';
import type { Entry, PageTable } from '../../model/paging/table';
import type { World } from '../../model/world';
import type { Oracle } from '../../properties/oracle';
import { hex } from '../../properties/violation';
import type { Operation } from '../contract';
import { modelConfigOf } from '../engine';
import { generate, KindTable } from '../generate';
import { Runner } from '../run';
import { defaultSwarm, swarmArb } from '../swarm';

/** Something a step changed that its journal does not record where the checkers look. */
export interface Omission {
  readonly step: number;
  readonly op: string;
  /** What changed, before -> after, and which journal field misses it. */
  readonly what: string;
}

/** Accessed/dirty bits: set by walks, read by no translation checker (see the header). */
const GUEST_AD = PTE_ACCESSED | PTE_DIRTY;
const EPT_AD = EPT_ACCESSED | EPT_DIRTY;

interface HostFrameState {
  readonly record: FrameRecord;
  /** Immutable for every kind but 'table', which is a copy (tables change in place). */
  readonly content: Content;
}

interface EptLeafState {
  readonly entry: Entry;
  readonly level: number;
  readonly hfn: number;
}

interface GfnState {
  readonly hfn: number | undefined;
  readonly owner: GuestFrameOwner | undefined;
  readonly swapSlot: number | undefined;
  readonly swapped: Content | undefined;
  readonly content: Content;
  readonly ept: EptLeafState | undefined;
}

interface LeafState {
  readonly gfn: number;
  readonly level: number;
  readonly writable: boolean;
  readonly nx: boolean;
  /** Entry flags without the accessed and dirty bits. */
  readonly flags: number;
  readonly migration: boolean;
}

interface GuestSnapshot {
  readonly gfns: Map<number, GfnState>;
  /** pid -> first vpn of each present leaf -> the leaf. */
  readonly leaves: Map<number, Map<number, LeafState>>;
  /** pid -> vpn -> where a written, non-present page is kept (pagedOut: a guest swap slot). */
  readonly away: Map<number, Map<number, Content>>;
}

export interface Snapshot {
  readonly frames: Map<number, HostFrameState>;
  readonly guests: GuestSnapshot[];
}

/** Table contents are copied: PageTable.set changes the object every reader shares. */
function keep(c: Content): Content {
  return c.kind === 'table' ? copyContent(c) : c;
}

function snapshotGuest(w: World, o: Oracle, g: Guest): GuestSnapshot {
  const ept = new Map<number, EptLeafState>();
  for (const l of g.ept.leaves(w)) {
    const span = framesAtLevel(l.level);
    for (let i = 0; i < span; i++) ept.set(l.gfn + i, { entry: l.entry, level: l.level, hfn: l.entry.pfn + i });
  }
  const gfns = new Map<number, GfnState>();
  const add = (gfn: number): void => {
    if (gfns.has(gfn)) return;
    gfns.set(gfn, {
      hfn: g.backing.get(gfn),
      owner: g.owners.get(gfn),
      swapSlot: g.hostSwap.slot(gfn),
      swapped: g.hostSwap.has(gfn) ? keepOrUndefined(g.hostSwap.get(gfn)) : undefined,
      content: keep(peekGuestPhysical(w, g, gfn)),
      ept: ept.get(gfn),
    });
  };
  for (const gfn of g.backing.keys()) add(gfn);
  for (const gfn of g.owners.keys()) add(gfn);
  for (const gfn of g.hostSwap.keys()) add(gfn);
  for (const gfn of ept.keys()) add(gfn);
  const leaves = new Map<number, Map<number, LeafState>>();
  const away = new Map<number, Map<number, Content>>();
  for (const p of g.processes.values()) {
    const m = new Map<number, LeafState>();
    // `once`: each leaf is reported at its first vpn only, so a 1 GiB leaf costs one entry.
    forEachLeaf(w, g, p, 0, Number.MAX_SAFE_INTEGER, (vpn, l) => m.set(vpn, leafState(l)), () => true);
    leaves.set(p.pid, m);
    // Only oracle-agreement reads pagedOut, and only for pages the oracle says were written
    // (its lost-page check): those are the vpns whose paged-out contents matter.
    const a = new Map<number, Content>();
    for (const vpn of o.process(g.id, p.pid)?.memory.keys() ?? []) {
      const c = pagedOut(w, g, p.pid, vpn);
      if (c !== undefined) a.set(vpn, keep(c));
    }
    away.set(p.pid, a);
  }
  return { gfns, leaves, away };
}

function keepOrUndefined(c: Content | undefined): Content | undefined {
  return c === undefined ? undefined : keep(c);
}

function leafState(l: PeekLeaf): LeafState {
  return { gfn: l.gfn, level: l.level, writable: l.writable, nx: l.nx, flags: l.entry.flags & ~GUEST_AD, migration: l.level === 1 && isMigrationEntry(l.entry) };
}

/** The observable state of `w`; `o`, the abstract oracle, says which paged-out pages matter. */
export function snapshot(w: World, o: Oracle): Snapshot {
  const frames = new Map<number, HostFrameState>();
  for (const [hfn, record] of w.frames.ownedFrames()) frames.set(hfn, { record, content: keep(w.frames.read(hfn)) });
  return { frames, guests: w.guests.map((g) => snapshotGuest(w, o, g)) };
}

// ---- comparisons -------------------------------------------------------------------------

type TableDiff = 'same' | 'accessed-dirty' | 'entries';

function tableDiff(a: PageTable, b: PageTable): TableDiff {
  if (a.kind !== b.kind || a.level !== b.level || a.size !== b.size) return 'entries';
  const ad = a.kind === 'guest' ? GUEST_AD : EPT_AD;
  let result: TableDiff = 'same';
  for (const i of a.indexes()) {
    const x = a.get(i)!;
    const y = b.get(i);
    if (!y || x.pfn !== y.pfn || x.nx !== y.nx || (x.flags & ~ad) !== (y.flags & ~ad)) return 'entries';
    if (x.flags !== y.flags) result = 'accessed-dirty';
  }
  return result;
}

function contentDiff(a: Content, b: Content): TableDiff {
  if (a === b) return 'same';
  if (a.kind === 'table' && b.kind === 'table') return a.writer !== b.writer ? 'entries' : tableDiff(a.table, b.table);
  return describeContent(a) === describeContent(b) ? 'same' : 'entries';
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function sameEptLeaf(a: EptLeafState | undefined, b: EptLeafState | undefined): boolean {
  if (!a || !b) return a === b;
  return a.hfn === b.hfn && a.level === b.level && a.entry.nx === b.entry.nx && (a.entry.flags & ~EPT_AD) === (b.entry.flags & ~EPT_AD);
}

function sameLeaf(a: LeafState | undefined, b: LeafState | undefined): boolean {
  if (!a || !b) return a === b;
  return a.gfn === b.gfn && a.level === b.level && a.writable === b.writable && a.nx === b.nx && a.flags === b.flags && a.migration === b.migration;
}

function describeLeaf(l: LeafState | undefined): string {
  if (!l) return 'none';
  return `gfn ${hex(l.gfn)} L${l.level}${l.writable ? ' W' : ' RO'}${l.nx ? ' NX' : ' X'}${l.migration ? ' (migration entry)' : ''}`;
}

function describeEpt(l: EptLeafState | undefined): string {
  return l ? `hfn ${hex(l.hfn)} L${l.level} flags ${hex(l.entry.flags & ~EPT_AD)}` : 'none';
}

/** fn for every key of either map, with its value on each side (no union set: maps are large). */
function forUnion<K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>, fn: (k: K, x: V | undefined, y: V | undefined) => void): void {
  for (const [k, x] of a) fn(k, x, b.get(k));
  for (const [k, y] of b) if (!a.has(k)) fn(k, undefined, y);
}

/** Whether gfn is a guest page-table page after the step (for accessed/dirty-only changes). */
function isGuestTable(w: World, guest: number, gfn: number): boolean {
  return w.guests[guest]?.tables.has(gfn) === true;
}

/**
 * Whether the incremental translation checkers revisit vpns [vpn, vpn + span) of (guest, pid)
 * after this step, exactly as they decide it:
 * - oracle-agreement and tlb-coherence both revisit every vpn of a `ranges` entry of that guest
 *   and pid (oracle-agreement.ts and tlb-coherence.ts checkStep);
 * - otherwise oracle-agreement reaches a page through `gfns` by the guest rmap of its new frame,
 *   and tlb-coherence reaches a stale TLB entry through `gfns` by the entry's old frame
 *   (coveringGuestFrame): a vpn is covered when its frame after (if mapped) and its frame
 *   before (if mapped) are both in `gfns`; a vpn unmapped by the step has no frame to be reached
 *   by, so only a range covers it. A leaf whose size changed (a split or a collapse) also needs
 *   a range: part of its span may be unmapped now, which no frame reaches. (`guests` is read by
 *   no checker, so it covers nothing.)
 */
function translationCovered(j: Journal, guest: number, pid: number, vpn: number, before: LeafState | undefined, after: LeafState | undefined): boolean {
  const span = Math.max(before ? framesAtLevel(before.level) : 1, after ? framesAtLevel(after.level) : 1);
  if (rangesCover(j, guest, pid, vpn, vpn + span)) return true;
  const gfns = j.gfns.get(guest);
  if (!after || !gfns || (before && before.level !== after.level)) return false;
  for (let off = 0; off < span; off++) {
    if (!gfns.has(after.gfn + off)) return false;
    if (before && !gfns.has(before.gfn + off)) return false;
  }
  return true;
}

/** [start, end) lies within the union of the step's ranges for (guest, pid). */
function rangesCover(j: Journal, guest: number, pid: number, start: number, end: number): boolean {
  const rs = j.ranges.filter((r) => r.guest === guest && r.pid === pid && r.vpnEnd > r.vpnStart).sort((a, b) => a.vpnStart - b.vpnStart);
  let at = start;
  for (const r of rs) {
    if (r.vpnStart > at) break;
    if (r.vpnEnd > at) at = r.vpnEnd;
    if (at >= end) return true;
  }
  return at >= end;
}

/**
 * What changed between `before` and `after` (the state `w` is in now) that `j`, the step's
 * journal, does not record where the incremental checkers look.
 */
export function omissions(w: World, before: Snapshot, after: Snapshot, j: Journal, step: number, op: string): Omission[] {
  const out: Omission[] = [];
  const miss = (what: string): void => {
    out.push({ step, op, what });
  };

  // Host frames: owner records and contents.
  forUnion(before.frames, after.frames, (hfn, a, b) => {
    const ownerChanged = a?.record !== b?.record && !sameValue(a?.record, b?.record);
    if (ownerChanged) {
      const what = `hfn ${hex(hfn)} owner ${describeOwner(a?.record.owner)} -> ${describeOwner(b?.record.owner)}`;
      if (!j.frames.has(hfn)) miss(`${what}: not in journal.frames`);
      if (!j.owners.has(hfn)) miss(`${what}: not in journal.owners`);
      if (a && !j.released.has(hfn)) miss(`${what}: not in journal.released`);
    }
    if (!a || !b) return; // the content of a free frame: see the header
    const d = contentDiff(a.content, b.content);
    if (d === 'same' || j.frames.has(hfn)) return;
    if (d === 'accessed-dirty') {
      const o = b.record.owner;
      if (o.kind === 'guest-memory' && isGuestTable(w, o.guest, o.gfn) && j.guestTables.get(o.guest)?.has(o.gfn)) return;
      if (o.kind === 'ept-table' && j.eptTables.get(o.guest)?.has(hfn)) return;
    }
    miss(`hfn ${hex(hfn)} (${describeOwner(b.record.owner)}) content ${describeContent(a.content)} -> ${describeContent(b.content)}${d === 'accessed-dirty' ? ' (accessed/dirty bits only)' : ''}: not in journal.frames`);
  });

  for (const [gid, ga] of before.guests.entries()) {
    const gb = after.guests[gid]!;
    const gfns = j.gfns.get(gid);
    forUnion(ga.gfns, gb.gfns, (gfn, a, b) => {
      const changed: string[] = [];
      if (a?.hfn !== b?.hfn) changed.push(`backing ${a?.hfn === undefined ? 'none' : hex(a.hfn)} -> ${b?.hfn === undefined ? 'none' : hex(b.hfn)}`);
      if (a?.owner !== b?.owner && !sameValue(a?.owner, b?.owner)) changed.push(`guest owner ${describeGuestOwner(a?.owner)} -> ${describeGuestOwner(b?.owner)}`);
      if (a?.swapSlot !== b?.swapSlot) changed.push(`host swap slot ${a?.swapSlot ?? 'none'} -> ${b?.swapSlot ?? 'none'}`);
      else if (a?.swapped && b?.swapped && contentDiff(a.swapped, b.swapped) !== 'same') changed.push(`host swap contents ${describeContent(a.swapped)} -> ${describeContent(b.swapped)}`);
      if (!sameEptLeaf(a?.ept, b?.ept)) changed.push(`EPT leaf ${describeEpt(a?.ept)} -> ${describeEpt(b?.ept)}`);
      if (a && b) {
        const d = contentDiff(a.content, b.content);
        // A table's entries: journaled as guestTables (see the header).
        const viaTables = d !== 'entries' || (a.content.kind === 'table' && b.content.kind === 'table' && a.content.writer === b.content.writer && j.guestTables.get(gid)?.has(gfn) === true);
        // A device window's page (above guest RAM: the DAX window) changes with the shared
        // frame behind it: dax-only-granted-pages reaches it from `frames` through the EPT
        // rmap, and no other checker reads a window page's contents.
        const viaWindow = gfn >= w.guests[gid]!.config.frames && b.ept !== undefined && j.frames.has(b.ept.hfn);
        if (d !== 'same' && !viaTables && !viaWindow) changed.push(`content ${describeContent(a.content)} -> ${describeContent(b.content)}`);
      }
      if (changed.length > 0 && !gfns?.has(gfn)) miss(`g${gid} gfn ${hex(gfn)} ${changed.join(', ')}: not in journal.gfns`);
    });

    // Translations, leaf by leaf.
    const none = new Map<number, never>();
    for (const pid of new Set([...ga.leaves.keys(), ...gb.leaves.keys()])) {
      forUnion(ga.leaves.get(pid) ?? none, gb.leaves.get(pid) ?? none, (vpn, a, b) => {
        if (sameLeaf(a, b) || translationCovered(j, gid, pid, vpn, a, b)) return;
        miss(`g${gid} pid ${pid} va ${hex(vpn * 4096)} translation ${describeLeaf(a)} -> ${describeLeaf(b)}: not covered by journal.ranges${b ? ' nor by journal.gfns' : ''}`);
      });
      // A non-present page is reached only through a range (no frame maps it).
      forUnion(ga.away.get(pid) ?? none, gb.away.get(pid) ?? none, (vpn, a, b) => {
        if ((a && b && contentDiff(a, b) === 'same') || rangesCover(j, gid, pid, vpn, vpn + 1)) return;
        miss(`g${gid} pid ${pid} va ${hex(vpn * 4096)} paged out ${a ? describeContent(a) : 'nothing'} -> ${b ? describeContent(b) : 'nothing'}: not covered by journal.ranges`);
      });
    }
  }
  return out;
}

// ---- driving it --------------------------------------------------------------------------

/**
 * A runner that audits each step's journal: `apply` runs the operation (unchecked: the
 * properties are not what is tested here) and returns the step's omissions.
 */
export class JournalAudit {
  readonly runner: Runner;
  private last: Snapshot;
  private found: Omission[] = [];

  constructor(config: ModelConfig) {
    this.runner = new Runner(config, {
      check: 'none',
      // onStep runs before the runner clears the journal: the one moment it holds this step.
      onStep: (step, op) => {
        const now = snapshot(this.world, this.runner.oracle);
        this.found = omissions(this.world, this.last, now, this.world.journal, step, op.kind);
        this.last = now;
      },
    });
    this.last = snapshot(this.runner.world, this.runner.oracle);
  }

  get world(): World {
    return this.runner.world;
  }

  apply(op: Operation): Omission[] {
    this.found = [];
    this.runner.apply(op);
    return this.found;
  }
}

export interface CompletenessRun {
  readonly seed: number;
  readonly traces: number;
  readonly steps: number;
  /** 'default': defaultSwarm() (two guests, one backed by huge pages); 'swarm': drawn per trace. */
  readonly configs: 'default' | 'swarm';
}

export interface CompletenessResult {
  readonly steps: number;
  readonly succeeded: number;
  readonly omissions: Omission[];
  /** Operation kinds applied, for the caller to see what the traces exercised. */
  readonly kinds: ReadonlySet<string>;
}

/** Random fault-free traces of the campaign generator (as compareCheckers draws them), audited step by step. */
export function checkJournalCompleteness(run: CompletenessRun): CompletenessResult {
  const configArb = run.configs === 'default' ? fc.constant(defaultSwarm()) : swarmArb([]);
  const samples = fc.sample(
    fc.record({ config: configArb, choices: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: run.steps, maxLength: run.steps }) }),
    { seed: run.seed, numRuns: run.traces },
  );
  const found: Omission[] = [];
  const kinds = new Set<string>();
  let steps = 0;
  let succeeded = 0;
  for (const s of samples) {
    const audit = new JournalAudit(modelConfigOf(s.config, []));
    const table = new KindTable(s.config.weights);
    for (const c of s.choices) {
      const op = generate(audit.world, table, c);
      kinds.add(op.kind);
      found.push(...audit.apply(op));
      if (audit.runner.outcomes[audit.runner.outcomes.length - 1]) succeeded++;
      steps++;
    }
  }
  return { steps, succeeded, omissions: found, kinds };
}
