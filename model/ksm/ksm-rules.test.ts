/**
 * The rules of model/ksm/ksm.ts one at a time, each with both sides of its boundary:
 * - MADV_MERGEABLE / MADV_UNMERGEABLE bookkeeping (ksm_madvise): the exact ranges after
 *   splitting and merging, empty ranges refused, unmerging only this guest's pages of the range;
 * - why a page is not merged (a host migration holds it, a host reclaim is writing it out), the
 *   gfn just inside and just outside;
 * - ksmd's pass: joining an existing stable node, the unstable tree keyed per guest when
 *   cross-guest merging is off, a remembered page re-checked before it is merged with;
 * - copy-on-write: its counts and observation ids, the kept-observations bound, unmerge is not
 *   a write; the invalidated gfn exactly;
 * - dropping a sharer and VM teardown: only this guest's sharers, the others stay mapped;
 * - the journal marks of a madvise and of a merge.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { Runner } from '../../fuzz/run';
import { EPT_WRITE } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { invalidateEnd, invalidateMark } from '../mmu/notifier';
import { destroyGuest } from '../teardown';
import type { World } from '../world';
import { ksmDropSharer, ksmSetMergeable, OBSERVATIONS_KEPT_MAX, ksmState, nodeOfGfn, sharerKey, sharerOf, FAULT_COW_WRITES_SHARED, FAULT_MERGE_LEAVES_WRITABLE } from './ksm';

const VPN = 3000;
const GUEST_FRAMES = 4096;

/** Spawn `guest` (pid 1) with `pages` writable pages at VPN, page i filled with patterns[i]. */
function pages(st: Stepper, guest: number, patterns: readonly number[]): number[] {
  expect(st.apply('guest.spawn', { guest }).ok).toBe(true);
  expect(st.apply('guest.mmap', { guest, pid: 1, vpn: VPN, pages: patterns.length, write: true, exec: false, huge: false }).ok).toBe(true);
  for (const [i, pattern] of patterns.entries()) expect(st.apply('ksm.fill', { guest, pid: 1, vpn: VPN + i, pattern }).ok).toBe(true);
  return patterns.map((_, i) => gfnAt(st.world, guest, VPN + i));
}

function gfnAt(w: World, guest: number, vpn: number): number {
  const g = w.guests[guest]!;
  return peekLeaf(w, g, g.processes.get(1)!, vpn)!.gfn;
}

function optIn(st: Stepper, guest: number): void {
  expect(st.apply('ksm.madvise', { guest, gfn: 0, pages: GUEST_FRAMES, mergeable: true })).toEqual({ ok: true });
}

function merged(w: World, guest: number, gfn: number): boolean {
  return nodeOfGfn(w, w.guests[guest]!, gfn) !== undefined;
}

function eptLeaf(w: World, guest: number, gfn: number): { present: boolean; writable: boolean } {
  const l = w.guests[guest]!.ept.lookup(w, gfn);
  return l.kind === 'leaf' ? { present: true, writable: (l.entry.flags & EPT_WRITE) !== 0 } : { present: false, writable: false };
}

describe('MADV_MERGEABLE / MADV_UNMERGEABLE ranges', () => {
  const ranges = (st: Stepper, guest = 0) => ksmState(st.world).mergeable.get(guest) ?? [];
  const madvise = (st: Stepper, gfn: number, n: number, mergeable: boolean) => st.apply('ksm.madvise', { guest: 0, gfn, pages: n, mergeable });

  test('an empty or negative range is refused and changes nothing; one gfn at either end of guest RAM is a range', () => {
    const st = stepper(machine({}));
    const g = st.world.guests[0]!;
    expect(ksmSetMergeable(st.world, g, 5, 5, true)).toMatchObject({ ok: false, error: 'out-of-range' });
    expect(ksmSetMergeable(st.world, g, -1, 3, true)).toMatchObject({ ok: false, error: 'out-of-range' });
    expect(madvise(st, GUEST_FRAMES, 1, true)).toEqual({ ok: false, error: 'out-of-range' });
    expect(ranges(st)).toEqual([]);
    expect(ksmSetMergeable(st.world, g, 0, 1, true)).toEqual({ ok: true });
    expect(madvise(st, GUEST_FRAMES - 1, 8, true)).toEqual({ ok: true });
    expect(ranges(st)).toEqual([[0, 1], [GUEST_FRAMES - 1, GUEST_FRAMES]]);
  });

  test('opting out cuts exactly [start, end) out of the ranges: inside, over either end, adjacent, disjoint', () => {
    const st = stepper(machine({}));
    expect(madvise(st, 10, 10, true).ok).toBe(true);
    expect(ranges(st)).toEqual([[10, 20]]);
    // Disjoint and adjacent below and above: nothing changes (and nothing grows toward them).
    for (const [gfn, n] of [[0, 5], [5, 5], [20, 5], [30, 5]] as const) {
      expect(madvise(st, gfn, n, false).ok).toBe(true);
      expect(ranges(st)).toEqual([[10, 20]]);
    }
    // Strictly inside: split in two.
    expect(madvise(st, 12, 3, false).ok).toBe(true);
    expect(ranges(st)).toEqual([[10, 12], [15, 20]]);
    // From the very start, to the very end.
    expect(madvise(st, 10, 1, false).ok).toBe(true);
    expect(ranges(st)).toEqual([[11, 12], [15, 20]]);
    expect(madvise(st, 19, 1, false).ok).toBe(true);
    expect(ranges(st)).toEqual([[11, 12], [15, 19]]);
    // Over the lower end, over the upper end.
    expect(madvise(st, 14, 3, false).ok).toBe(true);
    expect(ranges(st)).toEqual([[11, 12], [17, 19]]);
    expect(madvise(st, 18, 5, false).ok).toBe(true);
    expect(ranges(st)).toEqual([[11, 12], [17, 18]]);
    // Covering everything.
    expect(madvise(st, 0, 100, false).ok).toBe(true);
    expect(ranges(st)).toEqual([]);
  });

  test('opting in keeps the ranges sorted and disjoint: a lower range after a higher one, adjacent and overlapping ranges coalesce', () => {
    const st = stepper(machine({}));
    expect(madvise(st, 30, 10, true).ok).toBe(true);
    expect(madvise(st, 10, 5, true).ok).toBe(true);
    expect(ranges(st)).toEqual([[10, 15], [30, 40]]);
    expect(madvise(st, 0, 2, true).ok).toBe(true);
    expect(ranges(st)).toEqual([[0, 2], [10, 15], [30, 40]]);
    // Adjacent above and below: one range.
    expect(madvise(st, 15, 3, true).ok).toBe(true);
    expect(madvise(st, 8, 2, true).ok).toBe(true);
    expect(ranges(st)).toEqual([[0, 2], [8, 18], [30, 40]]);
    // Overlapping and reaching past the end of a range: extended to the farther end.
    expect(madvise(st, 35, 10, true).ok).toBe(true);
    expect(ranges(st)).toEqual([[0, 2], [8, 18], [30, 45]]);
    // Bridging two ranges.
    expect(madvise(st, 17, 14, true).ok).toBe(true);
    expect(ranges(st)).toEqual([[0, 2], [8, 45]]);
    // One gap of one gfn stays a gap.
    expect(madvise(st, 3, 5, true).ok).toBe(true);
    expect(ranges(st)).toEqual([[0, 2], [3, 45]]);
  });

  test('opting out unmerges exactly this guest\'s merged pages inside [start, end); the gfn before and the gfn at end stay merged, as does the other guest', () => {
    const st = stepper(machine({}, [], 2));
    const [a, b, c] = pages(st, 0, [0, 0, 0]) as [number, number, number];
    // Guest 1's page sits at another gfn than guest 0's middle one.
    const g1 = pages(st, 1, [1, 1, 1, 0])[3]!;
    expect(new Set([a, b, c]).has(g1)).toBe(false);
    optIn(st, 0);
    optIn(st, 1);
    expect(st.apply('ksm.scan', { pages: 4096 }).ok).toBe(true);
    for (const gfn of [a, b, c]) expect(merged(st.world, 0, gfn)).toBe(true);
    expect(merged(st.world, 1, g1)).toBe(true);
    // Opting in again changes nothing merged.
    optIn(st, 0);
    for (const gfn of [a, b, c]) expect(merged(st.world, 0, gfn)).toBe(true);
    const [lo, mid, hi] = [a, b, c].sort((x, y) => x - y) as [number, number, number];
    expect(st.apply('ksm.madvise', { guest: 0, gfn: mid, pages: 1, mergeable: false })).toEqual({ ok: true });
    expect([merged(st.world, 0, lo), merged(st.world, 0, mid), merged(st.world, 0, hi), merged(st.world, 1, g1)]).toEqual([true, false, true, true]);
    // The whole of guest 0 (guest 1's gfn included in the range): only guest 0's pages.
    expect(st.apply('ksm.madvise', { guest: 0, gfn: 0, pages: GUEST_FRAMES, mergeable: false })).toEqual({ ok: true });
    expect([merged(st.world, 0, lo), merged(st.world, 0, hi), merged(st.world, 1, g1)]).toEqual([false, false, true]);
    expect(st.r.violation).toBeNull();
  });

  test('a madvise marks the stable nodes this guest shares (ksm:node), not the nodes only other guests share', () => {
    let marks = new Set<number>();
    const r: Runner = new Runner(machine({}, [], 2), { check: 'incremental', onStep: () => (marks = new Set(r.world.journal.marks.get('ksm:node') ?? [])) });
    const st = { apply: (kind: string, args: Record<string, number | boolean>) => (r.apply({ kind, args }), { ok: r.outcomes[r.outcomes.length - 1]! }), world: r.world } as unknown as Stepper;
    const [g0] = pages(st, 0, [0]) as [number];
    const [g1a, g1b, g1c] = pages(st, 1, [0, 1, 1]) as [number, number, number];
    optIn(st, 0);
    optIn(st, 1);
    st.apply('ksm.scan', { pages: 4096 });
    const shared = nodeOfGfn(r.world, r.world.guests[0]!, g0)!;
    const own1 = nodeOfGfn(r.world, r.world.guests[1]!, g1b)!;
    expect(nodeOfGfn(r.world, r.world.guests[1]!, g1a)).toBe(shared);
    expect(nodeOfGfn(r.world, r.world.guests[1]!, g1c)).toBe(own1);
    expect(shared).not.toBe(own1);
    st.apply('ksm.madvise', { guest: 0, gfn: 0, pages: GUEST_FRAMES, mergeable: true });
    expect(marks.has(shared.id)).toBe(true);
    expect(marks.has(own1.id)).toBe(false);
  });
});

describe('what ksmd leaves alone', () => {
  /** Guest 0 with `n` pages of pattern 0; a gfn g among them with g - 1 and g + 1 among them too. */
  function middle(st: Stepper, n: number): number {
    const gfns = new Set(pages(st, 0, Array.from({ length: n }, () => 0)));
    const g = [...gfns].find((x) => gfns.has(x - 1) && gfns.has(x + 1));
    expect(g).toBeDefined();
    return g!;
  }

  test('a page under host reclaim is not merged; the gfns just below and just above it are', () => {
    const st = stepper(machine({}));
    const g = middle(st, 8);
    expect(st.world.guests[0]!.pendingReclaim).toBeNull();
    expect(st.apply('host.reclaim.begin', { guest: 0, gfn: g })).toEqual({ ok: true });
    expect(st.world.guests[0]!.pendingReclaim).toMatchObject({ gfn: g, frames: 1 });
    optIn(st, 0);
    expect(st.apply('ksm.scan', { pages: 4096 }).ok).toBe(true);
    expect([merged(st.world, 0, g - 1), merged(st.world, 0, g), merged(st.world, 0, g + 1)]).toEqual([true, false, true]);
    expect(st.world.guests[0]!.backing.has(g)).toBe(true);
    expect(st.r.violation).toBeNull();
  });

  test('a page a host migration has locked is not merged; its neighbours are', () => {
    const st = stepper(machine({}));
    const g = middle(st, 8);
    expect(st.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: g }).ok).toBe(true);
    optIn(st, 0);
    expect(st.apply('ksm.scan', { pages: 4096 }).ok).toBe(true);
    expect([merged(st.world, 0, g - 1), merged(st.world, 0, g), merged(st.world, 0, g + 1)]).toEqual([true, false, true]);
    expect(st.r.violation).toBeNull();
  });
});

describe("ksmd's pass", () => {
  test('without the ksm.cross-guest option, pages of two guests merge (cross-guest merging is on by default)', () => {
    const st = stepper(machine({}, [], 2));
    const [a] = pages(st, 0, [0]) as [number];
    const [b] = pages(st, 1, [0]) as [number];
    optIn(st, 0);
    optIn(st, 1);
    expect(st.apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: 2 });
    expect(nodeOfGfn(st.world, st.world.guests[0]!, a)).toBe(nodeOfGfn(st.world, st.world.guests[1]!, b));
    expect(merged(st.world, 0, a)).toBe(true);
  });

  test('written data merges like any identical contents: a guest migration leaves its source page and the copy equal, and ksmd merges them', () => {
    const st = stepper(machine({}));
    expect(st.apply('guest.spawn', { guest: 0 }).ok).toBe(true);
    expect(st.apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false }).ok).toBe(true);
    expect(st.apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
    const src = gfnAt(st.world, 0, VPN);
    expect(st.world.frames.read(st.world.guests[0]!.backing.get(src)!).kind).toBe('data');
    // The guest migrates the page: the copy is mapped, the source is free in the guest but the
    // host still backs it with the same bytes.
    expect(st.apply('compaction.migrate.begin', { side: 'guest', guest: 0, gfn: src }).ok).toBe(true);
    for (let i = 0; i < 8 && gfnAt(st.world, 0, VPN) === src; i++) expect(st.apply('compaction.migrate.step', { id: 1 }).ok).toBe(true);
    const dst = gfnAt(st.world, 0, VPN);
    expect(dst).not.toBe(src);
    for (const gfn of [src, dst]) expect(st.apply('ksm.madvise', { guest: 0, gfn, pages: 1, mergeable: true }).ok).toBe(true);
    expect(st.apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: 2 });
    expect(nodeOfGfn(st.world, st.world.guests[0]!, src)).toBe(nodeOfGfn(st.world, st.world.guests[0]!, dst));
    expect(nodeOfGfn(st.world, st.world.guests[0]!, dst)!.content.kind).toBe('data');
    expect(st.apply('guest.read', { guest: 0, pid: 1, vpn: VPN })).toEqual({ ok: true });
    expect(st.r.violation).toBeNull();
  });

  test('stable nodes get increasing ids and a KSM page\'s owner record names ksm / stable node', () => {
    const st = stepper(machine({}));
    pages(st, 0, [0, 0, 1, 1]);
    optIn(st, 0);
    expect(st.apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: 4 });
    const nodes = [...ksmState(st.world).nodes.values()];
    expect(nodes.map((n) => n.id)).toEqual([1, 2]);
    for (const n of nodes) expect(st.world.frames.record(n.hfn)?.alloc).toMatchObject({ site: 'ksm', reason: 'stable node' });
  });

  test.each([true, false])('a later page equal to a stable node joins it, within the guest (cross-guest %s) and, when allowed, from the other guest; it does not enter the unstable tree', (cross) => {
    const st = stepper(machine({ 'ksm.cross-guest': cross }, [], 2));
    const [a, b] = pages(st, 0, [0, 0, 2]) as [number, number];
    const [c] = pages(st, 1, [0, 3]) as [number];
    const s = ksmState(st.world);
    optIn(st, 0);
    expect(st.apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: 2 });
    const n = nodeOfGfn(st.world, st.world.guests[0]!, a)!;
    expect(n.sharers.size).toBe(2);
    // A third page of guest 0 with the same contents joins the node in the next pass.
    expect(st.apply('ksm.fill', { guest: 0, pid: 1, vpn: VPN + 2, pattern: 0 }).ok).toBe(true);
    const a3 = gfnAt(st.world, 0, VPN + 2);
    expect(st.apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: 1 });
    expect(nodeOfGfn(st.world, st.world.guests[0]!, a3)).toBe(n);
    expect([...n.sharers].sort()).toEqual([sharerKey(0, a), sharerKey(0, b), sharerKey(0, a3)].sort());
    // That scan was one whole pass (it began at the end of the last): the page that joined is
    // not remembered by the unstable tree (cmp_and_merge_page returns after a stable merge).
    for (const key of s.unstable.values()) {
      const x = sharerOf(key);
      expect(merged(st.world, x.guest, x.gfn)).toBe(false);
    }
    // Guest 1 opts in: its equal page joins the node only across guests.
    optIn(st, 1);
    expect(st.apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: cross ? 1 : 0 });
    expect(merged(st.world, 1, c)).toBe(cross);
    expect(s.nodes.size).toBe(1);
    expect(n.sharers.size).toBe(cross ? 4 : 3);
    expect(st.r.violation).toBeNull();
  });

  test('with cross-guest merging off, the unstable tree is per guest but still per contents: A, B, A in one guest merge the two As', () => {
    const st = stepper(machine({ 'ksm.cross-guest': false }));
    const [lo, mid, hi] = pages(st, 0, [0, 0, 0]).sort((x, y) => x - y) as [number, number, number];
    // Rewrite the page at the middle gfn with other contents.
    const vpnOf = (gfn: number) => [0, 1, 2].map((i) => VPN + i).find((v) => gfnAt(st.world, 0, v) === gfn)!;
    expect(st.apply('ksm.fill', { guest: 0, pid: 1, vpn: vpnOf(mid), pattern: 1 }).ok).toBe(true);
    for (const gfn of [lo, mid, hi]) expect(st.apply('ksm.madvise', { guest: 0, gfn, pages: 1, mergeable: true }).ok).toBe(true);
    expect(st.apply('ksm.scan', { pages: 3 })).toEqual({ ok: true, value: 2 });
    expect([merged(st.world, 0, lo), merged(st.world, 0, mid), merged(st.world, 0, hi)]).toEqual([true, false, true]);
  });

  test('a page the unstable tree remembers is merged with only if it still has the same contents', () => {
    const st = stepper(machine({}));
    const [x, y] = pages(st, 0, [0, 0]) as [number, number];
    const first = x < y ? 0 : 1;
    for (const gfn of [x, y]) expect(st.apply('ksm.madvise', { guest: 0, gfn, pages: 1, mergeable: true }).ok).toBe(true);
    expect(st.apply('ksm.scan', { pages: 1 })).toEqual({ ok: true, value: 0 });
    expect(ksmState(st.world).unstable.size).toBe(1);
    // The remembered page is rewritten: the second page must not merge with it.
    expect(st.apply('ksm.fill', { guest: 0, pid: 1, vpn: VPN + first, pattern: 1 }).ok).toBe(true);
    expect(st.apply('ksm.scan', { pages: 1 })).toEqual({ ok: true, value: 0 });
    expect(ksmState(st.world).nodes.size).toBe(0);
    // Control: the same steps without the rewrite merge.
    const ctl = stepper(machine({}));
    const [cx, cy] = pages(ctl, 0, [0, 0]) as [number, number];
    for (const gfn of [cx, cy]) expect(ctl.apply('ksm.madvise', { guest: 0, gfn, pages: 1, mergeable: true }).ok).toBe(true);
    expect(ctl.apply('ksm.scan', { pages: 1 })).toEqual({ ok: true, value: 0 });
    expect(ctl.apply('ksm.scan', { pages: 1 })).toEqual({ ok: true, value: 2 });
  });

  test('a page met twice in one pass (the candidate list grew before it) does not merge with itself', () => {
    const st = stepper(machine({}, [], 2));
    const [c] = pages(st, 0, [1]) as [number];
    const [a] = pages(st, 1, [0]) as [number];
    expect(st.apply('ksm.madvise', { guest: 1, gfn: a, pages: 1, mergeable: true }).ok).toBe(true);
    expect(st.apply('ksm.scan', { pages: 1 })).toEqual({ ok: true, value: 0 });
    expect([...ksmState(st.world).unstable.values()]).toEqual([sharerKey(1, a)]);
    // Guest 0's page now comes first in the pass: the cursor lands on guest 1's page again.
    expect(st.apply('ksm.madvise', { guest: 0, gfn: c, pages: 1, mergeable: true }).ok).toBe(true);
    expect(st.apply('ksm.scan', { pages: 1 })).toEqual({ ok: true, value: 0 });
    expect(ksmState(st.world).nodes.size).toBe(0);
    expect(merged(st.world, 1, a)).toBe(false);
    expect(st.r.violation).toBeNull();
  });

  test('a merge marks its stable node (ksm:node) and journals the KSM page', () => {
    let marks = new Set<number>();
    let frames = new Set<number>();
    const r: Runner = new Runner(machine({}), {
      check: 'incremental',
      onStep: () => {
        marks = new Set(r.world.journal.marks.get('ksm:node') ?? []);
        frames = new Set(r.world.journal.frames);
      },
    });
    r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 3, write: true, exec: false, huge: false } });
    for (const i of [0, 1]) r.apply({ kind: 'ksm.fill', args: { guest: 0, pid: 1, vpn: VPN + i, pattern: 0 } });
    r.apply({ kind: 'ksm.madvise', args: { guest: 0, gfn: 0, pages: GUEST_FRAMES, mergeable: true } });
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    const n = nodeOfGfn(r.world, r.world.guests[0]!, gfnAt(r.world, 0, VPN))!;
    expect(marks).toEqual(new Set([n.id]));
    expect(frames.has(n.hfn)).toBe(true);
    // A third equal page joins: the node is marked again.
    r.apply({ kind: 'ksm.fill', args: { guest: 0, pid: 1, vpn: VPN + 2, pattern: 0 } });
    expect(marks.size).toBe(0);
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    expect(n.sharers.size).toBe(3);
    expect(marks).toEqual(new Set([n.id]));
    expect(r.violation).toBeNull();
  });

  test('ksm-merge-leaves-writable leaves both the page that became the KSM page and the page that joined it writable', () => {
    const st = stepper(machine({}, [FAULT_MERGE_LEAVES_WRITABLE]));
    const [a, b] = pages(st, 0, [0, 0]) as [number, number];
    optIn(st, 0);
    st.apply('ksm.scan', { pages: 4096 });
    expect(nodeOfGfn(st.world, st.world.guests[0]!, a)).toBeDefined();
    expect([eptLeaf(st.world, 0, a), eptLeaf(st.world, 0, b)]).toEqual([{ present: true, writable: true }, { present: true, writable: true }]);
  });
});

describe('copy-on-write', () => {
  /** Guest 0 pages VPN.. all pattern 0, guest 1 one page pattern 0, all merged into one node. */
  function sharedNode(faults: string[], n: number): { st: Stepper; gfns: number[] } {
    const st = stepper(machine({}, faults, 2));
    const gfns = pages(st, 0, Array.from({ length: n }, () => 0));
    pages(st, 1, [0]);
    optIn(st, 0);
    optIn(st, 1);
    expect(st.apply('ksm.scan', { pages: 4096 }).ok).toBe(true);
    for (const gfn of gfns) expect(merged(st.world, 0, gfn)).toBe(true);
    return { st, gfns };
  }

  test('each write to a merged page counts one COW fault for the writer and one observation with the next id', () => {
    const { st } = sharedNode([], 2);
    const s = ksmState(st.world);
    expect(s.cowFaults.get(0)).toBeUndefined();
    expect(st.apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
    expect(s.cowFaults.get(0)).toBe(1);
    expect(st.apply('guest.write', { guest: 0, pid: 1, vpn: VPN + 1 }).ok).toBe(true);
    expect(s.cowFaults.get(0)).toBe(2);
    expect(s.cowFaults.get(1)).toBeUndefined();
    expect([...s.observations.values()].map((o) => [o.id, o.guest, o.otherGuests])).toEqual([[1, 0, [1]], [2, 0, [1]]]);
    expect(st.r.violation).toBeNull();
  });

  test('unmerging (MADV_UNMERGEABLE) copies but is not a write: no COW fault, no observation', () => {
    const { st, gfns } = sharedNode([], 1);
    expect(st.apply('ksm.madvise', { guest: 0, gfn: 0, pages: GUEST_FRAMES, mergeable: false })).toEqual({ ok: true });
    expect(merged(st.world, 0, gfns[0]!)).toBe(false);
    expect(ksmState(st.world).cowFaults.size).toBe(0);
    expect(ksmState(st.world).observations.size).toBe(0);
  });

  test('ksm-cow-writes-shared breaks writes only: unmerging still gives the guest a private copy', () => {
    const { st, gfns } = sharedNode([FAULT_COW_WRITES_SHARED], 1);
    expect(st.apply('ksm.madvise', { guest: 0, gfn: 0, pages: GUEST_FRAMES, mergeable: false })).toEqual({ ok: true });
    expect(merged(st.world, 0, gfns[0]!)).toBe(false);
    expect(st.world.frames.owner(st.world.guests[0]!.backing.get(gfns[0]!)!)).toEqual({ kind: 'guest-memory', guest: 0, gfn: gfns[0] });
  });

  test('a copy-on-write zaps the written gfn\'s EPT leaf only: the gfn below keeps its leaf', () => {
    const st = stepper(machine({}));
    const gfns = pages(st, 0, [0, 0, 0, 0]);
    const g = gfns.find((x) => gfns.includes(x - 1))!;
    expect(g).toBeDefined();
    optIn(st, 0);
    expect(st.apply('ksm.scan', { pages: 4096 }).ok).toBe(true);
    for (let i = 0; i < 4; i++) expect(st.apply('guest.read', { guest: 0, pid: 1, vpn: VPN + i }).ok).toBe(true);
    expect([eptLeaf(st.world, 0, g - 1).present, eptLeaf(st.world, 0, g).present]).toEqual([true, true]);
    const vpn = VPN + gfns.indexOf(g);
    const before = st.world.guests[0]!.backing.get(g);
    // breakCow directly (the write fault would map the copy right after): the leaf is gone.
    const r = st.world.guests[0]!.backingHooks.find((h) => h.writeFault)!.writeFault!(st.world, st.world.guests[0]!, g);
    expect(r).toBe(true);
    expect(st.world.guests[0]!.backing.get(g)).not.toBe(before);
    expect([eptLeaf(st.world, 0, g - 1).present, eptLeaf(st.world, 0, g).present]).toEqual([true, false]);
    expect(st.apply('guest.read', { guest: 0, pid: 1, vpn }).ok).toBe(true);
  });

  test('the side channel\'s record keeps the newest 256 observations: exactly 256 all kept, the 257th drops the oldest', () => {
    const KEPT = OBSERVATIONS_KEPT_MAX;
    expect(KEPT).toBe(256);
    const { st } = sharedNode([], KEPT + 1);
    const s = ksmState(st.world);
    for (let i = 0; i < KEPT; i++) st.apply('guest.write', { guest: 0, pid: 1, vpn: VPN + i });
    expect(s.observations.size).toBe(KEPT);
    expect([...s.observations.keys()][0]).toBe(1);
    st.apply('guest.write', { guest: 0, pid: 1, vpn: VPN + KEPT });
    expect(s.observations.size).toBe(KEPT);
    expect([...s.observations.keys()][0]).toBe(2);
    expect([...s.observations.keys()][KEPT - 1]).toBe(KEPT + 1);
    expect(s.cowFaults.get(0)).toBe(KEPT + 1);
    expect(st.r.violation).toBeNull();
  });
});

describe('dropping sharers', () => {
  test('ksmDropSharer zaps exactly the dropped gfn and says whether it was merged', () => {
    const st = stepper(machine({}));
    const gfns = pages(st, 0, [0, 0, 0]);
    const g = gfns.find((x) => gfns.includes(x - 1))!;
    expect(g).toBeDefined();
    optIn(st, 0);
    st.apply('ksm.scan', { pages: 4096 });
    for (let i = 0; i < 3; i++) st.apply('guest.read', { guest: 0, pid: 1, vpn: VPN + i });
    const w = st.world;
    const guest = w.guests[0]!;
    const n = nodeOfGfn(w, guest, g)!;
    // The caller holds the invalidation (its bookkeeping only); the zap is ksmDropSharer's.
    invalidateMark(w, guest, g, g + 1);
    expect([eptLeaf(w, 0, g - 1).present, eptLeaf(w, 0, g).present]).toEqual([true, true]);
    expect(ksmDropSharer(w, guest, g)).toBe(true);
    invalidateEnd(w, guest);
    expect(guest.backing.has(g)).toBe(false);
    expect(n.sharers.has(sharerKey(0, g))).toBe(false);
    expect([eptLeaf(w, 0, g - 1).present, eptLeaf(w, 0, g).present]).toEqual([true, false]);
    // Not merged (any more): nothing to drop.
    expect(ksmDropSharer(w, guest, g)).toBe(false);
  });

  test('VM teardown drops only the dying guest\'s sharers: the other guest keeps the KSM page mapped and reads it', () => {
    const st = stepper(machine({}, [], 2));
    // Guest 0's shared page at another gfn than guest 1's.
    const [, a] = pages(st, 0, [1, 0]) as [number, number];
    const [b] = pages(st, 1, [0]) as [number];
    expect(a).not.toBe(b);
    optIn(st, 0);
    optIn(st, 1);
    st.apply('ksm.scan', { pages: 4096 });
    const w = st.world;
    const n = nodeOfGfn(w, w.guests[1]!, b)!;
    expect(nodeOfGfn(w, w.guests[0]!, a)).toBe(n);
    destroyGuest(w, w.guests[0]!);
    expect([...n.sharers]).toEqual([sharerKey(1, b)]);
    expect(ksmState(w).nodes.get(n.id)).toBe(n);
    expect(w.frames.owner(n.hfn)).toEqual({ kind: 'ksm', node: n.id });
    expect(w.guests[1]!.backing.get(b)).toBe(n.hfn);
    expect(ksmState(w).mergeable.has(0)).toBe(false);
    expect(ksmState(w).mergeable.has(1)).toBe(true);
    expect(st.apply('guest.read', { guest: 1, pid: 1, vpn: VPN })).toEqual({ ok: true });
  });
});
