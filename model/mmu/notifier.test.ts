/**
 * The invalidation protocol's bookkeeping (virt/kvm/kvm_main.c kvm_mmu_invalidate_begin/_end):
 * begins nest, the range in progress is the union of the open ones and is cleared only when
 * the last ends, every end bumps the sequence count that makes a raced fault stale
 * (is_page_fault_stale); begin zaps exactly the EPT leaves over its range and flushes the TLB
 * entries the guest's EPT root produced.
 */
import { createWorld } from '../registry';
import { isRefusal } from '../result';
import type { World } from '../world';
import type { TlbEntry } from './tlb';
import { invalidateBegin, invalidateEnd, invalidateMark, zapAndFlush } from './notifier';

function world(): World {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

function tlbEntry(eptRoot: number, vpn: number): TlbEntry {
  return { vpid: 1, pcid: 1, eptRoot, vpnBase: vpn, frames: 1, hfnBase: 9000 + vpn, gfnBase: vpn, writable: true, nx: false, dirty: true };
}

describe('mmu notifier', () => {
  test('begins nest: the range is the union of the open ones, kept until the last end, and every end bumps the sequence', () => {
    const w = world();
    const g = w.guests[0]!;
    const s = g.invalidation;
    w.journal.clear();
    invalidateMark(w, g, 10, 20);
    expect(s).toEqual({ seq: 0, inProgress: 1, rangeStart: 10, rangeEnd: 20 });
    expect(w.journal.guests.has(g.id)).toBe(true);
    // A fault that read seq 0 is stale inside the range only, until an end.
    expect(g.faultIsStale(10, 0)).toBe(true);
    expect(g.faultIsStale(19, 0)).toBe(true);
    expect(g.faultIsStale(20, 0)).toBe(false);
    expect(g.faultIsStale(9, 0)).toBe(false);
    invalidateMark(w, g, 5, 12);
    expect(s).toEqual({ seq: 0, inProgress: 2, rangeStart: 5, rangeEnd: 20 });
    invalidateMark(w, g, 30, 40);
    expect(s).toEqual({ seq: 0, inProgress: 3, rangeStart: 5, rangeEnd: 40 });
    invalidateMark(w, g, 7, 8);
    expect(s).toEqual({ seq: 0, inProgress: 4, rangeStart: 5, rangeEnd: 40 });
    w.journal.clear();
    invalidateEnd(w, g);
    expect(s).toEqual({ seq: 1, inProgress: 3, rangeStart: 5, rangeEnd: 40 });
    expect(w.journal.guests.has(g.id)).toBe(true);
    // Every fault that read seq 0 is now stale, wherever it is.
    expect(g.faultIsStale(100, 0)).toBe(true);
    invalidateEnd(w, g);
    invalidateEnd(w, g);
    expect(s).toEqual({ seq: 3, inProgress: 1, rangeStart: 5, rangeEnd: 40 });
    invalidateEnd(w, g);
    expect(s).toEqual({ seq: 4, inProgress: 0, rangeStart: 0, rangeEnd: 0 });
    expect(g.faultIsStale(10, 4)).toBe(false);
    // The next invalidation starts a range of its own.
    invalidateMark(w, g, 100, 110);
    expect(s).toEqual({ seq: 4, inProgress: 1, rangeStart: 100, rangeEnd: 110 });
    const edges = w.transitions.get('nested-mmu')!;
    expect(edges.get('idle->invalidating')).toBe(5);
    expect(edges.get('invalidating->idle')).toBe(4);
  });

  test('begin zaps every EPT leaf over its range, a huge one whole, and none outside it', () => {
    const w = world();
    const g = w.guests[0]!;
    const ept = g.ept;
    for (const gfn of [4, 5, 6, 600, 1536]) expect(ept.mapLeaf(w, gfn, 9000 + gfn, 1)).toBe(true);
    expect(ept.mapLeaf(w, 1024, 8192, 2)).toBe(true);
    invalidateBegin(w, g, 5, 1536);
    expect(g.invalidation).toMatchObject({ inProgress: 1, rangeStart: 5, rangeEnd: 1536 });
    expect(ept.leaves(w).map((l) => l.gfn)).toEqual([4, 1536]);
    invalidateEnd(w, g);
  });

  test('the walk over the range steps past a huge leaf and never back before it', () => {
    const w = world();
    const g = w.guests[0]!;
    const ept = g.ept;
    expect(ept.mapLeaf(w, 512, 9000, 1)).toBe(true);
    expect(ept.mapLeaf(w, 1024, 8192, 2)).toBe(true);
    expect(ept.mapLeaf(w, 1536, 9001, 1)).toBe(true);
    w.journal.changes = [];
    zapAndFlush(w, g, 1024, 1536);
    expect(ept.leaves(w).map((l) => l.gfn)).toEqual([512, 1536]);
    // One zap, noted once (a walk that revisits the range would note nothing more, but would
    // have zapped gfn 512 on the way).
    expect(w.journal.changes.filter((c) => c.includes('zap'))).toHaveLength(1);
    // A range inside a huge leaf zaps the whole leaf.
    expect(ept.mapLeaf(w, 1024, 8192, 2)).toBe(true);
    zapAndFlush(w, g, 1024 + 10, 1024 + 11);
    expect(ept.leaves(w).map((l) => l.gfn)).toEqual([512, 1536]);
  });

  test('the flush drops the TLB entries of the guest\'s EPT root, and only those, even when nothing was mapped', () => {
    const w = world();
    const g = w.guests[0]!;
    const mine = tlbEntry(g.ept.root, 3);
    const other = tlbEntry(g.ept.root + 1, 4);
    w.tlb.insert(mine);
    w.tlb.insert(other);
    const flushes = w.tlb.stats.inveptSingle;
    zapAndFlush(w, g, 0, 16);
    expect(w.tlb.stats.inveptSingle).toBe(flushes + 1);
    expect(w.tlb.lookup(1, 1, g.ept.root, 3)).toBeUndefined();
    expect(w.tlb.lookup(1, 1, g.ept.root + 1, 4)).toBe(other);
    w.tlb.insert(mine);
    invalidateBegin(w, g, 0, 1);
    expect(w.tlb.lookup(1, 1, g.ept.root, 3)).toBeUndefined();
    invalidateEnd(w, g);
  });
});
