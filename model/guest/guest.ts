/**
 * A guest: its guest-physical space (gfn 0..frames-1), backed lazily by host frames through
 * the host's primary mapping (`backing`, QEMU's anonymous memory for the memslot) and cached
 * in the EPT; its kernel's buddy allocator over guest frames with a page_owner-style ledger;
 * its processes; and its side of the invalidation protocol (mmu/notifier.ts).
 */
import { BuddyAllocator } from '../buddy/buddy';
import type { Content } from '../content';
import type { GuestConfig } from '../config';
import type { Ept } from '../mmu/ept';
import { LeafRmap } from '../mmu/rmap';
import type { AccessKind } from '../mmu/walk';
import type { Journal } from '../journal';
import type { Process, VmaObject } from './process';
import type { PressureHook } from './alloc';
import { HostSwap } from '../host/swap-space';
import type { Refusal } from '../result';
import type { SwapDevice } from '../swap/device';
import type { World } from '../world';
import { hex } from '../../properties/violation';

/** A hook on a guest block of 2^order frames at gfn. */
export type GuestBlockHook = (world: World, g: Guest, gfn: number, order: number) => void;

/** Who inside the guest owns an allocated guest frame. Mechanisms add kinds here. */
export type GuestFrameOwner =
  | { readonly kind: 'page-table'; readonly pid: number; readonly level: number }
  | { readonly kind: 'anon'; readonly pid: number; readonly vpn: number }
  | { readonly kind: 'kernel'; readonly alloc: number }
  /** The new page of a migration in flight (mm/migrate.c: the destination folio, not yet mapped). */
  | { readonly kind: 'migrate-target'; readonly src: number }
  /** The shared zero page or huge zero page (mm/huge_memory.c huge_zero_folio): mapped read-only by anyone. */
  | { readonly kind: 'zero-page'; readonly huge: boolean }
  /** Device memory of a virtio-mem block that is not online (unplugged, or taken by the driver to unplug it). */
  | { readonly kind: 'virtio-mem'; readonly block: number }
  /** Held by a balloon driver (virtio_balloon.c / vmw_balloon.c): inflating, in the balloon, deflating or refused. */
  | { readonly kind: 'balloon'; readonly device: 'virtio-balloon' | 'vmware-balloon' }
  /** A free block isolated from the buddy lists while its report is in flight (mm/page_reporting.c). */
  | { readonly kind: 'reporting'; readonly order: number }
  /** A max-order block the free page hinting driver allocated and hinted (virtio_balloon.c). */
  | { readonly kind: 'hinting'; readonly order: number }
  /** Memory handed to the guest through memctl (pvmemcontrol), never zeroed by the guest. */
  | { readonly kind: 'memctl'; readonly region: number }
  /** A page-cache page of one of the guest's files (model/pagecache/). */
  | { readonly kind: 'page-cache'; readonly file: number; readonly index: number }
  /** An anonymous page in the swap cache while its swap-out write is in flight (model/swap/). */
  | { readonly kind: 'swap-cache'; readonly slot: number }
  /** Unreclaimable kernel memory held by a driver or a hog (model/reclaim/hog.ts). */
  | { readonly kind: 'hog'; readonly id: number }
  /** A page the CMM driver holds for the host (model/reclaim/cmm.ts). */
  | { readonly kind: 'cmm' };

export function describeGuestOwner(o: GuestFrameOwner | undefined): string {
  if (!o) return 'free';
  switch (o.kind) {
    case 'page-table':
      return `pid ${o.pid} page table L${o.level}`;
    case 'anon':
      return `pid ${o.pid} va ${hex(o.vpn * 4096)}`;
    case 'kernel':
      return `kernel alloc #${o.alloc}`;
    case 'migrate-target':
      return `migration target of gfn ${hex(o.src)}`;
    case 'zero-page':
      return o.huge ? 'huge zero page' : 'zero page';
    case 'virtio-mem':
      return `virtio-mem block ${o.block} (offline)`;
    case 'balloon':
      return `${o.device} page`;
    case 'reporting':
      return `reported block (order ${o.order})`;
    case 'hinting':
      return `hinted block (order ${o.order})`;
    case 'memctl':
      return `memctl region #${o.region}`;
    case 'page-cache':
      return `page cache file ${o.file} page ${o.index}`;
    case 'swap-cache':
      return `swap cache slot ${o.slot}`;
    case 'hog':
      return `kernel hog #${o.id}`;
    case 'cmm':
      return 'cmm page';
  }
}

/**
 * A mechanism's handler for a page fault in memory it backs (a file page, a page it swapped
 * out): true when it resolved the fault, a refusal, or null to let the next handler (and in
 * the end the anonymous-memory path) take it.
 */
export type PageFaultHook = (world: World, g: Guest, p: Process, vpn: number, access: AccessKind) => true | Refusal | null;
/** Called by munmap (so by exit too) for [start, end) of a process before its leaves are zapped. */
export type UnmapHook = (world: World, g: Guest, p: Process, start: number, end: number) => void;
/**
 * The gfn at which page `index` of an object-backed VMA's object lives now (a page-cache page,
 * a DAX window frame), or undefined when not resident or not this resolver's kind.
 */
export type ObjectResolver = (obj: VmaObject, index: number) => number | undefined;
/** Where a non-present page of pid at vpn is kept (a guest swap slot): its contents, or undefined. */
export type PagedOutHook = (world: World, g: Guest, pid: number, vpn: number) => Content | undefined;
/** The EPT violation handler of gfns above guest RAM (a device window's memslot). */
export type WindowFault = (world: World, g: Guest, gfn: number, write: boolean) => true | Refusal;
/**
 * A memslot above guest RAM, [start, end) in gfns, and who serves it: a device window with its
 * own EPT fault handler and frames (a DAX window), or, with `ram` set, anonymous host memory
 * the host backs like guest RAM (owner 'guest-memory', faulted in zeroed; the memctl 1 GiB
 * region) but that no guest allocator manages.
 */
export interface GuestWindow {
  readonly start: number;
  readonly end: number;
  readonly ram: boolean;
  /** What every gfn of the window is to the guest (memctl's region: memctl memory). */
  readonly owner?: GuestFrameOwner;
  readonly fault?: WindowFault;
  /** Whether hfn may back gfn (ownership and EPT checks); for `ram` windows the RAM checks apply. */
  readonly frameOk?: (world: World, g: Guest, gfn: number, hfn: number) => boolean;
}
/** A completed access of a guest process to gfn (mmu/access.ts), for mechanisms that count touches. */
export type TouchHook = (world: World, g: Guest, gfn: number, write: boolean) => void;

/** A guest page-table page: whose, which level, and where it hangs. */
export interface GuestTableInfo {
  readonly pid: number;
  readonly level: number;
  /** Parent table gfn and index, or -1 for a root (CR3). */
  readonly parent: number;
  readonly index: number;
  readonly vpnBase: number;
}

/** The KVM side of the invalidation protocol for this guest (struct kvm mmu_invalidate_*). */
export interface InvalidationState {
  /** mmu_invalidate_seq: bumped at every invalidate_end. */
  seq: number;
  /** mmu_invalidate_in_progress: begun and not yet ended. */
  inProgress: number;
  /** mmu_invalidate_range_start/end: union of the ranges in progress (gfns). */
  rangeStart: number;
  rangeEnd: number;
}

/** A host fault on a gfn between resolving its frame and installing the EPT entry. */
export interface PendingFault {
  readonly gfn: number;
  readonly hfn: number;
  /** The unit resolved: 1 or 512 frames (a 2 MiB host page). */
  readonly frames: number;
  readonly seq: number;
}

/** A host reclaim between invalidate_begin and invalidate_end. */
export interface PendingReclaim {
  readonly gfn: number;
  readonly frames: number;
  /** Contents copied at begin (only by the reclaim-copies-before-zap fault). */
  readonly early: Map<number, Content> | null;
  /** The host frame (first of the unit) being written to swap: it must not be freed before end. */
  readonly hfn: number;
}

/**
 * Host-side hooks on the primary mapping of guest memory, registered by mechanisms in their
 * init (the core registers none). Each answers only for the gfns that are its business.
 */
export interface BackingHook {
  /** A host fault on gfn may not be served now: a migration entry (wait), an unplugged block (refuse). */
  readonly guard?: (world: World, g: Guest, gfn: number) => Refusal | null;
  /** Why the core may not reclaim or migrate the frame behind gfn now (locked for migration, KSM), or null. */
  readonly busy?: (world: World, g: Guest, gfn: number) => string | null;
  /** Serve a write fault on a write-protected gfn (KSM breaks copy-on-write); null if not this hook's. */
  readonly writeFault?: (world: World, g: Guest, gfn: number) => true | Refusal | null;
  /** The primary mapping of gfn is write-protected: the EPT maps it without W (KSM). */
  readonly readOnly?: (world: World, g: Guest, gfn: number) => boolean;
  /**
   * Why the host must not populate gfn by collapsing its 2 MiB unit (an unplugged virtio-mem
   * block; ballooned or reported memory the host discarded), or null.
   */
  readonly collapseBarrier?: (world: World, g: Guest, gfn: number) => string | null;
}

export class Guest {
  readonly vpid: number;
  readonly buddy: BuddyAllocator;
  readonly owners = new Map<number, GuestFrameOwner>();
  /** Host's primary mapping of guest memory: gfn -> hfn. */
  readonly backing = new Map<number, number>();
  /** 2 MiB units (gfn >> 9) backed by one order-9 host block. */
  readonly hugeBacked = new Set<number>();
  /** Host swap of guest memory: gfn -> the host swap slot holding what was paged out. */
  readonly hostSwap: HostSwap;
  readonly processes = new Map<number, Process>();
  readonly tables = new Map<number, GuestTableInfo>();
  /** gfn -> guest leaf entries mapping it, as (pid, vpn). */
  readonly rmap = new LeafRmap();
  /** gfn -> the table entry that points at it as a child table (written by the entry primitive). */
  readonly tableRefs = new Map<number, { readonly table: number; readonly index: number }>();
  readonly kernelAllocs = new Map<number, { readonly gfn: number; readonly order: number }>();
  readonly invalidation: InvalidationState = { seq: 0, inProgress: 0, rangeStart: 0, rangeEnd: 0 };
  pendingFault: PendingFault | null = null;
  pendingReclaim: PendingReclaim | null = null;
  nextPid = 1;
  nextAlloc = 1;
  /** Guest-side clears of pages (clear_user_highpage), for the zeroings-per-page figures. */
  zeroings = 0;
  /** The allocator's slow path, in order (guest/alloc.ts): reclaim, compaction, OOM, ... */
  readonly pressureHooks: PressureHook[] = [];
  /**
   * The OOM notifier chain (mm/oom_kill.c register_oom_notifier): called before any kill;
   * each returns the pages it freed (virtio-balloon's deflate-on-OOM registers here).
   */
  readonly oomNotifiers: ((world: World, g: Guest) => number)[] = [];
  readonly backingHooks: BackingHook[] = [];
  /**
   * Asked before an unmapped user page is freed: true when a mechanism still holds the page
   * (isolated for migration) and will free it itself (folio_put with an extra reference).
   * Reclaim asks too: such a page is off the LRU, and swap-out leaves it alone.
   */
  readonly heldOnFree: ((world: World, g: Guest, gfn: number, order: number) => boolean)[] = [];
  /** Run first when the VM is destroyed (model/teardown.ts): mechanisms release what they share. */
  readonly teardownHooks: ((world: World, g: Guest) => void)[] = [];
  /**
   * The page allocator's free and allocation hooks (mm/page_alloc.c free_pages_prepare,
   * __free_one_page's page_reporting_notify_free, post_alloc_hook): `prepare` runs before a
   * block goes back to the buddy (page poisoning writes here), `freed` after it merged
   * (free page reporting is notified here), `allocated` after a block left the buddy
   * (page poisoning checks here). Mechanisms register; the core registers none.
   */
  readonly freeHooks: { readonly prepare?: GuestBlockHook; readonly freed?: GuestBlockHook }[] = [];
  readonly allocHooks: GuestBlockHook[] = [];
  /**
   * Host reclaim vetoes (mm/vmscan.c: mlocked pages sit on the unevictable LRU and are never
   * paged out): a gfn any veto claims is refused by host reclaim.
   */
  readonly reclaimVetoes: ((g: Guest, gfn: number) => boolean)[] = [];
  /** vm_event PGFAULT: guest page faults handled (the balloon's statistics read it). */
  pgfault = 0;
  /**
   * Page-fault handlers mechanisms put before the core's anonymous one, tried in registry order
   * (guest/fault.ts): object-backed and swapped memory first, then THP's huge zero page and
   * zero-page copy-on-write. Each returns null when the fault is not its business.
   */
  readonly pageFaultHooks: PageFaultHook[] = [];
  /** munmap/exit callbacks, run before the leaves of the range are zapped (guest/kernel.ts). */
  readonly unmapHooks: UnmapHook[] = [];
  /** Where object-backed VMAs' pages live, for the checks (guest/leaf.ts). */
  readonly objectResolvers: ObjectResolver[] = [];
  /** Where non-present pages are kept, for the checks (properties/core/oracle-agreement.ts). */
  readonly pagedOutHooks: PagedOutHook[] = [];
  /** Memslots above guest RAM (host/ept-fault.ts); a gfn in none of them has no memslot. */
  readonly windows: GuestWindow[] = [];
  /** Completed process accesses (mmu/access.ts perform). */
  readonly touchHooks: TouchHook[] = [];
  /**
   * The protection of the host mapping behind a gfn of guest RAM, as the EPT permission bits it
   * allows (a VMM's mprotect() on guest memory: memctl MPROTECT); null: read, write and exec.
   * The EPT fault maps with these bits and refuses an access they forbid (host/ept-fault.ts).
   */
  hostProtection: ((gfn: number) => number) | null = null;

  constructor(
    readonly id: number,
    readonly config: GuestConfig,
    readonly ept: Ept,
    faults: ReadonlySet<string>,
    private readonly journal: Journal,
    hostSwapDevice: SwapDevice,
  ) {
    this.vpid = id + 1;
    this.hostSwap = new HostSwap(hostSwapDevice, id, journal);
    this.buddy = new BuddyAllocator({ name: `g${id}`, base: 0, frames: config.frames, faults });
  }

  setOwner(gfn: number, owner: GuestFrameOwner): void {
    const before = this.owners.get(gfn);
    this.owners.set(gfn, owner);
    this.journal.gfn(this.id, gfn);
    this.journal.note(() => `g${this.id} gfn ${hex(gfn)}: ${describeGuestOwner(before)} -> ${describeGuestOwner(owner)}`);
  }

  clearOwner(gfn: number): void {
    const before = this.owners.get(gfn);
    this.owners.delete(gfn);
    this.journal.gfn(this.id, gfn);
    this.journal.note(() => `g${this.id} gfn ${hex(gfn)}: ${describeGuestOwner(before)} -> free`);
  }

  setBacking(gfn: number, hfn: number | undefined): void {
    // The frame that loses the gfn is touched too: whatever it is now must be accounted for.
    const old = this.backing.get(gfn);
    if (old !== undefined && old !== hfn) this.journal.release(old);
    if (hfn === undefined) this.backing.delete(gfn);
    else this.backing.set(gfn, hfn);
    this.journal.gfn(this.id, gfn);
    // A page-table page that changes frames changes every translation below it.
    const t = this.tables.get(gfn);
    if (t) this.journal.range(this.id, t.pid, t.vpnBase, t.vpnBase + 512 ** t.level);
  }

  /** True when a fault that snapshotted `seq` for gfn must retry (is_page_fault_stale). */
  faultIsStale(gfn: number, seq: number): boolean {
    const s = this.invalidation;
    if (s.inProgress > 0 && gfn >= s.rangeStart && gfn < s.rangeEnd) return true;
    return s.seq !== seq;
  }
}
