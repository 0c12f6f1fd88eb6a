/**
 * memctl: a guest device that forwards memory operations to the host (the pvmemcontrol series,
 * drivers/virt/pvmemcontrol.c and include/uapi/linux/pvmemcontrol.h, 2024; the host VMM
 * applies madvise/mlock/mprotect to the host memory behind the guest-physical range). Each
 * request carries a function code, a guest-physical address and a length, both aligned to the
 * host page size, and acts only inside the calling guest's memory; anything else is refused
 * with an error, as the device does.
 *
 * Memory handed out this way (the seed article's design): the guest reserves a region at boot
 * (the model: the top max-order block of guest-physical memory, standing in for a 1 GiB guest
 * page that the model's 16-32 MiB guests cannot hold; the guest maps it through its direct
 * map, which the model treats as identity) and never zeroes it; the host backs it with 2 MiB or
 * 4 KiB pages, DONTNEED/REMOVE drop parts of it, and the host zeroes a frame when it faults it
 * back in. So each frame handed to the guest is zeroed exactly once before the guest first
 * touches it, where the ordinary path zeroes twice (the host's clear_page on the EPT fault, the
 * guest's clear_user_highpage on its own page fault).
 *
 * Two places for the region (swarm option memctl.region):
 * - 'ram' (default): the reserved max-order block above, a stand-in for the 1 GiB page.
 * - 'giga': a real 1 GiB guest page. The region is its own memslot of anonymous host memory at
 *   the first 1 GiB-aligned gfn above guest RAM (and its device windows): a `ram` window
 *   (Guest.windows), backed lazily on EPT fault like guest RAM, with 2 MiB or 4 KiB host pages
 *   as the guest's memory is (hugePages), and never part of the guest allocator. A process maps
 *   it with memctl.mmap: a 1 GiB-aligned VMA whose fault installs one level-3 PS leaf (a 1 GiB
 *   guest page, as hugetlbfs's 1 GiB pages are mapped); munmap drops the leaf and frees nothing
 *   (the frames are not the guest's RAM). Its frames are handed at boot, none backed, and are
 *   tracked lazily (a gfn never touched nor discarded is handed with no clear yet).
 *
 * A region frame's cycle (the guest's requests move the edges, the host's fault the last):
 *   handed (unbacked, zero on next touch) -(first touch: host faults in a cleared frame)-> in use
 *   in use -(DONTNEED / REMOVE)-> handed;  in use -(FREE)-> lazy -(host reclaims it)-> handed
 */
import { EPT_EXEC, EPT_READ, EPT_RWX, EPT_WRITE, FRAMES_PER_1G, FRAMES_PER_2M, MAX_PAGE_ORDER, PTE_PS, PTE_RW } from '../constants';
import type { Process } from '../guest/process';
import { findSlot, slotFor, writeEntry } from '../guest/page-tables';
import { guestEntry, guestPresent } from '../paging/entries';
import { memslotEnd } from '../host/ept-fault';
import { ZERO, type Content } from '../content';
import type { Guest } from '../guest/guest';
import { physRead, physWrite } from '../guest/phys';
import { resolveBacking } from '../host/ept-fault';
import { reclaimBegin, reclaimEnd } from '../host/reclaim';
import { invalidateBegin, invalidateEnd } from '../mmu/notifier';
import { peekGuestPhysical } from '../mmu/peek';
import { discardRange } from '../devices/discard';
import { isRefusal, ok, refuse, type OpResult, type Refusal } from '../result';
import { ksmSetMergeable } from '../ksm/ksm';
import type { World } from '../world';
import { hex } from '../../properties/violation';

/** pvmemcontrol function codes, in code order (PVMEMCONTROL_INFO = 0 ... UNMERGEABLE = 14). */
export const MEMCTL_FUNCS = [
  'INFO', 'DONTNEED', 'REMOVE', 'FREE', 'PAGEOUT', 'DONTDUMP', 'SET_VMA_ANON_NAME', 'MLOCK', 'MUNLOCK',
  'MPROTECT_NONE', 'MPROTECT_R', 'MPROTECT_W', 'MPROTECT_RW', 'MERGEABLE', 'UNMERGEABLE',
] as const;
export type MemctlFunc = (typeof MEMCTL_FUNCS)[number];

export const ENABLED_OPTION = 'memctl.enabled';
/** Where the region lives: 'ram' (a 4 MiB block of guest RAM) or 'giga' (a 1 GiB memslot). */
export const REGION_OPTION = 'memctl.region';
export type RegionMode = 'ram' | 'giga';
/** The VMA object kind of a process mapping of the 1 GiB region. */
export const MEMCTL_OBJECT = 'memctl';
/** The reserved region: one max-order block (4 MiB) at the top of guest-physical memory. */
export const MEMCTL_REGION_ORDER = MAX_PAGE_ORDER;
export const MEMCTL_REGION_FRAMES = 2 ** MEMCTL_REGION_ORDER;

/**
 * The host mapping's protection set by MPROTECT_NONE/R/W/RW. The host VMM mprotect()s the range;
 * KVM's mmu notifier zaps its EPT leaves and later EPT faults map with that protection
 * (host/ept-fault.ts through Guest.hostProtection). PROT_WRITE alone is readable on x86
 * (arch/x86/mm/pgprot.c protection_map[VM_WRITE] is a readable PTE, and an EPT entry with W but
 * not R is a misconfiguration, SDM 29.3.3.1), so 'w' allows what 'rw' allows.
 */
export type HostProt = 'none' | 'r' | 'w' | 'rw';

/** The EPT permission bits a host protection allows (X follows the memslot, not the VMA). */
export function hostProtBits(p: HostProt): number {
  return p === 'none' ? 0 : p === 'r' ? EPT_READ | EPT_EXEC : EPT_RWX;
}

/** Whether the host protection forbids the access. */
export function protForbids(p: HostProt, write: boolean): boolean {
  const need = write ? EPT_READ | EPT_WRITE : EPT_READ;
  return (hostProtBits(p) & need) !== need;
}

/** A guest access to region memory that completed, with the host protection at that moment. */
export interface AccessRecord {
  readonly gfn: number;
  readonly write: boolean;
  readonly prot: HostProt;
  readonly step: number;
}

export interface FirstTouch {
  readonly gfn: number;
  /** Host clears of the frame behind gfn since it was handed out. */
  readonly host: number;
  /** Guest clears of gfn since it was handed out. */
  readonly guest: number;
  readonly step: number;
}

export interface RequestRecord {
  readonly caller: number;
  readonly func: MemctlFunc;
  /** The guest whose memory the device acted on, and where. */
  readonly target: number;
  readonly start: number;
  readonly end: number;
}

export interface Memctl {
  readonly region: { readonly gfn: number; readonly frames: number };
  readonly mode: RegionMode;
  /**
   * 'giga': region gfns whose state is recorded (handed, touched); a gfn of the region not in
   * it is still handed from boot (never backed, so no clear yet).
   */
  readonly seen: Set<number>;
  /** Handed frames not yet touched: gfn -> host clears of gfn at hand-over, guest clears since. */
  readonly handed: Map<number, { readonly clearsAt: number; guest: number }>;
  readonly mlocked: Set<number>;
  /** MADV_MERGEABLE opt-in (KSM may merge these gfns). */
  readonly mergeable: Set<number>;
  readonly dontdump: Set<number>;
  readonly named: Set<number>;
  readonly prot: Map<number, HostProt>;
  /** MADV_FREE: gfn -> the content object when freed (a write since cancels the lazy free). */
  readonly lazy: Map<number, Content>;
  readonly firstTouches: FirstTouch[];
  /** Completed guest accesses to region memory (memctl-protection-respected reads them). */
  readonly accesses: AccessRecord[];
}

const states = new WeakMap<Guest, Memctl>();

export function memctlOf(g: Guest): Memctl | undefined {
  return states.get(g);
}

/**
 * Whether the guest opted gfn in with MERGEABLE (and not UNMERGEABLE since). The opt-in itself
 * is KSM's (ksmSetMergeable): this is memctl's record of what it asked for.
 */
export function memctlMergeable(g: Guest, gfn: number): boolean {
  return states.get(g)?.mergeable.has(gfn) ?? false;
}

export function touchMark(g: Guest): string {
  return `memctl-touch:g${g.id}`;
}
export function accessMark(g: Guest): string {
  return `memctl-access:g${g.id}`;
}
export const REQUEST_MARK = 'memctl-request';
const requestLog = new WeakMap<World, RequestRecord[]>();

export function memctlRequests(w: World): readonly RequestRecord[] {
  return requestLog.get(w) ?? [];
}

/** The host page size behind guest memory, in frames: 2 MiB with huge pages, else 4 KiB. */
export function hostPageFrames(g: Guest): number {
  return g.config.hugePages ? FRAMES_PER_2M : 1;
}

function hand(world: World, g: Guest, m: Memctl, gfn: number): void {
  m.handed.set(gfn, { clearsAt: world.frames.clearsOf(g.id, gfn), guest: 0 });
  m.seen.add(gfn);
  m.lazy.delete(gfn);
}

/**
 * The hand-over record of gfn if it is handed (giga: created on first look for boot frames).
 * Only a 'giga' frame can be unseen: 'ram' hands, and so sees, every frame of its region at boot.
 */
export function handedOf(m: Memctl, gfn: number): { readonly clearsAt: number; guest: number } | undefined {
  const h = m.handed.get(gfn);
  if (h || m.seen.has(gfn) || !inRegion(m, gfn)) return h;
  const boot = { clearsAt: 0, guest: 0 };
  m.handed.set(gfn, boot);
  m.seen.add(gfn);
  return boot;
}

/** Whether gfn is handed (no side effect, unlike handedOf). */
export function isHanded(m: Memctl, gfn: number): boolean {
  return m.handed.has(gfn) || (inRegion(m, gfn) && !m.seen.has(gfn));
}

/** The first gfn of the 1 GiB region: the first 1 GiB boundary above guest RAM. */
export function gigaRegionGfn(g: Guest): number {
  return (Math.floor(g.config.frames / FRAMES_PER_1G) + 1) * FRAMES_PER_1G;
}

function newState(gfn: number, frames: number, mode: RegionMode): Memctl {
  return { region: { gfn, frames }, mode, seen: new Set(), handed: new Map(), mlocked: new Set(), mergeable: new Set(), dontdump: new Set(), named: new Set(), prot: new Map(), lazy: new Map(), firstTouches: [], accesses: [] };
}

function common(world: World, g: Guest, m: Memctl): void {
  states.set(g, m);
  // MPROTECT records region gfns only: any other gfn has no entry and reads 'rw'.
  g.hostProtection = (x) => hostProtBits(m.prot.get(x) ?? 'rw');
  // mlocked memory is never paged out (it sits on the unevictable LRU). Host reclaim asks the
  // vetoes of the guest it reclaims from, this one.
  g.reclaimVetoes.push((_g, x) => !world.fault('memctl-pageout-ignores-mlock') && m.mlocked.has(x));
}

/** Boot: reserve the region from the guest allocator; every frame starts handed (unbacked). */
export function initMemctl(world: World, g: Guest, mode: RegionMode = 'ram'): Memctl | null {
  if (mode === 'giga') return initGiga(world, g);
  const gfn = g.config.frames - MEMCTL_REGION_FRAMES;
  const r = g.buddy.allocAt(gfn, MEMCTL_REGION_ORDER, 'MOVABLE');
  if (typeof r !== 'number') return null;
  for (let i = 0; i < MEMCTL_REGION_FRAMES; i++) g.setOwner(gfn + i, { kind: 'memctl', region: 1 });
  const m = newState(gfn, MEMCTL_REGION_FRAMES, 'ram');
  for (let i = 0; i < MEMCTL_REGION_FRAMES; i++) hand(world, g, m, gfn + i);
  common(world, g, m);
  return m;
}

/**
 * Boot, 'giga': the 1 GiB region is a memslot of its own above guest RAM (the VMM's anonymous
 * mapping, 1 GiB aligned in guest-physical space so one guest PUD leaf can map it), served by
 * the EPT fault like RAM; process accesses through a mapping of it count their touches.
 */
function initGiga(world: World, g: Guest): Memctl | null {
  const gfn = gigaRegionGfn(g);
  if (g.windows.some((x) => x.start < gfn + FRAMES_PER_1G && gfn < x.end)) return null;
  g.windows.push({ start: gfn, end: gfn + FRAMES_PER_1G, ram: true, owner: { kind: 'memctl', region: 1 } });
  const m = newState(gfn, FRAMES_PER_1G, 'giga');
  common(world, g, m);
  g.pageFaultHooks.unshift(gigaFault);
  // index is an offset into the VMA, which is the whole gigabyte (munmap and mprotect refuse
  // part of it, so it never splits).
  g.objectResolvers.push((obj, index) => (obj.kind === MEMCTL_OBJECT ? gfn + index : undefined));
  g.touchHooks.push((w, gg, x, write) => {
    if (inRegion(m, x)) noteTouch(w, gg, m, x, write);
  });
  return m;
}

/**
 * mmap of the 1 GiB region into a process (the guest driver's mmap of memctl memory, as
 * hugetlbfs maps a 1 GiB page): a VMA of 1 GiB at a 1 GiB-aligned address. Page tables left
 * over from earlier mappings of that gigabyte would stand where the PUD leaf goes: refused.
 */
export function memctlMmap(world: World, g: Guest, p: Process, vpn: number, write: boolean): OpResult {
  const m = states.get(g);
  if (m?.mode !== 'giga') return refuse('invalid', `g${g.id} has no 1 GiB memctl region`);
  if (vpn % FRAMES_PER_1G !== 0) return refuse('misaligned', `memctl mmap: va ${hex(vpn * 4096)} is not 1 GiB aligned`);
  if (vpn < 0 || vpn + FRAMES_PER_1G > 2 ** (9 * g.config.guestLevels - 1)) return refuse('out-of-range', 'va beyond the user half');
  if (p.overlaps(vpn, vpn + FRAMES_PER_1G)) return refuse('overlap', `va ${hex(vpn * 4096)} +1G overlaps a VMA`);
  const slot = findSlot(world, g, p, vpn, 3);
  if (slot !== null && 'ok' in slot) return slot;
  if (slot !== null && guestPresent(slot.entry)) return refuse('busy', `memctl mmap: page tables left at va ${hex(vpn * 4096)}`);
  // Nothing to journal: the gigabyte held no VMA and no page table under it (refused above), so
  // no leaf, TLB entry or oracle page there to check (as daxMmap).
  p.addVma({ start: vpn, end: vpn + FRAMES_PER_1G, prot: { write, exec: false }, huge: false, pageFrames: FRAMES_PER_1G, object: { kind: MEMCTL_OBJECT, id: 0, vpnOrigin: vpn } });
  world.journal.note(() => `g${g.id} pid ${p.pid}: memctl mmap va ${hex(vpn * 4096)} +1G`);
  return ok();
}

/**
 * A fault in a mapping of the 1 GiB region installs the PUD leaf (a 1 GiB guest page over the
 * whole region; the guest never clears it: the host hands it over zeroed). A write to a
 * writable VMA through a read-only leaf (mprotect made it read-only and back) makes the leaf
 * writable (a shared mapping: wp_page_shared), flushing the old read-only translations.
 */
function gigaFault(world: World, g: Guest, p: Process, vpn: number): true | Refusal | null {
  // handlePageFault's vmaAllows found a VMA that allows the access before any hook runs.
  const vma = p.vmaAt(vpn)!;
  if (vma.object?.kind !== MEMCTL_OBJECT) return null;
  const m = states.get(g)!;
  const slot = slotFor(world, g, p, vma.start, 3);
  if ('ok' in slot) return slot;
  // memctlMmap refused a gigabyte with page tables left in it and nothing else maps inside the
  // VMA, so a present entry here is the 1 GiB leaf.
  // The only fault on it is a write through it while it is read-only: a read passes any present
  // leaf, a write reaches here only through a writable VMA (vmaAllows), and the model fetches no
  // instructions (were it to, an exec fault here must not make the leaf writable).
  // No flush: the TLB may keep the read-only translation, which grants less than the new leaf,
  // and a write through it faults and walks afresh (Intel SDM vol. 3A 4.10.4.3, "optional
  // invalidation"; x86 ptep_set_access_flags, arch/x86/mm/pgtable.c, flushes nothing).
  if (guestPresent(slot.entry)) {
    writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, { ...slot.entry, flags: slot.entry.flags | PTE_RW });
    return true;
  }
  writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, guestEntry(m.region.gfn, { writable: vma.prot.write, user: true, nx: true }, PTE_PS));
  world.transition('memctl', 'unmapped', 'mapped-1g');
  return true;
}

export function inRegion(m: Memctl, gfn: number): boolean {
  return gfn >= m.region.gfn && gfn < m.region.gfn + m.region.frames;
}

/**
 * The guest touches a region page (read or write). The first touch after a hand-over records
 * how many times the frame was zeroed since: the host's clear when it faulted the frame in,
 * plus any guest clear.
 */
export function memctlAccess(world: World, g: Guest, m: Memctl, gfn: number, write: boolean): OpResult {
  // The host protection is enforced by the EPT alone (host/ept-fault.ts): an access it forbids
  // takes an EPT violation that fails; memctl-protection-respected checks what got through.
  const h = handedOf(m, gfn);
  // Hazard: memctl memory is handed over already zeroed by the host; a guest that clears it
  // again does the very work the mechanism exists to remove (the ordinary path's second clear).
  if (h && world.fault('memctl-guest-zeroes')) {
    const z = physWrite(world, g, gfn, ZERO);
    if (z !== true) return z;
    g.zeroings++;
    h.guest++;
  }
  let version: number | undefined;
  if (write) {
    version = world.nextVersion();
    const r = physWrite(world, g, gfn, { kind: 'data', writer: g.id, version });
    if (r !== true) return r;
  } else {
    const c = physRead(world, g, gfn);
    if (isRefusal(c)) return c;
  }
  noteTouch(world, g, m, gfn, write);
  return ok(version);
}

/** A completed guest access to region memory: its record, and the first touch of a handed frame. */
function noteTouch(world: World, g: Guest, m: Memctl, gfn: number, write: boolean): void {
  m.accesses.push({ gfn, write, prot: m.prot.get(gfn) ?? 'rw', step: world.step });
  world.journal.mark(accessMark(g), m.accesses.length - 1);
  const h = handedOf(m, gfn);
  if (h) {
    m.handed.delete(gfn);
    m.firstTouches.push({ gfn, host: world.frames.clearsOf(g.id, gfn) - h.clearsAt, guest: h.guest, step: world.step });
    world.journal.mark(touchMark(g), m.firstTouches.length - 1);
    world.transition('memctl', 'handed', 'in-use');
  }
}

function record(world: World, r: RequestRecord): void {
  let l = requestLog.get(world);
  if (!l) requestLog.set(world, (l = []));
  world.journal.mark(REQUEST_MARK, l.length);
  l.push(r);
}

/**
 * Apply one function to [start, end) of guest t (the caller's memory, or past it under the
 * bounds bug). A refusal only from UNMERGEABLE, when breaking a KSM page's sharing fails. INFO
 * acts on nothing: memctlRequest answers it.
 */
function apply(world: World, caller: Guest, t: Guest, func: Exclude<MemctlFunc, 'INFO'>, start: number, end: number): Refusal | void {
  record(world, { caller: caller.id, func, target: t.id, start, end });
  const m = states.get(t);
  const n = end - start;
  switch (func) {
    case 'DONTNEED':
    case 'REMOVE':
      // Hazard: DONTNEED must drop the host pages so the next touch faults in a cleared one;
      // serving it with MADV_FREE semantics (pages kept until reclaim) hands the guest its old
      // contents, and the guest, which never zeroes memctl memory, reads them.
      if (!world.fault('memctl-host-skips-zeroing')) discardRange(world, t, start, n, 'memctl', caller.id);
      if (m) for (let gfn = start; gfn < end; gfn++) if (inRegion(m, gfn)) hand(world, t, m, gfn);
      world.transition('memctl', 'in-use', 'handed');
      return;
    case 'FREE':
      if (m) for (let gfn = start; gfn < end; gfn++) if (inRegion(m, gfn) && !handedOf(m, gfn)) m.lazy.set(gfn, peekGuestPhysical(world, t, gfn));
      world.transition('memctl', 'in-use', 'lazy');
      return;
    case 'PAGEOUT':
      // reclaimBegin refuses a page not backed, any page while another reclaim is in flight and
      // an mlocked page (the veto in common()): PAGEOUT skips those.
      for (let gfn = start; gfn < end; gfn++) if (reclaimBegin(world, t, gfn).ok) reclaimEnd(world, t);
      return;
    case 'MLOCK':
      for (let gfn = start; gfn < end; gfn++) {
        m?.mlocked.add(gfn);
        world.journal.gfn(t.id, gfn);
        // mlock populates: the host faults the range in (a swapped page comes back; a backed
        // one is found as it is).
        resolveBacking(world, t, gfn);
      }
      return;
    case 'MUNLOCK':
      for (let gfn = start; gfn < end; gfn++) m?.mlocked.delete(gfn);
      return;
    case 'MPROTECT_NONE':
    case 'MPROTECT_R':
    case 'MPROTECT_W':
    case 'MPROTECT_RW': {
      const p: HostProt = func === 'MPROTECT_NONE' ? 'none' : func === 'MPROTECT_R' ? 'r' : func === 'MPROTECT_W' ? 'w' : 'rw';
      for (let gfn = start; gfn < end; gfn++) {
        if (!m || !inRegion(m, gfn)) continue;
        m.prot.set(gfn, p);
        world.journal.gfn(t.id, gfn);
      }
      // Hazard: mprotect() changes the host PTEs inside an mmu-notifier invalidation
      // (mm/mprotect.c change_protection -> change_pmd_range ->
      // mmu_notifier_invalidate_range_start(MMU_NOTIFY_PROTECTION_VMA)), so KVM zaps the EPT
      // leaves of the range and flushes the TLBs (kvm_mmu_notifier_invalidate_range_start), and
      // later EPT faults map with the new protection. Without the notifier the EPT keeps the old
      // writable leaf and the guest writes memory the host made read-only (or inaccessible).
      if (!world.fault('memctl-mprotect-skips-notifier')) {
        invalidateBegin(world, t, start, end);
        invalidateEnd(world, t);
      }
      return;
    }
    case 'MERGEABLE':
    case 'UNMERGEABLE': {
      // The VMM's madvise(MADV_MERGEABLE / MADV_UNMERGEABLE) on the host memory behind the
      // range (mm/ksm.c ksm_madvise): the range becomes a candidate for ksmd, or every merged
      // page in it is unmerged (a private copy again) before it stops being one.
      const on = func === 'MERGEABLE';
      const r = ksmSetMergeable(world, t, start, end, on);
      if (!r.ok) return r;
      for (let gfn = start; gfn < end; gfn++) {
        if (on) m?.mergeable.add(gfn);
        else m?.mergeable.delete(gfn);
      }
      return;
    }
    case 'DONTDUMP':
      for (let gfn = start; gfn < end; gfn++) m?.dontdump.add(gfn);
      return;
    case 'SET_VMA_ANON_NAME':
      for (let gfn = start; gfn < end; gfn++) m?.named.add(gfn);
      return;
  }
}

/**
 * One request from the guest driver to the device. The guest driver forwards only requests
 * that start in its memctl region (assumption: the guest kernel hands out only that memory);
 * the device checks alignment to the host page size and that the whole range is the caller's.
 */
export function memctlRequest(world: World, g: Guest, func: MemctlFunc, gfn: number, pages: number): OpResult {
  const m = states.get(g);
  if (!m) return refuse('invalid', `g${g.id} has no memctl device`);
  if (func === 'INFO') {
    record(world, { caller: g.id, func, target: g.id, start: gfn, end: gfn });
    return ok(hostPageFrames(g) * 4096);
  }
  if (!inRegion(m, gfn)) return refuse('invalid', `g${g.id} gfn ${hex(gfn)} is not memctl memory`);
  const hp = hostPageFrames(g);
  if (pages < 1 || gfn % hp !== 0 || pages % hp !== 0) return refuse('misaligned', `memctl ${func}: gfn ${hex(gfn)} +${pages} not aligned to the host page (${hp} frames)`);
  const end = gfn + pages;
  // madvise_dontneed_free_valid_vma / madvise_remove: -EINVAL on VM_LOCKED memory.
  if ((func === 'DONTNEED' || func === 'REMOVE' || func === 'FREE') && [...m.mlocked].some((x) => x >= gfn && x < end))
    return refuse('invalid', `memctl ${func}: range at gfn ${hex(gfn)} is mlocked`);
  // mlock(2) EAGAIN: a page of the range is under reclaim right now.
  const r = g.pendingReclaim;
  if (func === 'MLOCK' && r && r.gfn < end && gfn < r.gfn + r.frames) return refuse('busy', `memctl MLOCK: gfn ${hex(r.gfn)} is being reclaimed (EAGAIN)`);
  const limit = memslotEnd(g, gfn);
  if (end > limit) {
    // Hazard: the device must check the whole range against the caller's memory (-EINVAL); a
    // check of the start address alone lets the length run into the memory the VMM maps next,
    // another guest's.
    if (!world.fault('memctl-no-bounds-check')) return refuse('out-of-range', `memctl ${func}: gfn ${hex(gfn)} +${pages} runs past g${g.id}'s memory`);
    const own = apply(world, g, g, func, gfn, limit);
    if (own) return own;
    const next = world.guests[(g.id + 1) % world.guests.length]!;
    if (next !== g) {
      const other = apply(world, g, next, func, 0, Math.min(end - limit, next.config.frames));
      if (other) return other;
    }
    return ok();
  }
  return apply(world, g, g, func, gfn, end) ?? ok();
}

/** The host reclaims MADV_FREE pages not written since (they become handed: zero next time). */
export function memctlReclaimLazy(world: World, g: Guest, m: Memctl): number {
  let n = 0;
  for (const [gfn, c] of [...m.lazy]) {
    m.lazy.delete(gfn);
    if (peekGuestPhysical(world, g, gfn) !== c) continue; // written since: the lazy free is void
    if (discardRange(world, g, gfn, 1, 'memctl') > 0) {
      hand(world, g, m, gfn);
      n++;
    }
  }
  world.transition('memctl', 'lazy', 'handed');
  return n;
}
