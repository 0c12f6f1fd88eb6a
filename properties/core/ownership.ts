/**
 * ownership-partition (domain.md section 10.1): every host frame is either free (inside a
 * free block of the host buddy) or has exactly one owner record, and the record agrees with
 * the structure that claims the frame: guest memory with the guest's primary mapping, an EPT
 * table with that guest's EPT. Frames are conserved: owned + free = total. The same holds
 * inside each guest for guest frames and the guest kernel's ledger.
 */
import { sharedCacheHolds } from '../../model/dax/shared-cache';
import { ramLike, windowAt } from '../../model/host/ept-fault';
import { describeOwner } from '../../model/host/frames';
import { hostCacheHolds } from '../../model/pagecache/disk';
import { tmemHolds } from '../../model/tmem/backend';
import { describeGuestOwner, type Guest } from '../../model/guest/guest';
import type { BuddyAllocator } from '../../model/buddy/buddy';
import type { World } from '../../model/world';
import { compactionState } from '../../model/compaction/state';
import { nodeOfFrame, sharerKey, sharerOf } from '../../model/ksm/ksm';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'ownership-partition';

/**
 * "Is this frame free?" for many frames of the same allocated blocks: the frames of one
 * allocated block are all not free, so one ancestor lookup answers for the whole block (a
 * 2 MiB fault dirties 512 frames). That an allocated block never overlaps a free one is
 * buddy-invariants' allocated-overlap rule; both check modes use this same memo.
 */
class FreeMemo {
  private head = -1;
  private end = -1;

  constructor(private readonly b: BuddyAllocator) {}

  isFree(pfn: number): boolean {
    if (pfn >= this.head && pfn < this.end) return false;
    const a = this.b.allocatedBlock(pfn);
    if (!a) return this.b.isFree(pfn);
    this.head = a.head;
    this.end = a.head + (1 << a.order);
    return false;
  }
}

interface Memos {
  readonly host: FreeMemo;
  readonly guests: FreeMemo[];
}

function memos(w: World): Memos {
  return { host: new FreeMemo(w.hostBuddy), guests: w.guests.map((g) => new FreeMemo(g.buddy)) };
}

function checkHostFrame(w: World, hfn: number, r: Reporter, m: Memos): void {
  const owner = w.frames.owner(hfn);
  const free = m.host.isFree(hfn);
  if (owner && !free && owner.kind === 'guest-memory' && w.guests[owner.guest]?.backing.get(owner.gfn) === hfn) return; // the common case, fast
  const subject = (): string => `hfn ${hex(hfn)}`;
  if (owner && free) {
    r.report({ property: NAME, kind: 'owned-and-free', subject: subject(), message: 'a frame with an owner sits in a free block', expected: 'one of owner or free', actual: `${describeOwner(owner)} and free` });
    return;
  }
  if (!owner && !free) {
    r.report({ property: NAME, kind: 'unaccounted', subject: subject(), message: 'a frame is neither free nor owned', expected: 'owner or free', actual: 'neither' });
    return;
  }
  if (!owner) return;
  switch (owner.kind) {
    case 'guest-memory': {
      const g = w.guests[owner.guest];
      const backed = g?.backing.get(owner.gfn);
      if (backed !== hfn)
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: `owner record says ${describeOwner(owner)} but the primary mapping disagrees`, expected: `backing(g${owner.guest}, ${hex(owner.gfn)}) = ${hex(hfn)}`, actual: backed === undefined ? 'not backed' : hex(backed) });
      return;
    }
    case 'ept-table': {
      const g = w.guests[owner.guest];
      if (!g?.ept.tables.has(hfn))
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: 'an EPT table frame not in its guest\'s EPT', expected: `table of g${owner.guest}`, actual: 'unreferenced' });
      return;
    }
    case 'host-kernel':
      return;
    case 'host-page-cache':
      if (!hostCacheHolds(w, owner.guest, owner.disk, owner.block, hfn))
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: 'a host page-cache frame its image\'s cache does not hold', expected: `cached block ${owner.block} of g${owner.guest} disk ${owner.disk}`, actual: 'unreferenced' });
      return;
    case 'shared-page-cache':
      if (!sharedCacheHolds(w, owner.file, owner.index, hfn))
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: 'a shared page-cache frame the shared cache does not hold', expected: `shared file ${owner.file} page ${owner.index}`, actual: 'unreferenced' });
      return;
    case 'dax-private': {
      const g = w.guests[owner.guest];
      if (g?.backing.get(owner.gfn) !== hfn)
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: 'a private DAX copy its window does not map', expected: `backing(g${owner.guest}, ${hex(owner.gfn)}) = ${hex(hfn)}`, actual: 'unreferenced' });
      return;
    }
    case 'tmem':
      if (!tmemHolds(w, owner.pool, owner.key, hfn))
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: 'a tmem frame no pool holds', expected: `pool ${owner.pool} key ${hex(owner.key)}`, actual: 'unreferenced' });
      return;
    case 'ksm': {
      // Claimed by its stable node, and every sharer the node lists maps exactly this frame.
      const n = nodeOfFrame(w, hfn);
      if (!n || n.id !== owner.node || n.sharers.size === 0) {
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: 'a KSM page no stable node holds', expected: `stable node ${owner.node} with sharers`, actual: n ? `node ${n.id} with ${n.sharers.size} sharers` : 'none' });
        return;
      }
      for (const key of n.sharers) {
        const x = sharerOf(key);
        const backed = w.guests[x.guest]?.backing.get(x.gfn);
        if (backed !== hfn)
          r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: `KSM node ${n.id} lists g${x.guest} gfn ${hex(x.gfn)} but its primary mapping disagrees`, expected: hex(hfn), actual: backed === undefined ? 'not backed' : hex(backed) });
      }
      return;
    }
    case 'migrate-target': {
      // Claimed by a host migration in flight for exactly this (guest, gfn).
      const m = [...compactionState(w).active.values()].find((x) => x.side === 'host' && x.dst === hfn);
      if (!m || m.guest !== owner.guest || m.gfn !== owner.gfn)
        r.report({ property: NAME, kind: 'leaked-frame', subject: subject(), message: 'a migration target that no migration in flight holds', expected: `host migration of g${owner.guest} gfn ${hex(owner.gfn)} to ${hex(hfn)}`, actual: m ? `migration #${m.id} of g${m.guest} gfn ${hex(m.gfn)}` : 'none' });
      return;
    }
  }
}

function checkBacking(w: World, g: Guest, gfn: number, r: Reporter): void {
  const hfn = g.backing.get(gfn);
  // gfns above RAM are a device window's memslot (a DAX window): backed by a shared or private
  // file page, whose owner record names the window rather than the guest-memory ledger. A `ram`
  // memslot (the memctl 1 GiB region) is backed like RAM and checked against the ledger below.
  if (!ramLike(g, gfn)) {
    if (hfn !== undefined && !(windowAt(g, gfn)?.frameOk?.(w, g, gfn, hfn) ?? false))
      r.report({ property: NAME, kind: 'backing-ledger-mismatch', subject: `g${g.id} gfn ${hex(gfn)}`, message: 'a window gfn is backed by a frame that is not its page', expected: 'the shared page or this guest\'s private copy', actual: `hfn ${hex(hfn)}: ${describeOwner(w.frames.owner(hfn))}` });
    return;
  }
  const ledger = w.frames.ledgerFrameOf(g.id, gfn);
  // A gfn merged by KSM is backed by the node's page, which the ledger files under the node.
  if (ledger === undefined && hfn !== undefined && nodeOfFrame(w, hfn)?.sharers.has(sharerKey(g.id, gfn))) return;
  if (hfn !== ledger)
    r.report({ property: NAME, kind: 'backing-ledger-mismatch', subject: `g${g.id} gfn ${hex(gfn)}`, message: 'the primary mapping and the owner ledger disagree', expected: `ledger ${ledger === undefined ? 'none' : hex(ledger)}`, actual: `backing ${hfn === undefined ? 'none' : hex(hfn)}` });
}

function checkGuestFrame(g: Guest, gfn: number, r: Reporter, m: Memos): void {
  if (gfn >= g.config.frames) return; // not RAM: no guest allocator owns it
  const owner = g.owners.get(gfn);
  const free = m.guests[g.id]!.isFree(gfn);
  if ((owner !== undefined) === free)
    r.report({ property: NAME, kind: owner ? 'guest-owned-and-free' : 'guest-unaccounted', subject: `g${g.id} gfn ${hex(gfn)}`, message: 'a guest frame must be free or owned, not both or neither', expected: 'exactly one', actual: `${describeGuestOwner(owner)}${free ? ' + free' : ''}` });
}

function conservation(w: World, r: Reporter): void {
  const allocated = w.hostBuddy.allocatedPages();
  if (w.frames.owned !== allocated)
    r.report({ property: NAME, kind: 'not-conserved', subject: 'host', message: 'frames with an owner must be exactly the frames the allocator handed out', expected: `${allocated} owned (allocated)`, actual: `${w.frames.owned} owned` });
  for (const a of w.anomalies) if (a.property === NAME) r.report({ property: NAME, kind: a.kind, subject: a.subject, message: 'the model freed something it did not own', expected: a.expected, actual: a.actual });
}

export const ownershipPartition: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: 'each host and guest frame is free or has exactly one owner that agrees with its mapping; frames are conserved',
  checkStep({ world: w, journal: j }, r) {
    const m = memos(w);
    // Content writes cannot change ownership: only frames whose owner changed or that lost
    // their mapping are looked at.
    for (const hfn of j.owners) checkHostFrame(w, hfn, r, m);
    const extra = new Set<number>();
    for (const [gid, gfns] of j.gfns) {
      const g = w.guests[gid]!;
      for (const gfn of gfns) {
        checkBacking(w, g, gfn, r);
        checkGuestFrame(g, gfn, r, m);
        // The frame the ledger still gives this gfn may now be claimed by nothing.
        const ledger = w.frames.ledgerFrameOf(g.id, gfn);
        if (ledger !== undefined && !j.owners.has(ledger) && !extra.has(ledger)) {
          extra.add(ledger);
          checkHostFrame(w, ledger, r, m);
        }
      }
    }
    conservation(w, r);
  },
  checkAll({ world: w }, r) {
    const m = memos(w);
    const seen = new Set<number>();
    for (const [hfn, rec] of w.frames.ownedFrames()) {
      seen.add(hfn);
      const o = rec.owner;
      if (o.kind === 'guest-memory' && w.guests[o.guest] && !w.guests[o.guest]!.backing.has(o.gfn)) checkBacking(w, w.guests[o.guest]!, o.gfn, r);
    }
    // Allocated frames with no owner (unaccounted) are found through the allocator: the
    // incremental check sees them when they lose their owner, the full one must too.
    for (const b of w.hostBuddy.allocatedBlocksAll()) for (let i = 0; i < 1 << b.order; i++) if (!w.frames.owner(b.head + i)) seen.add(b.head + i);
    for (const g of w.guests) {
      for (const [, hfn] of g.backing) seen.add(hfn);
      for (const gfn of g.backing.keys()) checkBacking(w, g, gfn, r);
      for (const gfn of g.owners.keys()) checkGuestFrame(g, gfn, r, m);
      for (const b of g.buddy.allocatedBlocksAll()) for (let i = 0; i < 1 << b.order; i++) if (!g.owners.has(b.head + i)) checkGuestFrame(g, b.head + i, r, m);
    }
    for (const hfn of [...seen].sort((a, b) => a - b)) checkHostFrame(w, hfn, r, m);
    conservation(w, r);
  },
};
