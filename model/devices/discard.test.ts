/**
 * The host's discard of guest memory (ram_block_discard_range, on behalf of the balloons, free
 * page reporting and memctl), called directly: what goes, what stays, what is logged, and the
 * waits it makes first.
 * - A 4 KiB-backed gfn: the frame goes back to the host, logged with the guest's owner; a gfn
 *   with no backing is only logged.
 * - A 2 MiB host page: discarded whole from any gfn inside it (discardHostPage), or by a range
 *   only when the range covers it whole (discardRange).
 * - A host migration in flight inside the range is run to its end first (zap_pte_range waits on
 *   the migration entry); one outside the range, or a guest-side one, is left alone.
 */
import { Runner } from '../../fuzz/run';
import { machine } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { compactionState } from '../compaction/state';
import { peekLeaf } from '../mmu/peek';
import { discardHostPage, discardLog, discardRange } from './discard';

const V = 1 << 20;

function runner(hugePages: boolean) {
  const r = new Runner(machine({}, [], 1, hugePages), { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  return { r, g: r.world.guests[0]! };
}

/** A kernel allocation of 2^order pages, written (so the host backs it); its first gfn. */
function kernelPages(r: Runner, order: number, id: number): number {
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order, mt: 'MOVABLE' } });
  r.apply({ kind: 'guest.kwrite', args: { guest: 0, alloc: id } });
  return r.world.guests[0]!.kernelAllocs.get(id)!.gfn;
}

test('a 4 KiB-backed gfn: its host frame is freed and the discard logged with the owner; an unbacked gfn is only logged', () => {
  const { r, g } = runner(false);
  const gfn = kernelPages(r, 0, 1);
  const hfn = g.backing.get(gfn)!;
  expect(r.world.frames.owner(hfn)).toBeDefined();
  const logged = discardLog(r.world).length;
  expect(discardHostPage(r.world, g, gfn, 'memctl')).toBe(1);
  expect(g.backing.has(gfn)).toBe(false);
  expect(r.world.frames.owner(hfn)).toBeUndefined();
  expect(discardLog(r.world).slice(logged)).toEqual([{ guest: 0, gfn, device: 'memctl', owner: { kind: 'kernel', alloc: 1 }, caller: 0, step: r.world.step }]);
  expect(discardHostPage(r.world, g, gfn, 'memctl', 3)).toBe(1);
  expect(discardLog(r.world).slice(logged + 1)).toEqual([{ guest: 0, gfn, device: 'memctl', owner: { kind: 'kernel', alloc: 1 }, caller: 3, step: r.world.step }]);
});

test('a 2 MiB host page is discarded whole from any gfn inside it: 512 gfns logged in order, the unit no longer huge, the head freed', () => {
  const { r, g } = runner(true);
  const base = kernelPages(r, 9, 1);
  const unit = base / FRAMES_PER_2M;
  expect(g.hugeBacked.has(unit)).toBe(true);
  const head = g.backing.get(base)!;
  const logged = discardLog(r.world).length;
  expect(discardHostPage(r.world, g, base + 100, 'virtio-balloon')).toBe(FRAMES_PER_2M);
  expect(g.hugeBacked.has(unit)).toBe(false);
  for (let i = 0; i < FRAMES_PER_2M; i++) expect(g.backing.has(base + i)).toBe(false);
  expect(r.world.frames.owner(head)).toBeUndefined();
  expect(discardLog(r.world).slice(logged).map((e) => e.gfn)).toEqual(Array.from({ length: FRAMES_PER_2M }, (_, i) => base + i));
});

test('a range takes a 2 MiB host page only when it covers it whole; an empty range takes nothing', () => {
  const { r, g } = runner(true);
  const base = kernelPages(r, 9, 1);
  const unit = base / FRAMES_PER_2M;
  const logged = discardLog(r.world).length;
  expect(discardRange(r.world, g, base, 0, 'free-page-reporting')).toBe(0);
  expect(discardRange(r.world, g, base + 1, FRAMES_PER_2M - 1, 'free-page-reporting')).toBe(0);
  expect(discardRange(r.world, g, base, FRAMES_PER_2M - 1, 'free-page-reporting')).toBe(0);
  expect(g.hugeBacked.has(unit)).toBe(true);
  expect(discardLog(r.world).length).toBe(logged);
  expect(discardRange(r.world, g, base, FRAMES_PER_2M, 'free-page-reporting')).toBe(FRAMES_PER_2M);
  expect(g.hugeBacked.has(unit)).toBe(false);
  expect(g.backing.has(base + FRAMES_PER_2M - 1)).toBe(false);
  expect(discardLog(r.world).slice(logged).map((e) => e.gfn)).toEqual(Array.from({ length: FRAMES_PER_2M }, (_, i) => base + i));
});

test('a range of 4 KiB-backed gfns is dropped frame by frame and counted', () => {
  const { r, g } = runner(false);
  const base = kernelPages(r, 2, 1);
  expect(discardRange(r.world, g, base + 1, 3, 'vmware-balloon')).toBe(3);
  expect([0, 1, 2, 3].map((i) => g.backing.has(base + i))).toEqual([true, false, false, false]);
});

test("a host migration in the range's 2 MiB unit is finished first; one in the unit before, one after the range, and a guest-side one are left in flight", () => {
  const { r, g } = runner(false);
  // Two 2 MiB units of kernel pages; the range is the first gfn of the second. The wait covers
  // the range's whole 2 MiB unit (a huge host page there would go whole), not the unit before.
  const base = kernelPages(r, 10, 1) + FRAMES_PER_2M;
  const begin = (side: 'host' | 'guest', gfn: number) => {
    r.apply({ kind: 'compaction.migrate.begin', args: { side, guest: 0, gfn } });
    return [...compactionState(r.world).active.values()].find((m) => m.side === side && m.gfn === gfn)!.id;
  };
  const inside = begin('host', base + 1);
  const after = begin('host', base + 2);
  const before = begin('host', base - 1);
  const sameUnit = begin('host', base);
  const state = compactionState(r.world);
  // An empty range waits for nothing, not even in its unit.
  expect(discardRange(r.world, g, base + 1, 0, 'memctl')).toBe(0);
  expect(state.active.has(sameUnit)).toBe(true);
  discardRange(r.world, g, base + 1, 1, 'memctl');
  for (const id of [inside, sameUnit]) {
    expect(state.active.has(id)).toBe(false);
    expect(state.finished.get(id)?.stage).toBe('done');
  }
  expect([after, before].map((id) => state.active.has(id))).toEqual([true, true]);
  expect(g.backing.has(base + 1)).toBe(false);
  expect(g.backing.has(base + 2)).toBe(true);
  // A single host page's discard waits within its own unit too.
  discardHostPage(r.world, g, base + 3, 'memctl');
  expect(state.active.has(before)).toBe(true);
  // A guest-side migration is the guest's own business: the host does not wait for it.
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: V, pages: 1, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: V } });
  const anon = peekLeaf(r.world, g, g.processes.get(1)!, V)!.gfn;
  const guestSide = begin('guest', anon);
  discardHostPage(r.world, g, anon, 'memctl');
  expect(state.active.has(guestSide)).toBe(true);
});

test('a host reclaim in flight over the range is ended first and its swapped copy dropped; one just before the range, or just after it, is left', () => {
  const { r, g } = runner(false);
  // The reclaim is of the last gfn of a 2 MiB unit (the wait covers the range's whole unit).
  const base = kernelPages(r, 10, 1) + FRAMES_PER_2M;
  const last = base - 1;
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn: last } });
  expect(g.pendingReclaim).toMatchObject({ gfn: last, frames: 1 });
  discardRange(r.world, g, base, 1, 'memctl');
  expect(g.pendingReclaim).toBeTruthy();
  discardRange(r.world, g, last - 2, 2, 'memctl');
  expect(g.pendingReclaim).toBeTruthy();
  discardRange(r.world, g, last, 1, 'memctl');
  expect(g.pendingReclaim).toBeNull();
  expect(g.backing.has(last)).toBe(false);
  expect(g.hostSwap.has(last)).toBe(false);
});
