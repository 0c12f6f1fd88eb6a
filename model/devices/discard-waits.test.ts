/**
 * What a host discard waits for before it drops anything, beyond discard.test.ts:
 * - discardHostPage (virtio-balloon and free page hinting call it for one gfn) waits for the
 *   host's reclaim and migrations of its whole 2 MiB unit, not only of its own gfn: a huge host
 *   page there would go whole (ram_block_discard_range is called on the host page).
 * - discardRange waits for a reclaim that starts at the first gfn of the range's unit.
 * - Only this guest's host migrations: another VM's migration at the same gfn is its own.
 * - A KSM-merged gfn loses only this sharer's mapping (ksmDropSharer); the KSM page stays with
 *   the other sharers (break_ksm / the rmap_item of one mm, mm/ksm.c).
 */
import { Runner } from '../../fuzz/run';
import { machine } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { compactionState } from '../compaction/state';
import { nodeOfGfn } from '../ksm/ksm';
import { peekLeaf } from '../mmu/peek';
import { peekGuestPhysical } from '../mmu/peek';
import { discardHostPage, discardRange } from './discard';

function runner(guests = 1, options: Record<string, boolean> = {}) {
  const r = new Runner(machine(options, [], guests), { check: 'incremental' });
  for (let guest = 0; guest < guests; guest++) r.apply({ kind: 'guest.spawn', args: { guest } });
  return { r, g: r.world.guests[0]! };
}

/** A written kernel allocation of 2^order pages of `guest`; its first gfn. */
function kernelPages(r: Runner, order: number, guest = 0): number {
  const g = r.world.guests[guest]!;
  const before = new Set(g.kernelAllocs.keys());
  r.apply({ kind: 'guest.kalloc', args: { guest, order, mt: 'MOVABLE' } });
  const id = [...g.kernelAllocs.keys()].find((k) => !before.has(k))!;
  r.apply({ kind: 'guest.kwrite', args: { guest, alloc: id } });
  return g.kernelAllocs.get(id)!.gfn;
}

function beginHost(r: Runner, gfn: number, guest = 0): number {
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest, gfn } });
  return [...compactionState(r.world).active.values()].find((m) => m.side === 'host' && m.guest === guest && m.gfn === gfn)!.id;
}

test("discardHostPage of one 4 KiB gfn waits for the host migrations of its whole 2 MiB unit, up to the unit's last gfn, and not the next unit's", () => {
  const { r, g } = runner();
  // Two 2 MiB units of kernel pages (an order-10 block); the discarded gfn is in the first.
  const base = kernelPages(r, 10);
  const sameUnitLast = beginHost(r, base + FRAMES_PER_2M - 1);
  const sameUnitFirst = beginHost(r, base);
  const nextUnit = beginHost(r, base + FRAMES_PER_2M);
  const state = compactionState(r.world);
  expect(discardHostPage(r.world, g, base + 7, 'virtio-balloon')).toBe(1);
  for (const id of [sameUnitLast, sameUnitFirst]) expect(state.finished.get(id)?.stage).toBe('done');
  expect(state.active.get(nextUnit)?.stage).toBe('locked');
  expect(g.backing.has(base + 7)).toBe(false);
  expect(g.backing.has(base + FRAMES_PER_2M - 1)).toBe(true);
  expect(r.violation).toBeNull();
});

test('discardHostPage of one 4 KiB gfn ends a host reclaim anywhere in its 2 MiB unit, and not one in the unit before', () => {
  const { r, g } = runner();
  const base = kernelPages(r, 10) + FRAMES_PER_2M;
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn: base - 1 } });
  expect(g.pendingReclaim).toMatchObject({ gfn: base - 1 });
  discardHostPage(r.world, g, base + 3, 'free-page-hinting');
  expect(g.pendingReclaim).toMatchObject({ gfn: base - 1 });
  r.apply({ kind: 'host.reclaim.end', args: { guest: 0 } });
  expect(g.pendingReclaim).toBeNull();
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn: base + FRAMES_PER_2M - 1 } });
  expect(g.pendingReclaim).toMatchObject({ gfn: base + FRAMES_PER_2M - 1 });
  discardHostPage(r.world, g, base + 3, 'free-page-hinting');
  expect(g.pendingReclaim).toBeNull();
  // The reclaimed page itself was not discarded: it is swapped out, its contents kept.
  expect(g.hostSwap.has(base + FRAMES_PER_2M - 1)).toBe(true);
  expect(r.violation).toBeNull();
});

test("discardRange ends a host reclaim of its unit's first gfn when the range starts later in the unit", () => {
  const { r, g } = runner();
  const base = kernelPages(r, 10) + FRAMES_PER_2M;
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn: base } });
  expect(g.pendingReclaim).toMatchObject({ gfn: base, frames: 1 });
  expect(discardRange(r.world, g, base + 5, 1, 'memctl')).toBe(1);
  expect(g.pendingReclaim).toBeNull();
  expect(g.hostSwap.has(base)).toBe(true);
  expect(r.violation).toBeNull();
});

test("a discard waits only for its own guest's host migrations: another VM's migration at the same gfn stays in flight", () => {
  const { r, g } = runner(2);
  const gfn0 = kernelPages(r, 0, 0);
  const gfn1 = kernelPages(r, 0, 1);
  expect(gfn1).toBe(gfn0);
  const other = beginHost(r, gfn1, 1);
  const own = beginHost(r, gfn0, 0);
  const state = compactionState(r.world);
  discardRange(r.world, g, gfn0, 1, 'memctl');
  expect(state.finished.get(own)?.stage).toBe('done');
  expect(state.active.get(other)?.stage).toBe('locked');
  expect(r.world.guests[1]!.backing.has(gfn1)).toBe(true);
  expect(r.violation).toBeNull();
});

test('a discard of a KSM-merged gfn drops only this sharer: the KSM page stays, owned by KSM, and the other guest still reads its data', () => {
  const { r, g } = runner(2, { 'ksm.cross-guest': true });
  const VPN = 3000;
  for (const guest of [0, 1]) {
    r.apply({ kind: 'guest.mmap', args: { guest, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false } });
    r.apply({ kind: 'ksm.fill', args: { guest, pid: 1, vpn: VPN, pattern: 0 } });
    r.apply({ kind: 'ksm.madvise', args: { guest, gfn: 0, pages: 2 ** 12, mergeable: true } });
  }
  r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
  const [g0, g1] = r.world.guests;
  const gfnOf = (x: typeof g) => peekLeaf(r.world, x, x.processes.get(1)!, VPN)!.gfn;
  const n = nodeOfGfn(r.world, g0!, gfnOf(g0!))!;
  expect(n).toBeDefined();
  expect(nodeOfGfn(r.world, g1!, gfnOf(g1!))).toBe(n);
  const other = peekGuestPhysical(r.world, g1!, gfnOf(g1!));
  expect(discardHostPage(r.world, g, gfnOf(g0!), 'virtio-balloon')).toBe(1);
  expect(g0!.backing.has(gfnOf(g0!))).toBe(false);
  expect(nodeOfGfn(r.world, g0!, gfnOf(g0!))).toBeUndefined();
  expect(nodeOfGfn(r.world, g1!, gfnOf(g1!))).toBe(n);
  expect(r.world.frames.owner(n.hfn)).toEqual({ kind: 'ksm', node: n.id });
  expect(g1!.backing.get(gfnOf(g1!))).toBe(n.hfn);
  expect(peekGuestPhysical(r.world, g1!, gfnOf(g1!))).toEqual(other);
  expect(other.kind).not.toBe('zero');
});
