/**
 * Swap's properties (swap), over the host's swap device and each guest's:
 * - swap-slot-exclusive: a slot has at most one owner and every reference to a slot agrees
 *   with it: a guest swap entry names an allocated slot owned by that (pid, vpn), and no two
 *   entries name one slot; a host swapped gfn names a slot owned by that (guest, gfn);
 * - swapped-data-returns: what a swapped page would read back (its swap-cache page, frontswap
 *   copy or slot) is what the core oracle says the process last wrote there (host swap: the
 *   anonymous page the gfn holds);
 * - swap-frame-held-during-writeback: while a swap-out write is in flight its frame stays
 *   allocated (guest: the swap-cache page; host: the frame backing the gfn).
 */
import { describeContent, type Content } from '../../model/content';
import type { Guest } from '../../model/guest/guest';
import { cacheOf } from '../../model/pagecache/state';
import { describeSlotOwner, sameSlotOwner, type SlotOwner } from '../../model/swap/device';
import { guestSwapOf, swappedContent } from '../../model/swap/guest-swap';
import type { World } from '../../model/world';
import { describeExpected, meets, type Oracle } from '../oracle';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

// ---- swap-slot-exclusive ----

const EXCLUSIVE = 'swap-slot-exclusive';

function checkGuestSlot(w: World, g: Guest, slot: number, r: Reporter): void {
  const s = guestSwapOf(w, g);
  const refs = [...(s.refs.get(slot) ?? [])];
  const subject = `g${g.id} swap slot ${slot}`;
  if (refs.length > 1) {
    r.report({ property: EXCLUSIVE, kind: 'slot-shared', subject, message: 'two swap entries name one slot', expected: 'one owner', actual: refs.join(', ') });
    return;
  }
  if (refs.length === 0) return;
  const e = s.ptes.get(refs[0]!);
  if (!e) return;
  const owner = s.device?.owner(slot);
  if (!owner) {
    r.report({ property: EXCLUSIVE, kind: 'entry-to-free-slot', subject, message: `pid ${e.pid} vpn ${hex(e.vpn)} still names a slot that was freed`, expected: 'the slot allocated to it', actual: 'free slot' });
    return;
  }
  const want: SlotOwner = { kind: 'anon', guest: g.id, pid: e.pid, vpn: e.vpn };
  if (!sameSlotOwner(owner, want))
    r.report({ property: EXCLUSIVE, kind: 'slot-owner-mismatch', subject, message: 'a swap entry names a slot allocated to someone else', expected: describeSlotOwner(want), actual: describeSlotOwner(owner) });
}

function checkHostSlot(w: World, slot: number, r: Reporter): void {
  const owner = w.hostSwapDevice.owner(slot);
  if (owner?.kind === 'guest-memory' && w.guests[owner.guest]?.hostSwap.slot(owner.gfn) !== slot)
    r.report({ property: EXCLUSIVE, kind: 'slot-owner-mismatch', subject: `host swap slot ${slot}`, message: "a host slot's owner does not name it", expected: `${describeSlotOwner(owner)} -> slot ${slot}`, actual: `slot ${String(w.guests[owner.guest]?.hostSwap.slot(owner.gfn))}` });
}

/** A host-swapped gfn must name a slot the device gave to that very gfn (so no two gfns share one). */
function checkHostGfn(w: World, g: Guest, gfn: number, r: Reporter): void {
  const slot = g.hostSwap.slot(gfn);
  if (slot === undefined) return;
  const owner = w.hostSwapDevice.owner(slot);
  const want: SlotOwner = { kind: 'guest-memory', guest: g.id, gfn };
  if (!owner) r.report({ property: EXCLUSIVE, kind: 'entry-to-free-slot', subject: `g${g.id} gfn ${hex(gfn)}`, message: 'a swapped gfn names a freed host slot', expected: `host slot ${slot} allocated to it`, actual: 'free slot' });
  else if (!sameSlotOwner(owner, want)) r.report({ property: EXCLUSIVE, kind: 'slot-shared', subject: `g${g.id} gfn ${hex(gfn)}`, message: 'a swapped gfn names a host slot allocated to someone else', expected: describeSlotOwner(want), actual: `slot ${slot}: ${describeSlotOwner(owner)}` });
}

export const swapSlotExclusive: Property = {
  name: EXCLUSIVE,
  mechanism: 'swap',
  kind: 'safety',
  description: 'a swap slot is never shared by two owners, and every swap entry names a slot it owns',
  checkStep({ world: w, journal: j }, r) {
    for (const g of w.guests) for (const slot of j.marks.get(`swap:g${g.id}`) ?? []) checkGuestSlot(w, g, slot, r);
    for (const slot of j.marks.get('swap:host') ?? []) checkHostSlot(w, slot, r);
    for (const [gid, gfns] of j.gfns) for (const gfn of gfns) checkHostGfn(w, w.guests[gid]!, gfn, r);
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) {
      const s = guestSwapOf(w, g);
      const slots = new Set<number>([...s.refs.keys(), ...[...(s.device?.entries() ?? [])].map(([slot]) => slot)]);
      for (const slot of [...slots].sort((a, b) => a - b)) checkGuestSlot(w, g, slot, r);
    }
    for (const [slot] of w.hostSwapDevice.entries()) checkHostSlot(w, slot, r);
    for (const g of w.guests) for (const gfn of g.hostSwap.keys()) checkHostGfn(w, g, gfn, r);
  },
};

// ---- swapped-data-returns ----

const RETURNS = 'swapped-data-returns';

function checkGuestData(w: World, o: Oracle, g: Guest, slot: number, r: Reporter): void {
  const s = guestSwapOf(w, g);
  for (const k of s.refs.get(slot) ?? []) {
    const e = s.ptes.get(k);
    if (!e) continue;
    const c = swappedContent(w, g, slot);
    if (c === undefined) continue;
    const expected = o.expected(g.id, e.pid, e.vpn);
    if (!meets(expected, c))
      r.report({ property: RETURNS, kind: 'swapped-data-changed', subject: `g${g.id} pid ${e.pid} va ${hex(e.vpn * 4096)} (slot ${slot})`, message: 'a swapped-out page would not come back as it was written', expected: describeExpected(expected), actual: describeContent(c) });
  }
}

function checkHostData(w: World, o: Oracle, slot: number, r: Reporter): void {
  const owner = w.hostSwapDevice.owner(slot);
  if (owner?.kind !== 'guest-memory') return;
  const g = w.guests[owner.guest];
  const c: Content | undefined = w.hostSwapDevice.content(slot);
  const anon = g?.owners.get(owner.gfn);
  if (!g || c === undefined || anon?.kind !== 'anon' || g.backing.has(owner.gfn)) return;
  // A page isolated for migration outlives its mapping (munmap, MADV_DONTNEED, exit) until the
  // migration lets go of it (Guest.heldOnFree): unmapped, nobody will read it back.
  let mapped = false;
  for (const hit of g.rmap.reaching(owner.gfn)) if (hit.owner === anon.pid && hit.source === anon.vpn) mapped = true;
  if (!mapped) return;
  const expected = o.expected(g.id, anon.pid, anon.vpn);
  if (!meets(expected, c))
    r.report({ property: RETURNS, kind: 'swapped-data-changed', subject: `g${g.id} gfn ${hex(owner.gfn)} (host slot ${slot}, pid ${anon.pid} va ${hex(anon.vpn * 4096)})`, message: 'a page the host swapped out would not come back as the guest wrote it', expected: describeExpected(expected), actual: describeContent(c) });
}

export const swappedDataReturns: Property = {
  name: RETURNS,
  mechanism: 'swap',
  kind: 'safety',
  description: 'swapped-out data always comes back identical',
  checkStep({ world: w, journal: j, oracle: o }, r) {
    for (const g of w.guests) for (const slot of j.marks.get(`swap:g${g.id}`) ?? []) checkGuestData(w, o, g, slot, r);
    for (const slot of j.marks.get('swap:host') ?? []) checkHostData(w, o, slot, r);
  },
  checkAll({ world: w, oracle: o }, r) {
    for (const g of w.guests) for (const slot of [...guestSwapOf(w, g).refs.keys()].sort((a, b) => a - b)) checkGuestData(w, o, g, slot, r);
    for (const [slot] of w.hostSwapDevice.entries()) checkHostData(w, o, slot, r);
  },
};

// ---- swap-frame-held-during-writeback ----

const HELD = 'swap-frame-held-during-writeback';

function checkInFlight(w: World, g: Guest, r: Reporter): void {
  for (const req of cacheOf(g).io) {
    if (req.kind !== 'swap-out') continue;
    const o = g.owners.get(req.gfn);
    const held = !g.buddy.isFree(req.gfn) && o?.kind === 'swap-cache' && o.slot === req.slot;
    if (!held)
      r.report({ property: HELD, kind: 'freed-during-writeback', subject: `g${g.id} gfn ${hex(req.gfn)} (swap slot ${req.slot})`, message: 'the page a swap-out write is reading was freed before the write completed', expected: `swap cache page of slot ${req.slot}`, actual: g.buddy.isFree(req.gfn) ? 'free' : `owned: ${o?.kind ?? 'nobody'}` });
  }
  const p = g.pendingReclaim;
  if (p) {
    const o = w.frames.owner(p.hfn);
    if (o?.kind !== 'guest-memory' || o.guest !== g.id || o.gfn !== p.gfn)
      r.report({ property: HELD, kind: 'freed-during-writeback', subject: `g${g.id} gfn ${hex(p.gfn)} (host hfn ${hex(p.hfn)})`, message: 'the host frame a swap-out write is reading was freed before the write completed', expected: `g${g.id} gfn ${hex(p.gfn)}`, actual: o ? o.kind : 'free' });
  }
}

/** Bounded by the requests in flight (the I/O queue and one host reclaim per guest), not by memory. */
export const swapFrameHeldDuringWriteback: Property = {
  name: HELD,
  mechanism: 'swap',
  kind: 'safety',
  description: 'a frame is never freed while a swap-out of it is in flight',
  checkStep({ world: w }, r) {
    for (const g of w.guests) checkInFlight(w, g, r);
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) checkInFlight(w, g, r);
  },
};

