/**
 * Host physical memory: 4 KiB frames with symbolic contents, and the ownership ledger. Every
 * allocated frame has exactly one owner and a page_owner-style record of where and why it was
 * allocated (Linux mm/page_owner.c records the allocation stack and gfp flags; here the site
 * and reason are named strings). Free frames have no owner record: they belong to the host
 * buddy allocator. Sparse: untouched frames cost nothing.
 */
import { type Content, HOST_BOOT_DATA, describeContent } from '../content';
import type { Journal } from '../journal';
import { hex } from '../../properties/violation';

/**
 * Who owns an allocated host frame. Each mechanism adds its kinds here; the ownership
 * partition property (properties/ownership.ts) knows how to check each.
 */
export type HostOwner =
  | { readonly kind: 'host-kernel'; readonly tag: string }
  | { readonly kind: 'guest-memory'; readonly guest: number; readonly gfn: number }
  | { readonly kind: 'ept-table'; readonly guest: number; readonly level: number }
  /** The host page cache of a guest's disk image (cache=writeback): block of (guest, disk). */
  | { readonly kind: 'host-page-cache'; readonly guest: number; readonly disk: number; readonly block: number }
  /** A host file page shared into guests' DAX windows (model/dax/). */
  | { readonly kind: 'shared-page-cache'; readonly file: number; readonly index: number }
  /** A guest's private copy of a DAX window page it wrote without a writable grant. */
  | { readonly kind: 'dax-private'; readonly guest: number; readonly gfn: number }
  /** A tmem page (cleancache or frontswap) of pool `pool` under object key `key` (model/tmem/). */
  | { readonly kind: 'tmem'; readonly pool: number; readonly key: number }
  /** The new frame of a host migration in flight for (guest, gfn) (mm/migrate.c destination folio). */
  | { readonly kind: 'migrate-target'; readonly guest: number; readonly gfn: number }
  /** A KSM page (mm/ksm.c stable node): mapped read-only by every (guest, gfn) of the node. */
  | { readonly kind: 'ksm'; readonly node: number };

export interface PageOwnerRecord {
  /** The model function that allocated, e.g. "ept-fault", "ept-table". */
  readonly site: string;
  /** Why: "zero-fill", "swap-in", "migrate-target", ... */
  readonly reason: string;
  readonly step: number;
  readonly order: number;
}

export interface FrameRecord {
  readonly owner: HostOwner;
  readonly alloc: PageOwnerRecord;
}

export function describeOwner(o: HostOwner | undefined): string {
  if (!o) return 'free';
  switch (o.kind) {
    case 'host-kernel':
      return `host-kernel(${o.tag})`;
    case 'guest-memory':
      return `g${o.guest} gfn ${hex(o.gfn)}`;
    case 'ept-table':
      return `g${o.guest} EPT table L${o.level}`;
    case 'host-page-cache':
      return `host page cache g${o.guest} disk ${o.disk} block ${o.block}`;
    case 'shared-page-cache':
      return `shared page cache file ${o.file} page ${o.index}`;
    case 'dax-private':
      return `g${o.guest} DAX private copy gfn ${hex(o.gfn)}`;
    case 'tmem':
      return `tmem pool ${o.pool} key ${hex(o.key)}`;
    case 'migrate-target':
      return `migration target for g${o.guest} gfn ${hex(o.gfn)}`;
    case 'ksm':
      return `KSM page (stable node ${o.node})`;
  }
}

export class HostFrames {
  private readonly contents = new Map<number, Content>();
  private readonly records = new Map<number, FrameRecord>();
  /** The ledger's own index of guest memory: (guest, gfn) -> hfn, kept by setOwner/clearOwner. */
  private readonly guestIndex = new Map<number, number>();
  /** Host-side clears of frames (clear_page), for the zeroings-per-page figures. */
  zeroings = 0;
  /** Host-side clears per (guest, gfn) the frame backed when cleared (memctl's zeroed-once count). */
  private readonly guestClears = new Map<number, number>();

  constructor(
    readonly count: number,
    private readonly journal: Journal,
  ) {}

  inRange(hfn: number): boolean {
    return Number.isInteger(hfn) && hfn >= 0 && hfn < this.count;
  }

  read(hfn: number): Content {
    return this.contents.get(hfn) ?? HOST_BOOT_DATA;
  }

  write(hfn: number, c: Content): void {
    this.contents.set(hfn, c);
    this.journal.frame(hfn);
  }

  /** clear_page on the host side. */
  clear(hfn: number, zero: Content): void {
    this.zeroings++;
    const o = this.records.get(hfn)?.owner;
    if (o?.kind === 'guest-memory') {
      const k = guestKey(o.guest, o.gfn);
      this.guestClears.set(k, (this.guestClears.get(k) ?? 0) + 1);
    }
    this.write(hfn, zero);
  }

  /** Host clears of frames while they backed (guest, gfn), over the whole run. */
  clearsOf(guest: number, gfn: number): number {
    return this.guestClears.get(guestKey(guest, gfn)) ?? 0;
  }

  record(hfn: number): FrameRecord | undefined {
    return this.records.get(hfn);
  }

  owner(hfn: number): HostOwner | undefined {
    return this.records.get(hfn)?.owner;
  }

  setOwner(hfn: number, owner: HostOwner, alloc: PageOwnerRecord): void {
    const before = this.records.get(hfn);
    if (before?.owner.kind === 'guest-memory') this.unindex(before.owner.guest, before.owner.gfn, hfn);
    if (owner.kind === 'guest-memory') this.guestIndex.set(guestKey(owner.guest, owner.gfn), hfn);
    this.records.set(hfn, { owner, alloc });
    if (before) this.journal.release(hfn);
    else this.journal.owner(hfn);
    this.journal.note(() => `hfn ${hex(hfn)}: ${describeOwner(before?.owner)} -> ${describeOwner(owner)} (${alloc.site}: ${alloc.reason})`);
  }

  clearOwner(hfn: number): void {
    const before = this.records.get(hfn);
    if (before?.owner.kind === 'guest-memory') this.unindex(before.owner.guest, before.owner.gfn, hfn);
    this.records.delete(hfn);
    this.journal.release(hfn);
    this.journal.note(() => `hfn ${hex(hfn)}: ${describeOwner(before?.owner)} -> free (holds ${describeContent(this.read(hfn))})`);
  }

  /** During a migration two frames carry (guest, gfn) for a moment; the index follows the newer. */
  private unindex(guest: number, gfn: number, hfn: number): void {
    const k = guestKey(guest, gfn);
    if (this.guestIndex.get(k) !== hfn) return;
    this.guestIndex.delete(k);
    // The ledger no longer gives gfn a frame: its primary mapping must agree (checked per gfn).
    this.journal.gfn(guest, gfn);
  }

  /** The frame the ledger says holds (guest, gfn), if any. */
  ledgerFrameOf(guest: number, gfn: number): number | undefined {
    return this.guestIndex.get(guestKey(guest, gfn));
  }

  /** Number of frames with an owner record (allocated). */
  get owned(): number {
    return this.records.size;
  }

  ownedFrames(): IterableIterator<[number, FrameRecord]> {
    return this.records.entries();
  }
}

function guestKey(guest: number, gfn: number): number {
  return guest * 2 ** 24 + gfn;
}
