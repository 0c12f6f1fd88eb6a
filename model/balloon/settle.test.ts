/**
 * The settle phase of a virtio balloon: a request still queued when the run ends is
 * taken by the device, an inflate or a deflate, and nothing is left in flight. The VMware
 * balloon settles at its target with 2 MiB pages while 2 MiB is missing.
 */
import { kinds, machine, op, scenario, stepper } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { balloonOf, settleGuest } from './virtio-balloon';
import { VMW_BALLOON_BASIC_CMDS, VMW_BALLOON_BATCHED_2M_CMDS, VMW_BALLOON_BATCHED_CMDS, vmwOf, vmwSettle } from './vmware-balloon';

const inflate = [op('vballoon.host.target', { guest: 0, pages: 64 }), op('vballoon.fill', { guest: 0 })];
const deflate = [...inflate, op('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }), op('vballoon.host.target', { guest: 0, pages: 0 }), op('vballoon.leak', { guest: 0 })];

test.each([
  ['inflate', inflate, 'ballooned'],
  ['deflate', deflate, undefined],
] as const)('settle takes a queued %s request: no request left in flight, every page where the request sends it', (queue, steps, state) => {
  const before = balloonOf(scenario(machine({}), steps).world.guests[0]!)!;
  expect(before.requests.filter((r) => !r.acked).map((r) => r.queue)).toEqual([queue]);
  const after = scenario(machine({}), steps, true);
  expect(kinds(after)).toEqual([]);
  const vb = balloonOf(after.world.guests[0]!)!;
  expect(vb.requests.filter((r) => !r.acked)).toEqual([]);
  const pages = [...before.requests[before.requests.length - 1]!.pfns].map((gfn) => vb.pages.get(gfn));
  expect(pages.length).toBeGreaterThan(0);
  expect(pages.every((s) => s === state)).toBe(true);
});

// settleGuest alone (the balloon-compaction settle, which runs after it, acks what is left too).
test.each([
  ['inflate', [['vballoon.fill', 64], ['vballoon.host.target', 96]], 96],
  ['deflate', [['vballoon.fill', 64], ['vballoon.ack', 0], ['vballoon.host.target', 32], ['vballoon.leak', 32]], 32],
] as const)('virtio settle acknowledges a queued %s itself, then reaches the target with nothing in flight', (queue, steps, target) => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  const vb = balloonOf(g)!;
  s.apply('vballoon.host.target', { guest: 0, pages: 64 });
  for (const [kind, n] of steps) {
    if (kind === 'vballoon.host.target') s.apply(kind, { guest: 0, pages: n });
    else if (kind === 'vballoon.ack') expect(s.apply(kind, { guest: 0, queue: 'inflate', discard: false }).ok).toBe(true);
    else expect(s.apply(kind, { guest: 0 })).toEqual({ ok: true, value: n });
  }
  expect(vb.requests.filter((r) => !r.acked).map((r) => r.queue)).toEqual([queue]);
  settleGuest(s.world, g, vb);
  expect(vb.requests).toEqual([]);
  expect([vb.count, vb.list.length, vb.actual]).toEqual([target, target, target]);
  expect([...vb.list].map((gfn) => vb.pages.get(gfn)).every((st) => st === 'ballooned')).toBe(true);
});

test('virtio settle inflates most of the guest, 256 pages a round, until the target', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  const vb = balloonOf(g)!;
  s.apply('vballoon.host.target', { guest: 0, pages: 3600 });
  settleGuest(s.world, g, vb);
  expect([vb.count, vb.actual, vb.requests.length]).toEqual([3600, 3600, 0]);
});

test('virtio settle updates actual after an inflate even with the leak-skips-actual fault (it skips only after a leak)', () => {
  const s = stepper(machine({}, ['vballoon-leak-skips-actual-update']));
  const g = s.world.guests[0]!;
  const vb = balloonOf(g)!;
  s.apply('vballoon.host.target', { guest: 0, pages: 64 });
  settleGuest(s.world, g, vb);
  expect([vb.count, vb.actual]).toEqual([64, 64]);
});

test('VMware settle inflates to its target with 2 MiB pages while 2 MiB is missing, then 4 KiB pages', () => {
  const caps = VMW_BALLOON_BASIC_CMDS | VMW_BALLOON_BATCHED_CMDS | VMW_BALLOON_BATCHED_2M_CMDS;
  const s = stepper(machine({ 'vmware-balloon.caps': caps }));
  const g = s.world.guests[0]!;
  const b = vmwOf(g)!;
  s.apply('vmw.host.target', { guest: 0, pages: 2 * FRAMES_PER_2M + 3 });
  vmwSettle(s.world, g, b);
  expect(b.size).toBe(2 * FRAMES_PER_2M + 3);
  expect(b.pages.map((p) => p.order).sort((x, y) => y - x)).toEqual([9, 9, 0, 0, 0]);
  expect(s.world.transitions.get('vmware-balloon')?.get('guest->batched')).toBeGreaterThan(0);
  // Settled above the new target: deflated, newest pages first, exactly down to it.
  s.apply('vmw.host.target', { guest: 0, pages: FRAMES_PER_2M });
  vmwSettle(s.world, g, b);
  expect(b.pages.map((p) => p.order)).toEqual([9]);
  expect(b.size).toBe(FRAMES_PER_2M);
});
