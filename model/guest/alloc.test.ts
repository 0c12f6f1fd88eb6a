/**
 * The guest allocator's slow path (mm/page_alloc.c __alloc_pages_slowpath): when the buddy
 * fails, the pressure hooks run in order until one frees something, then the allocation is
 * retried, at most ALLOC_SLOWPATH_RETRIES_MAX times; a round where no hook frees anything ends
 * it. The allocation hooks (post_alloc_hook) see only a block actually handed out. allocZeroed
 * clears every subpage before anyone owns the block, and gives the whole block back when a clear
 * fails.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import type { World } from '../world';
import type { Guest } from './guest';
import { refuse } from '../result';
import { ALLOC_SLOWPATH_RETRIES_MAX, allocZeroed, guestAlloc } from './alloc';
import * as phys from './phys';

/** A guest whose buddy is empty, with no mechanism's hooks: the blocks taken, largest first. */
function drained(): { world: World; g: Guest; taken: { gfn: number; order: number }[]; allocated: [number, number][] } {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  g.pressureHooks.length = 0;
  g.allocHooks.length = 0;
  const taken: { gfn: number; order: number }[] = [];
  for (let order = 10; order >= 0; order--)
    for (let gfn = g.buddy.alloc(order, 'MOVABLE'); typeof gfn === 'number'; gfn = g.buddy.alloc(order, 'MOVABLE')) taken.push({ gfn, order });
  expect(g.buddy.freePages()).toBe(0);
  const allocated: [number, number][] = [];
  g.allocHooks.push((_w, _g, gfn, order) => void allocated.push([gfn, order]));
  return { world: s.world, g, taken, allocated };
}

test('the fast path: a free block is returned without the slow path, and the allocation hooks see it', () => {
  const { world, g, taken, allocated } = drained();
  const calls: number[] = [];
  g.pressureHooks.push(() => (calls.push(0), 0));
  const b = taken[taken.length - 1]!;
  g.buddy.free(b.gfn, b.order);
  expect(guestAlloc(world, g, b.order, 'MOVABLE')).toBe(b.gfn);
  expect(calls).toEqual([]);
  expect(allocated).toEqual([[b.gfn, b.order]]);
});

test('no hook frees anything: each runs once, in order, and the allocation fails with no allocation hook called', () => {
  const { world, g, allocated } = drained();
  const calls: string[] = [];
  g.pressureHooks.push(() => (calls.push('a'), 0));
  g.pressureHooks.push(() => (calls.push('b'), 0));
  const r = guestAlloc(world, g, 0, 'MOVABLE');
  expect(typeof r).toBe('object');
  expect(calls).toEqual(['a', 'b']);
  expect(allocated).toEqual([]);
});

test('a hook that reports progress but frees nothing usable: the first hook to free stops the round, retried ALLOC_SLOWPATH_RETRIES_MAX times, then failure', () => {
  const { world, g, allocated } = drained();
  const calls: string[] = [];
  g.pressureHooks.push(() => (calls.push('a'), 0));
  g.pressureHooks.push(() => (calls.push('b'), 1));
  g.pressureHooks.push(() => (calls.push('c'), 0));
  expect(typeof guestAlloc(world, g, 0, 'MOVABLE')).toBe('object');
  expect(calls).toEqual(Array.from({ length: ALLOC_SLOWPATH_RETRIES_MAX }, () => ['a', 'b']).flat());
  expect(calls.length).toBeGreaterThan(2);
  expect(allocated).toEqual([]);
});

test('a hook that frees a block on its second call: the second retry succeeds, and the allocation hooks see that block once', () => {
  const { world, g, taken, allocated } = drained();
  const b = taken[taken.length - 1]!;
  let calls = 0;
  g.pressureHooks.push(() => {
    calls++;
    if (calls < 2) return 1;
    g.buddy.free(b.gfn, b.order);
    return 1 << b.order;
  });
  expect(guestAlloc(world, g, b.order, 'MOVABLE')).toBe(b.gfn);
  expect(calls).toBe(2);
  expect(allocated).toEqual([[b.gfn, b.order]]);
});

describe('allocZeroed', () => {
  afterEach(() => jest.restoreAllMocks());

  function guest() {
    const s = stepper(machine({}));
    return { world: s.world, g: s.world.guests[0]! };
  }

  test('every subpage cleared, none owned: the caller records the owner', () => {
    const { world, g } = guest();
    const owners = g.owners.size;
    const cleared: number[] = [];
    const real = phys.physWrite;
    jest.spyOn(phys, 'physWrite').mockImplementation((w, gg, gfn, c) => (cleared.push(gfn), real(w, gg, gfn, c)));
    const gfn = allocZeroed(world, g, 2, 'MOVABLE', 'a test') as number;
    expect(typeof gfn).toBe('number');
    expect(cleared).toEqual([gfn, gfn + 1, gfn + 2, gfn + 3]);
    for (const x of cleared) expect(world.frames.read(g.backing.get(x)!)).toMatchObject({ kind: 'zero' });
    expect(g.buddy.allocatedAt(gfn)).toBeTruthy();
    expect(g.owners.size).toBe(owners);
  });

  test('a clear failing partway: the refusal comes back and the whole block is free again', () => {
    const { world, g } = guest();
    const free = g.buddy.freePages();
    const real = phys.physWrite;
    let calls = 0;
    jest.spyOn(phys, 'physWrite').mockImplementation((w, gg, gfn, c) => (++calls === 3 ? refuse('host-oom', 'no frame') : real(w, gg, gfn, c)));
    expect(allocZeroed(world, g, 2, 'MOVABLE', 'a test')).toMatchObject({ ok: false, error: 'host-oom' });
    expect(calls).toBe(3);
    expect(g.buddy.freePages()).toBe(free);
  });

  test("the allocator's failure is refused as guest-oom, naming what the page was for, and nothing is cleared", () => {
    const { world, g } = drained();
    const write = jest.spyOn(phys, 'physWrite');
    const r = allocZeroed(world, g, 0, 'MOVABLE', 'a test');
    expect(r).toMatchObject({ ok: false, error: 'guest-oom', detail: expect.stringMatching(/^g0: no page for a test \(.+\)$/) });
    expect(write).not.toHaveBeenCalled();
  });
});
