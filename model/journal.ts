/**
 * What one step touched, for incremental checking (properties/checker.ts) and for the
 * step-by-step replay ("what it changed"). Every mutation of the model goes through a
 * primitive that writes here, so a check of the touched keys sees everything a full re-scan
 * would see change.
 */
import type { Content } from './content';

/** A read a guest performed this step, with what it got. */
export interface ReadRecord {
  readonly guest: number;
  readonly pid: number;
  readonly vpn: number;
  readonly got: Content;
}

/** A completed nested walk: its references and the frames it read, for walk-cost checks. */
export interface WalkRecord {
  readonly guest: number;
  readonly pid: number;
  readonly vpn: number;
  readonly refs: number;
  /** The guest table gfns the walk read, root first. */
  readonly gfns: readonly number[];
  /** The final guest-physical frame. */
  readonly finalGfn: number;
  readonly guestLevelsWalked: number;
}

/** A virtual range of one process whose guest mappings changed. */
export interface RangeTouch {
  readonly guest: number;
  readonly pid: number;
  readonly vpnStart: number;
  readonly vpnEnd: number;
}

export class Journal {
  /** Host frames whose owner or content changed. */
  readonly frames = new Set<number>();
  /**
   * Host frames that lost an owner or a mapping (freed, reassigned, dropped by the primary
   * mapping): only these can leave a stale EPT or TLB entry behind, so those checks look here
   * (a subset of `frames`).
   */
  readonly released = new Set<number>();
  /** Host frames whose owner record changed, and the released ones (a subset of `frames`). */
  readonly owners = new Set<number>();
  /** Per guest: gfns whose backing, EPT leaf, guest ownership or content changed. */
  readonly gfns = new Map<number, Set<number>>();
  /** Per guest: guest page-table gfns written (entries added, changed, removed). */
  readonly guestTables = new Map<number, Set<number>>();
  /** Per guest: EPT table frames written. */
  readonly eptTables = new Map<number, Set<number>>();
  readonly ranges: RangeTouch[] = [];
  readonly reads: ReadRecord[] = [];
  readonly walks: WalkRecord[] = [];
  /** TLB entries that served an access this step (checked against a fresh walk). */
  readonly tlbHits: { readonly guest: number; readonly pid: number; readonly vpn: number }[] = [];
  /** Guests whose process set, invalidation state or TLB tags changed. */
  readonly guests = new Set<number>();
  /** Per guest: gfns the guest itself read or wrote this step (processes and its kernel). */
  readonly accessed = new Map<number, Set<number>>();
  /** Mechanism-specific dirty keys ("virtio-balloon:g0" -> ids), for their incremental checks. */
  readonly marks = new Map<string, Set<number>>();
  /** Human-readable changes; collected only when someone will read them (replay). */
  changes: string[] | null = null;

  frame(hfn: number): void {
    this.frames.add(hfn);
  }

  release(hfn: number): void {
    this.frames.add(hfn);
    this.released.add(hfn);
    this.owners.add(hfn);
  }

  owner(hfn: number): void {
    this.frames.add(hfn);
    this.owners.add(hfn);
  }

  gfn(guest: number, gfn: number): void {
    let s = this.gfns.get(guest);
    if (!s) this.gfns.set(guest, (s = new Set()));
    s.add(gfn);
  }

  guestTable(guest: number, gfn: number): void {
    let s = this.guestTables.get(guest);
    if (!s) this.guestTables.set(guest, (s = new Set()));
    s.add(gfn);
  }

  eptTable(guest: number, hfn: number): void {
    let s = this.eptTables.get(guest);
    if (!s) this.eptTables.set(guest, (s = new Set()));
    s.add(hfn);
  }

  access(guest: number, gfn: number): void {
    let s = this.accessed.get(guest);
    if (!s) this.accessed.set(guest, (s = new Set()));
    s.add(gfn);
  }

  /** `key` names what changed (the incremental checkers look marks up by it), so it is never empty. */
  mark(key: string, id: number): void {
    if (key === '') throw new RangeError(`journal mark of ${id} without a key`);
    let s = this.marks.get(key);
    if (!s) this.marks.set(key, (s = new Set()));
    s.add(id);
  }

  range(guest: number, pid: number, vpnStart: number, vpnEnd: number): void {
    this.ranges.push({ guest, pid, vpnStart, vpnEnd });
  }

  note(change: () => string): void {
    if (this.changes) this.changes.push(change());
  }

  clear(): void {
    this.frames.clear();
    this.released.clear();
    this.owners.clear();
    this.gfns.clear();
    this.guestTables.clear();
    this.eptTables.clear();
    this.ranges.length = 0;
    this.reads.length = 0;
    this.walks.length = 0;
    this.tlbHits.length = 0;
    this.guests.clear();
    this.accessed.clear();
    this.marks.clear();
    if (this.changes) this.changes = [];
  }
}
