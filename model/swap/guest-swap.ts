/**
 * Swap inside a guest (Linux mm/swap_state.c, mm/swapfile.c, mm/page_io.c, mm/memory.c
 * do_swap_page): anonymous pages written to the guest's own swap device and faulted back.
 *
 * A swapped page's cycle (the code below moves each edge):
 *   mapped -> swap cache, write in flight (add_to_swap reserves a slot and puts the page in the
 *   swap cache; try_to_unmap turns the PTE into a swap entry and flushes the TLB; pageout
 *   submits the write) -> swapped (the write completed: the slot, or frontswap, holds the
 *   contents and the swap-cache page is freed) -> mapped again (do_swap_page: from the swap
 *   cache if the write is still in flight, else a new page read from frontswap or the slot;
 *   then swap_free).
 *
 * Swap entries are kept beside the page tables (`ptes`: (pid, vpn) -> slot; assumption: Linux
 * encodes them in the non-present PTE itself; a side table gives the checks the same facts),
 * with the reverse map slot -> entries so a slot's owners can be counted.
 *
 * Device size: swarm option "swap.slots" (0: no swap device). (Assumption: the swap device is
 * a store of its own, not a file on one of the guest's virtual disks, so swap I/O does not go
 * through the host page cache.)
 */
import { ZERO, type Content } from '../content';
import { guestAlloc } from '../guest/alloc';
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { findSlot, slotFor, writeEntry } from '../guest/page-tables';
import type { Process } from '../guest/process';
import { physWrite } from '../guest/phys';
import type { AccessKind } from '../mmu/walk';
import { peekGuestPhysical } from '../mmu/peek';
import { guestEntry, guestPresent } from '../paging/entries';
import { cacheOf } from '../pagecache/state';
import { ok, refuse, type OpResult, type Refusal } from '../result';
import { fsSwapInvalidate, fsSwapInvalidateArea, fsSwapLoad, fsSwapPeek, fsSwapStore } from '../tmem/frontswap';
import type { World } from '../world';
import { SwapDevice } from './device';

export const GUEST_SWAP_SLOTS_DEFAULT = 64;

export interface SwapEntry {
  readonly pid: number;
  readonly vpn: number;
  readonly slot: number;
}

export interface GuestSwap {
  readonly device: SwapDevice | null;
  /** "pid:vpn" -> the swap entry standing where the PTE was. */
  readonly ptes: Map<string, SwapEntry>;
  /** slot -> keys of the entries that refer to it. */
  readonly refs: Map<number, Set<string>>;
  /** Slots whose contents went to frontswap instead of the device. */
  readonly frontswapped: Set<number>;
}

const states = new WeakMap<Guest, GuestSwap>();

export function guestSwapOf(w: World, g: Guest): GuestSwap {
  let s = states.get(g);
  if (!s) {
    const slots = w.option('swap.slots', GUEST_SWAP_SLOTS_DEFAULT);
    s = { device: slots > 0 ? new SwapDevice(slots, w.journal, `swap:g${g.id}`) : null, ptes: new Map(), refs: new Map(), frontswapped: new Set() };
    states.set(g, s);
  }
  return s;
}

export function pteKey(pid: number, vpn: number): string {
  return `${pid}:${vpn}`;
}

/** Free swap slots (0 without a device): what reclaim can still swap out. */
export function freeSwapSlots(w: World, g: Guest): number {
  return guestSwapOf(w, g).device?.available ?? 0;
}

function markEntry(w: World, g: Guest, e: SwapEntry): void {
  w.journal.mark(`swap:g${g.id}`, e.slot);
  w.journal.range(g.id, e.pid, e.vpn, e.vpn + 1);
}

/** The slot's contents changed: every entry that refers to it may read differently now. */
function markSlot(w: World, g: Guest, s: GuestSwap, slot: number, refs: ReadonlySet<string>): void {
  w.journal.mark(`swap:g${g.id}`, slot);
  for (const k of refs) {
    const e = s.ptes.get(k);
    if (e) w.journal.range(g.id, e.pid, e.vpn, e.vpn + 1);
  }
}

function addEntry(s: GuestSwap, e: SwapEntry): void {
  const k = pteKey(e.pid, e.vpn);
  s.ptes.set(k, e);
  let r = s.refs.get(e.slot);
  if (!r) s.refs.set(e.slot, (r = new Set()));
  r.add(k);
}

function dropEntry(s: GuestSwap, e: SwapEntry): void {
  const k = pteKey(e.pid, e.vpn);
  s.ptes.delete(k);
  const r = s.refs.get(e.slot);
  r?.delete(k);
  if (r && r.size === 0) s.refs.delete(e.slot);
}

/** swap_free: the slot and any frontswap copy of it go. */
function freeSlot(w: World, g: Guest, s: GuestSwap, slot: number): void {
  if (s.frontswapped.delete(slot)) fsSwapInvalidate(w, g, slot);
  s.device?.free(slot);
}

/**
 * The in-flight request whose frame is still in the swap cache for `slot` (its swap-out write:
 * only a swap-out's frame is owned by the swap cache), as an index into the I/O list; -1 if none.
 */
function swapCacheIndex(g: Guest, slot: number): number {
  return cacheOf(g).io.findIndex((r) => {
    const o = g.owners.get(r.gfn);
    return o?.kind === 'swap-cache' && o.slot === slot;
  });
}

/** The frame still in the swap cache for `slot` (its write in flight), if any. */
export function swapCacheFrame(g: Guest, slot: number): number | undefined {
  return cacheOf(g).io[swapCacheIndex(g, slot)]?.gfn;
}

/**
 * Swap out the 4 KiB anonymous page of pid at vpn: reserve a slot, move the page to the swap
 * cache, unmap it (TLB flushed), submit the write. `sync`: the write completes at once (reclaim
 * waiting on it); otherwise it stays in the guest's I/O queue until io.complete.
 */
export function swapOut(w: World, g: Guest, pid: number, vpn: number, sync: boolean): OpResult {
  const s = guestSwapOf(w, g);
  if (!s.device) return refuse('limit', `g${g.id} has no swap device`);
  const p = g.processes.get(pid);
  if (!p) return refuse('no-such-process', `g${g.id} has no pid ${pid}`);
  const vma = p.vmaAt(vpn);
  if (!vma || vma.object || vma.huge) return refuse('invalid', `g${g.id} pid ${pid} vpn ${vpn}: not a 4 KiB anonymous page`);
  const pte = findSlot(w, g, p, vpn, 1);
  if (pte === null || ('ok' in pte)) return pte ?? refuse('no-such-mapping', `g${g.id} pid ${pid} vpn ${vpn} is not mapped`);
  const e = pte.entry;
  if (pte.level !== 1 || !guestPresent(e)) return refuse('no-such-mapping', `g${g.id} pid ${pid} vpn ${vpn} is not mapped`);
  const gfn = e.pfn;
  const o = g.owners.get(gfn);
  if (o?.kind !== 'anon' || o.pid !== pid || o.vpn !== vpn) return refuse('invalid', `g${g.id} gfn ${gfn} is not pid ${pid}'s page at vpn ${vpn}`);
  // A page isolated for migration is off the LRU and locked (isolate_migratepages, then
  // folio_trylock fails in shrink_folio_list): reclaim leaves it to the migration.
  if (g.heldOnFree.some((h) => h(w, g, gfn, 0))) return refuse('busy', `g${g.id} gfn ${gfn} is isolated for migration`);
  const slot = s.device.alloc({ kind: 'anon', guest: g.id, pid, vpn });
  if (slot === null) return refuse('limit', `g${g.id} swap device full (${s.device.capacity} slots)`);
  g.setOwner(gfn, { kind: 'swap-cache', slot });
  writeEntry(w, g, pid, pte.tableGfn, pte.table, pte.index, undefined);
  w.tlb.invlpg(g.vpid, pid, vpn);
  const entry = { pid, vpn, slot };
  addEntry(s, entry);
  markEntry(w, g, entry);
  w.transition('swap', 'mapped', 'swap-cache');
  const req = { kind: 'swap-out' as const, slot, gfn };
  // Hazard: the page is under writeback: the device reads it until the write completes, so it
  // must stay allocated (end_page_writeback, then delete_from_swap_cache). Freeing it at
  // submission lets the next allocation reuse the frame and the slot receive that.
  if (w.fault('swap-frees-before-writeback')) {
    g.clearOwner(gfn);
    guestFree(w, g, gfn, 0);
  }
  if (sync) completeSwapOut(w, g, req);
  else cacheOf(g).io.push(req);
  return ok(slot);
}

/**
 * The swap-out write completed: the slot (or frontswap) receives the page as it is now; the
 * swap-cache page is freed. A slot no entry refers to any more (swapped back in, or unmapped
 * meanwhile) is freed instead.
 */
export function completeSwapOut(w: World, g: Guest, req: { slot: number; gfn: number }): void {
  const s = guestSwapOf(w, g);
  const o = g.owners.get(req.gfn);
  const cached = o?.kind === 'swap-cache' && o.slot === req.slot;
  if (s.device?.has(req.slot)) {
    // A slot's set of entries goes with its last entry (dropEntry): a set is never empty.
    const refs = s.refs.get(req.slot);
    if (refs) {
      const c = peekGuestPhysical(w, g, req.gfn);
      // swap_writepage: frontswap_store first; only a refused store goes to the device.
      if (fsSwapStore(w, g, req.slot, c)) s.frontswapped.add(req.slot);
      else s.device.write(req.slot, c);
      markSlot(w, g, s, req.slot, refs);
      w.transition('swap', 'swap-cache', 'swapped');
    } else freeSlot(w, g, s, req.slot);
  }
  if (cached) {
    g.clearOwner(req.gfn);
    guestFree(w, g, req.gfn, 0);
  }
}

/** What a swapped-out page reads as now: the swap-cache page, its frontswap copy, or its slot. */
export function swappedContent(w: World, g: Guest, slot: number): Content | undefined {
  const s = guestSwapOf(w, g);
  const f = swapCacheFrame(g, slot);
  if (f !== undefined) return peekGuestPhysical(w, g, f);
  if (s.frontswapped.has(slot)) return fsSwapPeek(w, g.id, slot);
  return s.device?.content(slot);
}

/** do_swap_page: fault a swapped page of p at vpn back in. null: not swapped (someone else's fault). */
function swapIn(w: World, g: Guest, p: Process, vpn: number, _access: AccessKind): true | Refusal | null {
  const s = guestSwapOf(w, g);
  const entry = s.ptes.get(pteKey(p.pid, vpn));
  if (!entry || !s.device) return null;
  const vma = p.vmaAt(vpn)!;
  const first = slotFor(w, g, p, vpn, 1);
  if ('ok' in first) return first;
  if (guestPresent(first.entry)) return null;
  const slot = entry.slot;
  const at = swapCacheIndex(g, slot);
  const fromCache = at >= 0;
  let gfn: number;
  if (fromCache) {
    // lookup_swap_cache hit while the write is in flight: wait for it (folio_wait_writeback),
    // then take the swap-cache page back; its slot goes with the entry below.
    gfn = cacheOf(g).io.splice(at, 1)[0]!.gfn;
    g.setOwner(gfn, { kind: 'anon', pid: p.pid, vpn });
  } else {
    const a = guestAlloc(w, g, 0, 'MOVABLE');
    if (typeof a !== 'number') return refuse('guest-oom', `g${g.id}: no page to swap in pid ${p.pid} vpn ${vpn} (${a.error})`);
    g.setOwner(a, { kind: 'anon', pid: p.pid, vpn });
    // swap_readpage: frontswap_load first, else the device (a slot never written reads as
    // whatever the device held there: zero here).
    const c = (s.frontswapped.has(slot) ? fsSwapLoad(w, g, slot) : undefined) ?? s.device.content(slot) ?? ZERO;
    const wr = physWrite(w, g, a, c);
    if (wr !== true) {
      g.clearOwner(a);
      guestFree(w, g, a, 0);
      return wr;
    }
    gfn = a;
  }
  // The allocation may have reclaimed and rewritten tables: find the slot again.
  const pte = slotFor(w, g, p, vpn, 1);
  if ('ok' in pte) return pte;
  writeEntry(w, g, p.pid, pte.tableGfn, pte.table, pte.index, guestEntry(gfn, { writable: vma.prot.write, user: true, nx: !vma.prot.exec }));
  markEntry(w, g, entry);
  // Hazard: swap_free may release the slot only together with the entry that names it; a
  // freed slot still named by an entry is handed to the next swap-out and the two pages
  // share it (13ddaf26be32, "mm/swap: fix race when skipping swapcache": a stale swap entry
  // reused for another page).
  if (!w.fault('swap-slot-freed-while-referenced')) dropEntry(s, entry);
  freeSlot(w, g, s, slot);
  w.transition('swap', fromCache ? 'swap-cache' : 'swapped', 'mapped');
  return true;
}

/** munmap/exit: the range's swap entries go, and their slots (free_swap_and_cache). */
function unmapRange(w: World, g: Guest, p: Process, start: number, end: number): void {
  const s = guestSwapOf(w, g);
  for (const e of [...s.ptes.values()]) {
    if (e.pid !== p.pid || e.vpn < start || e.vpn >= end) continue;
    dropEntry(s, e);
    markEntry(w, g, e);
    // A write still in flight frees the slot when it completes (no entry refers to it).
    if (swapCacheFrame(g, e.slot) === undefined) freeSlot(w, g, s, e.slot);
    w.transition('swap', 'swapped', 'freed');
  }
}

/** A crash: the swap device's contents mean nothing to the next kernel (swapon rewrites it). */
export function swapCrash(w: World, g: Guest): void {
  const s = guestSwapOf(w, g);
  for (const e of [...s.ptes.values()]) dropEntry(s, e);
  for (const [slot] of [...(s.device?.entries() ?? [])]) freeSlot(w, g, s, slot);
  fsSwapInvalidateArea(w, g);
  s.frontswapped.clear();
}

/** Register the guest-side hooks (mechanism init). */
export function swapInit(w: World): void {
  for (const g of w.guests) {
    guestSwapOf(w, g);
    g.pageFaultHooks.push(swapIn);
    g.unmapHooks.push(unmapRange);
    g.pagedOutHooks.push((world, guest, pid, vpn) => {
      const e = guestSwapOf(world, guest).ptes.get(pteKey(pid, vpn));
      return e ? swappedContent(world, guest, e.slot) : undefined;
    });
  }
}
