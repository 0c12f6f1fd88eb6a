/**
 * The TLB of one physical CPU, shared by every guest and tagged, as VMX tags combined
 * mappings, by VPID, PCID and EPT root (Intel SDM vol. 3C 29.4.1). An entry caches a whole
 * gVA -> hPA translation; its size is the smaller of the guest and host page sizes (SDM
 * 29.4.2), so a 2 MiB guest page backed by 4 KiB host pages yields 4 KiB entries.
 *
 * Invalidation: INVLPG drops one linear address for the current VPID/PCID; INVVPID drops a
 * VPID's entries; INVEPT single-context drops what one EPT root produced, global drops all.
 *
 * Capacity is bounded (assumption: 1536 entries, the Skylake STLB); the oldest entry is evicted
 * first, so eviction is deterministic.
 */
import { FRAMES_PER_1G, FRAMES_PER_2M } from '../constants';
import type { Journal } from '../journal';
import { hex } from '../../properties/violation';

export const TLB_ENTRIES_MAX = 1536;

export interface TlbEntry {
  readonly vpid: number;
  readonly pcid: number;
  readonly eptRoot: number;
  /** First virtual page covered (aligned to `frames`). */
  readonly vpnBase: number;
  /** 4 KiB pages covered: 1, 512 or 262144. */
  readonly frames: number;
  /** Host frame of vpnBase; page vpnBase + i translates to hfnBase + i. */
  readonly hfnBase: number;
  /** Guest frame of vpnBase (for messages and checks). */
  readonly gfnBase: number;
  readonly writable: boolean;
  // No U/S bit: the model performs user-mode accesses only, through leaves that all have U set
  // (the walk still combines U over the levels, SDM 4.6).
  readonly nx: boolean;
  /** The leaf's dirty bit was set when this entry was filled (a write hit needs it). */
  readonly dirty: boolean;
}

const SIZES = [1, FRAMES_PER_2M, FRAMES_PER_1G] as const;

function tagOf(vpid: number, pcid: number): number {
  return vpid * 4096 + pcid;
}

export class Tlb {
  /** Insertion order = age (oldest first) for eviction. */
  private readonly all = new Set<TlbEntry>();
  /** Per (vpid, pcid) tag, per size, vpnBase -> entry. */
  private readonly byTag = new Map<number, Map<number, TlbEntry>[]>();
  /** Per size, hfnBase -> entries (reverse map for frame changes). */
  private readonly byHost: Map<number, Set<TlbEntry>>[] = SIZES.map(() => new Map());
  /** Per size, (vpid, gfnBase) -> entries (to find what an EPT change may have staled). */
  private readonly byGuest: Map<number, Set<TlbEntry>>[] = SIZES.map(() => new Map());
  /** Invalidations performed, by kind, for coverage and figures. */
  readonly stats = { inserts: 0, evictions: 0, invlpg: 0, invvpid: 0, inveptSingle: 0, inveptGlobal: 0 };

  constructor(
    private readonly journal: Journal,
    readonly capacity = TLB_ENTRIES_MAX,
  ) {}

  get size(): number {
    return this.all.size;
  }

  entries(): IterableIterator<TlbEntry> {
    return this.all.values();
  }

  /**
   * Keys held by the reverse indexes (per host base, per guest base): one per distinct base of
   * a live entry, so that the indexes never outgrow the entries over a night's campaign.
   */
  indexKeys(): { host: number; guest: number } {
    const count = (maps: Map<number, Set<TlbEntry>>[]) => maps.reduce((n, m) => n + m.size, 0);
    return { host: count(this.byHost), guest: count(this.byGuest) };
  }

  lookup(vpid: number, pcid: number, eptRoot: number, vpn: number): TlbEntry | undefined {
    const maps = this.byTag.get(tagOf(vpid, pcid));
    if (!maps) return undefined;
    for (let s = 0; s < SIZES.length; s++) {
      const size = SIZES[s]!;
      const e = maps[s]!.get(vpn - (vpn % size));
      if (e && e.eptRoot === eptRoot) return e;
    }
    return undefined;
  }

  /** Entries of one tag overlapping [vpnStart, vpnEnd), whatever their EPT root. */
  overlapping(vpid: number, pcid: number, vpnStart: number, vpnEnd: number): TlbEntry[] {
    const maps = this.byTag.get(tagOf(vpid, pcid));
    const out: TlbEntry[] = [];
    if (!maps) return out;
    for (let s = 0; s < SIZES.length; s++) {
      const size = SIZES[s]!;
      const first = vpnStart - (vpnStart % size);
      // Probe each aligned base of the range, or scan the size's map when that is shorter.
      if (Math.ceil((vpnEnd - first) / size) <= maps[s]!.size) {
        for (let v = first; v < vpnEnd; v += size) {
          const e = maps[s]!.get(v);
          if (e) out.push(e);
        }
      } else {
        for (const e of maps[s]!.values()) if (e.vpnBase < vpnEnd && e.vpnBase + size > vpnStart) out.push(e);
      }
    }
    return out;
  }

  /**
   * Entries whose translation lands on host frame `hfn`. An entry is never larger than its
   * host page, so a huge entry's host base is aligned to its size and one lookup per size
   * finds it.
   */
  coveringHost(hfn: number): TlbEntry[] {
    return collect(this.byHost, hfn);
  }

  /** Entries of a VPID whose translation goes through guest frame `gfn`. */
  coveringGuestFrame(vpid: number, gfn: number): TlbEntry[] {
    return collect(this.byGuest, gfn, vpid * 2 ** 25);
  }

  insert(e: TlbEntry): void {
    const s = SIZES.indexOf(e.frames as (typeof SIZES)[number]);
    if (s < 0) throw new RangeError(`TLB entry of ${e.frames} frames`);
    const tag = tagOf(e.vpid, e.pcid);
    let maps = this.byTag.get(tag);
    if (!maps) this.byTag.set(tag, (maps = SIZES.map(() => new Map<number, TlbEntry>())));
    const old = maps[s]!.get(e.vpnBase);
    if (old) this.remove(old);
    if (this.all.size >= this.capacity) {
      const oldest = this.all.values().next().value as TlbEntry;
      this.remove(oldest);
      this.stats.evictions++;
    }
    maps[s]!.set(e.vpnBase, e);
    this.all.add(e);
    index(this.byHost[s]!, e.hfnBase, e);
    index(this.byGuest[s]!, e.vpid * 2 ** 25 + e.gfnBase, e);
    this.stats.inserts++;
  }

  private remove(e: TlbEntry): void {
    const s = SIZES.indexOf(e.frames as (typeof SIZES)[number]);
    // Every live entry is in its tag's map: insert removes the entry it replaces first.
    this.byTag.get(tagOf(e.vpid, e.pcid))![s]!.delete(e.vpnBase);
    this.all.delete(e);
    unindex(this.byHost[s]!, e.hfnBase, e);
    unindex(this.byGuest[s]!, e.vpid * 2 ** 25 + e.gfnBase, e);
  }

  /** INVLPG (or INVPCID individual-address) for one page of one address space. */
  invlpg(vpid: number, pcid: number, vpn: number): void {
    this.stats.invlpg++;
    for (const e of this.overlapping(vpid, pcid, vpn, vpn + 1)) this.remove(e);
    this.journal.note(() => `TLB: INVLPG vpid ${vpid} pcid ${pcid} va ${hex(vpn * 4096)}`);
  }

  /** Drop every entry of one (vpid, pcid): a CR3 switch without PCID, or INVPCID single-context. */
  flushPcid(vpid: number, pcid: number): void {
    const maps = this.byTag.get(tagOf(vpid, pcid));
    if (!maps) return;
    for (const m of maps) for (const e of [...m.values()]) this.remove(e);
    this.journal.note(() => `TLB: flush vpid ${vpid} pcid ${pcid}`);
  }

  /** INVVPID single-context. */
  invvpid(vpid: number): void {
    this.stats.invvpid++;
    for (const e of [...this.all]) if (e.vpid === vpid) this.remove(e);
    this.journal.note(() => `TLB: INVVPID ${vpid}`);
  }

  /** INVEPT single-context: everything derived from one EPT root. */
  inveptSingle(eptRoot: number): void {
    this.stats.inveptSingle++;
    for (const e of [...this.all]) if (e.eptRoot === eptRoot) this.remove(e);
    this.journal.note(() => `TLB: INVEPT single-context root ${hex(eptRoot)}`);
  }

  /** INVEPT global. */
  inveptGlobal(): void {
    this.stats.inveptGlobal++;
    for (const e of [...this.all]) this.remove(e);
    this.journal.note(() => 'TLB: INVEPT global');
  }
}

function index(m: Map<number, Set<TlbEntry>>, key: number, e: TlbEntry): void {
  let set = m.get(key);
  if (!set) m.set(key, (set = new Set()));
  set.add(e);
}

function unindex(m: Map<number, Set<TlbEntry>>, key: number, e: TlbEntry): void {
  const set = m.get(key);
  if (!set) return;
  set.delete(e);
  if (set.size === 0) m.delete(key);
}

function collect(maps: Map<number, Set<TlbEntry>>[], frame: number, keyBase = 0): TlbEntry[] {
  const out: TlbEntry[] = [];
  for (let s = 0; s < SIZES.length; s++) {
    const size = SIZES[s]!;
    const set = maps[s]!.get(keyBase + frame - (frame % size));
    if (set) for (const e of set) out.push(e);
  }
  return out;
}
