/**
 * The host's handling of an EPT violation (arch/x86/kvm/mmu/mmu.c kvm_tdp_page_fault): read
 * mmu_invalidate_seq, resolve the gfn to a host frame through the primary mapping (hva_to_pfn:
 * an existing frame, a swap-in, or a fresh frame cleared with clear_page), then, under the MMU
 * lock, install the EPT leaf unless an invalidation raced (is_page_fault_stale), in which case
 * the guest retries the access.
 *
 * With huge pages on, a fault in a 2 MiB unit none of whose frames is backed or swapped is
 * served by one order-9 host block mapped with a 2 MiB EPT leaf (THP backing of guest memory).
 */
import { EPT_EXEC, EPT_READ, EPT_RWX, EPT_WRITE, FRAMES_PER_2M } from '../constants';
import { copyContent, ZERO } from '../content';
import type { Guest, GuestWindow } from '../guest/guest';
import type { World } from '../world';
import { refuse, type Refusal } from '../result';
import { hostAlloc } from './alloc';
import { invalidateBegin, invalidateEnd } from '../mmu/notifier';
import { hex } from '../../properties/violation';

export interface Resolved {
  /** Host frame backing the faulting gfn. */
  readonly hfn: number;
  /** Unit to map: 1 frame, or 512 for a 2 MiB-backed unit. */
  readonly frames: number;
}

/** The memslot above guest RAM that holds gfn, if any. */
export function windowAt(g: Guest, gfn: number): GuestWindow | undefined {
  for (const w of g.windows) if (gfn >= w.start && gfn < w.end) return w;
  return undefined;
}

/** Whether gfn is memory the host backs like guest RAM: RAM itself, or a `ram` memslot. */
export function ramLike(g: Guest, gfn: number): boolean {
  return gfn < g.config.frames || windowAt(g, gfn)?.ram === true;
}

/** The end of the RAM-like memslot holding gfn (guest RAM, or a `ram` window). */
export function memslotEnd(g: Guest, gfn: number): number {
  return gfn < g.config.frames ? g.config.frames : (windowAt(g, gfn)?.end ?? gfn);
}

function unitUntouched(g: Guest, base: number): boolean {
  if (base + FRAMES_PER_2M > memslotEnd(g, base)) return false;
  for (let i = 0; i < FRAMES_PER_2M; i++) if (g.backing.has(base + i) || g.hostSwap.has(base + i)) return false;
  return true;
}

/** The EPT permission bits the host mapping behind gfn allows (EPT_RWX unless mprotected). */
export function hostAllows(g: Guest, gfn: number): number {
  return g.hostProtection ? g.hostProtection(gfn) : EPT_RWX;
}

/** hva_to_pfn for guest memory: find or make the host frame behind gfn. */
export function resolveBacking(world: World, g: Guest, gfn: number): Resolved | Refusal {
  // Mechanisms may hold the fault off: a migration entry in the primary mapping (wait), an
  // unplugged virtio-mem block (refuse).
  for (const h of g.backingHooks) {
    const stop = h.guard?.(world, g, gfn);
    if (stop) return stop;
  }
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  const existing = g.backing.get(gfn);
  if (existing !== undefined) return { hfn: existing, frames: g.hugeBacked.has(unit) ? FRAMES_PER_2M : 1 };
  const base = unit * FRAMES_PER_2M;
  if (g.config.hugePages && unitUntouched(g, base)) {
    const block = hostAlloc(world, 9, 'MOVABLE', (i) => ({ kind: 'guest-memory', guest: g.id, gfn: base + i }), 'ept-fault', 'zero-fill 2M');
    if (typeof block === 'number') {
      for (let i = 0; i < FRAMES_PER_2M; i++) {
        fillFresh(world, block + i);
        g.setBacking(base + i, block + i);
      }
      g.hugeBacked.add(unit);
      world.transition('nested-mmu', 'unbacked', 'backed-2m');
      return { hfn: block + (gfn - base), frames: FRAMES_PER_2M };
    }
    // No order-9 block: fall back to a 4 KiB frame, as THP does.
  }
  const swapped = g.hostSwap.get(gfn);
  const hfn = hostAlloc(world, 0, 'MOVABLE', () => ({ kind: 'guest-memory', guest: g.id, gfn }), 'ept-fault', swapped ? 'swap-in' : 'zero-fill');
  if (typeof hfn !== 'number') return hfn;
  if (swapped) {
    world.frames.write(hfn, copyContent(swapped));
    g.hostSwap.delete(gfn);
    world.transition('nested-mmu', 'swapped', 'backed');
  } else {
    fillFresh(world, hfn);
    world.transition('nested-mmu', 'unbacked', 'backed');
  }
  g.setBacking(gfn, hfn);
  return { hfn, frames: 1 };
}

function fillFresh(world: World, hfn: number): void {
  // Hazard: a frame fresh from the host buddy still holds its previous owner's data. Skipping
  // the clear hands that data to this guest (Xen XSA-100 / CVE-2014-4021: pages handed to a
  // guest without scrubbing).
  if (world.fault('no-zero-on-reassign')) return;
  world.frames.clear(hfn, ZERO);
}

/** The second half: install the EPT leaf unless the fault went stale. */
export function installResolved(world: World, g: Guest, gfn: number, r: Resolved, seq: number): true | Refusal {
  // Hazard: a fault that resolved its frame before an invalidation ran must not install it
  // afterwards (is_page_fault_stale); without this check the EPT keeps a frame the host freed.
  if (!world.fault('fault-ignores-invalidation-seq') && g.faultIsStale(gfn, seq)) {
    world.transition('nested-mmu', 'fault', 'retry');
    return refuse('retry', `g${g.id} gfn ${hex(gfn)}: fault raced an invalidation (seq ${seq} -> ${g.invalidation.seq})`);
  }
  const allowed = hostAllows(g, gfn);
  // mprotect(PROT_NONE) since the frame was resolved (the invalidation made the fault stale,
  // unless the fault above ignores that): no leaf at all.
  if (!(allowed & EPT_READ)) return refuse('sigbus', `g${g.id} gfn ${hex(gfn)}: host mapping is PROT_NONE (-EFAULT)`);
  const base = gfn - (gfn % r.frames);
  const hfnBase = r.hfn - (gfn - base);
  // A write-protected primary mapping (a KSM page) is mapped without W: a write faults again
  // and breaks copy-on-write first (eptFault below). So is memory the host mprotected read-only.
  const readOnly = !(allowed & EPT_WRITE) || g.backingHooks.some((h) => h.readOnly?.(world, g, gfn) === true);
  const done = g.ept.mapLeaf(world, base, hfnBase, r.frames === 1 ? 1 : 2, readOnly ? EPT_READ | EPT_EXEC : EPT_RWX);
  if (done !== true) return done;
  world.journal.note(() => `g${g.id} EPT: gfn ${hex(base)} -> hfn ${hex(hfnBase)} (${r.frames === 1 ? '4K' : '2M'})`);
  world.transition('nested-mmu', 'fault', 'installed');
  return true;
}

/**
 * A whole EPT violation handled in one step (the common, unraced case). A write to a gfn whose
 * EPT leaf is present but read-only is a write-protection fault: the host's write fault
 * (hva_to_pfn with FOLL_WRITE -> do_wp_page) breaks copy-on-write, whose invalidation zaps the
 * leaf, and the access retries. With no copy-on-write to break, the leaf is read-only although
 * the host now allows the write: its protection was raised without the mmu notifier that zaps
 * the leaf (the fault memctl-mprotect-skips-notifier); KVM replaces the SPTE, which the model
 * does by zapping the old leaf inside an invalidation and mapping anew.
 */
export function eptFault(world: World, g: Guest, gfn: number, write: boolean): true | Refusal {
  // gfns above guest RAM belong to another memslot (a device window: virtio-pmem, a virtio-fs
  // DAX window), whose mechanism resolves them; with none there is no memslot at all. A `ram`
  // memslot (anonymous host memory, the memctl 1 GiB region) is served like guest RAM below.
  if (gfn >= g.config.frames) {
    const win = windowAt(g, gfn);
    if (!win) return refuse('invalid', `g${g.id} gfn ${hex(gfn)}: no memslot`);
    if (!win.ram) return win.fault ? win.fault(world, g, gfn, write) : refuse('invalid', `g${g.id} gfn ${hex(gfn)}: no memslot`);
  }
  const allowed = hostAllows(g, gfn);
  if (!(allowed & EPT_READ) || (write && !(allowed & EPT_WRITE)))
    // Not a guest protection fault (the guest's own tables allow the access): the host's -EFAULT
    // (KVM_EXIT_MEMORY_FAULT), which the VMM reflects as a machine check: SIGBUS in the guest.
    return refuse('sigbus', `g${g.id} gfn ${hex(gfn)}: the host mapping forbids a ${write ? 'write' : 'read'} (hva_to_pfn: -EFAULT)`);
  const l = g.ept.lookup(world, gfn);
  if (write && l.kind === 'leaf') {
    for (const h of g.backingHooks) {
      const r = h.writeFault?.(world, g, gfn);
      if (r) return r;
    }
    invalidateBegin(world, g, gfn, gfn + 1);
    invalidateEnd(world, g);
  }
  const seq = g.invalidation.seq;
  const r = resolveBacking(world, g, gfn);
  if ('ok' in r) return r;
  return installResolved(world, g, gfn, r, seq);
}
