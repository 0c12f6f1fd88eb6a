/**
 * The VMware balloon's protocol as drivers/misc/vmw_balloon.c runs it:
 * - vmballoon_send_start: the driver asks for its capabilities (VMW_BALLOON_CAPABILITIES); START
 *   fails without BASIC_CMDS (no balloon); BATCHED_CMDS selects the batched protocol; 2 MiB pages
 *   (max_page_size) need both BATCHED_CMDS and BATCHED_2M_CMDS ("vmw_balloon: do not use 2MB
 *   without batching");
 * - vmballoon_inflate: 2 MiB pages while at least 2 MiB is missing, else 4 KiB; a batch holds
 *   up to VMW_BALLOON_BATCH_MAX_PAGES pages (one page without batching);
 * - vmballoon_lock: the host answers each entry; refused pages are held aside and released once
 *   the target is reached or VMW_BALLOON_MAX_REFUSED (16) are held; BATCHED_2M_LOCK locks 512
 *   frames per entry;
 * - vmballoon_deflate: the newest pages first, up to a batch (one page without batching), down
 *   to the target; UNLOCK releases in the host what LOCK locked there.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M, MAX_PAGE_ORDER } from '../constants';
import type { Guest } from '../guest/guest';
import { VMW_BALLOON_BASIC_CMDS, VMW_BALLOON_BATCH_MAX_PAGES, VMW_BALLOON_BATCHED_2M_CMDS, VMW_BALLOON_BATCHED_CMDS, VMW_BALLOON_CAPABILITIES, vmwAlloc, vmwOf, type VmwBalloon } from './vmware-balloon';

const BASIC = VMW_BALLOON_BASIC_CMDS;
const BATCHED = BASIC | VMW_BALLOON_BATCHED_CMDS;
const BATCHED_2M = BATCHED | VMW_BALLOON_BATCHED_2M_CMDS;

function vmw(caps: number, faults: readonly string[] = []): Stepper & { g: Guest; b: VmwBalloon } {
  const s = stepper(machine({ 'vmware-balloon.caps': caps }, faults));
  const g = s.r.world.guests[0]!;
  s.apply('guest.spawn', { guest: 0 });
  return { ...s, g, b: vmwOf(g)! };
}

test('START: no balloon without BASIC_CMDS; the capabilities kept are the ones the driver knows; 2 MiB pages only with batching', () => {
  const noBasic = stepper(machine({ 'vmware-balloon.caps': VMW_BALLOON_BATCHED_CMDS | VMW_BALLOON_BATCHED_2M_CMDS }));
  expect(vmwOf(noBasic.r.world.guests[0]!)).toBeUndefined();
  expect(noBasic.apply('vmw.host.target', { guest: 0, pages: 16 })).toEqual({ ok: false, error: 'invalid' });

  const cases: [number, string[], { caps: number; batched: boolean; maxOrder: number }][] = [
    [BASIC, [], { caps: BASIC, batched: false, maxOrder: 0 }],
    [BASIC | VMW_BALLOON_BATCHED_2M_CMDS, [], { caps: BASIC | VMW_BALLOON_BATCHED_2M_CMDS, batched: false, maxOrder: 0 }],
    [BATCHED, [], { caps: BATCHED, batched: true, maxOrder: 0 }],
    [BATCHED_2M, [], { caps: BATCHED_2M, batched: true, maxOrder: 9 }],
    [0xff, [], { caps: VMW_BALLOON_CAPABILITIES, batched: true, maxOrder: 9 }],
    // The injected fault: 2 MiB pages on the 2M capability alone.
    [BASIC | VMW_BALLOON_BATCHED_2M_CMDS, ['vmw-2m-without-batching'], { caps: BASIC | VMW_BALLOON_BATCHED_2M_CMDS, batched: false, maxOrder: 9 }],
  ];
  for (const [offered, faults, want] of cases) {
    const b = vmwOf(stepper(machine({ 'vmware-balloon.caps': offered }, faults)).r.world.guests[0]!)!;
    expect({ offered, caps: b.caps, batched: b.batched, maxOrder: b.maxOrder }).toEqual({ offered, ...want });
  }
});

test('inflate sizes: one 4 KiB page without batching, a batch of up to 512 with it, 2 MiB pages only while at least 512 frames are missing', () => {
  const single = vmw(BATCHED_2M & ~VMW_BALLOON_BATCHED_CMDS);
  single.apply('vmw.host.target', { guest: 0, pages: 1024 });
  expect(single.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  expect(single.b.batch.map((p) => p.order)).toEqual([0]);

  const four = vmw(BATCHED);
  four.apply('vmw.host.target', { guest: 0, pages: 600 });
  expect(four.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 512 });
  expect(four.apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 512 });
  expect(four.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 88 });
  expect(four.apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 88 });
  expect(four.b.size).toBe(600);
  expect(four.b.hostLocked.size).toBe(600);

  const two = vmw(BATCHED_2M);
  two.apply('vmw.host.target', { guest: 0, pages: 2 * FRAMES_PER_2M + FRAMES_PER_2M - 1 });
  expect(two.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 3 });
  expect(two.b.batch.map((p) => p.order)).toEqual([9, 9, 9]);
  two.apply('vmw.host.target', { guest: 0, pages: 2 * FRAMES_PER_2M });
  expect(two.apply('vmw.lock', { guest: 0, refuse: 0b100 })).toEqual({ ok: true, value: 2 });
  // BATCHED_2M_LOCK: both 2 MiB pages locked whole in the host; the refused one released (target reached).
  expect(two.b.size).toBe(2 * FRAMES_PER_2M);
  expect(two.b.hostLocked.size).toBe(2 * FRAMES_PER_2M);
  expect(two.b.refused).toEqual([]);
  // Exactly 512 missing: one more 2 MiB page; 511 missing: 4 KiB pages.
  two.apply('vmw.host.target', { guest: 0, pages: 3 * FRAMES_PER_2M });
  expect(two.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  expect(two.b.batch[0]!.order).toBe(9);
  expect(two.apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 1 });
  two.apply('vmw.host.target', { guest: 0, pages: 4 * FRAMES_PER_2M - 1 });
  expect(two.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: FRAMES_PER_2M - 1 });
  expect(new Set(two.b.batch.map((p) => p.order))).toEqual(new Set([0]));
  // The caller may ask for small pages though 2 MiB would fit.
  two.apply('vmw.lock', { guest: 0, refuse: 0 });
  two.apply('vmw.host.target', { guest: 0, pages: 5 * FRAMES_PER_2M - 1 });
  expect(two.apply('vmw.inflate', { guest: 0, small: true })).toEqual({ ok: true, value: FRAMES_PER_2M });
  expect(new Set(two.b.batch.map((p) => p.order))).toEqual(new Set([0]));
  expect(two.r.violation).toBeNull();
});

test('refused pages are held aside, not handed back by the allocator, and released when the target is reached or 16 are held', () => {
  const { apply, b, g, r } = vmw(BATCHED);
  apply('vmw.host.target', { guest: 0, pages: 40 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 40 });
  const first = b.batch.map((p) => p.head);
  // Entry i's answer is bit i % 32 of the mask: entries 0, 1, 32 and 33 refused.
  expect(apply('vmw.lock', { guest: 0, refuse: 0b11 })).toEqual({ ok: true, value: 36 });
  expect(b.refused.map((p) => p.head)).toEqual([first[0], first[1], first[32], first[33]]);
  expect(b.size).toBe(36);
  for (const p of b.refused) expect(g.buddy.allocatedAt(p.head)).toBeTruthy();
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 4 });
  for (const p of b.batch) expect(first).not.toContain(p.head);
  expect(apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 4 });
  // Target reached: the refused pages go back to the guest.
  expect(b.refused).toEqual([]);
  expect(g.buddy.allocatedAt(first[0]!)).toBeFalsy();
  expect(b.where.has(first[0]!)).toBe(false);
  expect(b.size).toBe(40);

  apply('vmw.host.target', { guest: 0, pages: 70 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 30 });
  // 15 refused: held.
  expect(apply('vmw.lock', { guest: 0, refuse: 0x7fff })).toEqual({ ok: true, value: 15 });
  expect(b.refused).toHaveLength(15);
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 15 });
  // One more refused: 16 held, the round ends and releases them.
  expect(apply('vmw.lock', { guest: 0, refuse: 1 })).toEqual({ ok: true, value: 14 });
  expect(b.refused).toEqual([]);
  expect(b.size).toBe(69);
  expect(r.violation).toBeNull();
  // The settle phase inflates the last page.
  expect(r.finish()).toBeNull();
  expect(b.size).toBe(70);
});

test('deflate takes the newest pages, one without batching and up to a batch with it, down to the target, and unlocks them in the host', () => {
  const one = vmw(BASIC);
  one.apply('vmw.host.target', { guest: 0, pages: 3 });
  const heads: number[] = [];
  for (let i = 0; i < 3; i++) {
    expect(one.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
    heads.push(one.b.batch[0]!.head);
    expect(one.apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 1 });
  }
  one.apply('vmw.host.target', { guest: 0, pages: 1 });
  expect(one.apply('vmw.deflate', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(one.b.pages.map((p) => p.head)).toEqual(heads.slice(0, 2));
  expect([...one.b.hostLocked]).toEqual(heads.slice(0, 2));
  expect(one.g.buddy.allocatedAt(heads[2]!)).toBeFalsy();
  expect(one.apply('vmw.deflate', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(one.apply('vmw.deflate', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(one.b.size).toBe(1);
  expect(one.r.violation).toBeNull();

  const two = vmw(BATCHED_2M);
  two.apply('vmw.host.target', { guest: 0, pages: 3 * FRAMES_PER_2M });
  expect(two.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 3 });
  expect(two.apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 3 });
  const [a, , c] = two.b.pages.map((p) => p.head) as [number, number, number];
  two.apply('vmw.host.target', { guest: 0, pages: FRAMES_PER_2M + 1 });
  // 1023 frames above the target: the newest page goes, then the next (the size is still above the target).
  expect(two.apply('vmw.deflate', { guest: 0 })).toEqual({ ok: true, value: 2 });
  expect(two.b.pages.map((p) => p.head)).toEqual([a]);
  expect(two.b.size).toBe(FRAMES_PER_2M);
  // BATCHED_2M_UNLOCK releases all 512 frames of each page.
  expect(two.b.hostLocked.size).toBe(FRAMES_PER_2M);
  expect(two.b.hostLocked.has(c + FRAMES_PER_2M - 1)).toBe(false);
  expect(two.r.violation).toBeNull();
});

test('a batch of 4 KiB pages deflates at most 512 pages per round', () => {
  const { apply, b, r } = vmw(BATCHED);
  apply('vmw.host.target', { guest: 0, pages: 600 });
  apply('vmw.inflate', { guest: 0, small: false });
  apply('vmw.lock', { guest: 0, refuse: 0 });
  apply('vmw.inflate', { guest: 0, small: false });
  apply('vmw.lock', { guest: 0, refuse: 0 });
  expect(b.size).toBe(600);
  apply('vmw.host.target', { guest: 0, pages: 0 });
  expect(apply('vmw.deflate', { guest: 0 })).toEqual({ ok: true, value: 512 });
  expect(b.size).toBe(88);
  expect(b.hostLocked.size).toBe(88);
  expect(apply('vmw.deflate', { guest: 0 })).toEqual({ ok: true, value: 88 });
  expect(b.pages).toEqual([]);
  expect(b.where.size).toBe(0);
  expect(r.violation).toBeNull();
});

/** Take guest pages (kernel allocations, largest first) until only `leave` are free. */
function exhaustGuest(s: Stepper, g: Guest, leave: number): void {
  for (let order = MAX_PAGE_ORDER; order >= 0; order--) {
    while (g.buddy.freePages() - 2 ** order >= leave) if (!s.apply('guest.kalloc', { guest: 0, order, mt: 'MOVABLE' }).ok) break;
  }
  expect(g.buddy.freePages()).toBe(leave);
}

test('inflate takes what the guest has: a short batch when pages run out, a guest-oom refusal (nothing batched) when none is free', () => {
  const s = vmw(BATCHED);
  const { apply, b, g, r } = s;
  exhaustGuest(s, g, 5);
  apply('vmw.host.target', { guest: 0, pages: 8 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 5 });
  expect(b.stuck).toBeNull();
  expect(apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 5 });
  const taken = r.world.transitions.get('vmware-balloon')!.get('guest->batched');
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: false, error: 'guest-oom' });
  expect(b.batch).toEqual([]);
  expect(b.stuck).toBe('no free 4 KiB page');
  // Nothing was batched: no page took the guest->batched edge.
  expect(r.world.transitions.get('vmware-balloon')!.get('guest->batched')).toBe(taken);
  expect(b.size).toBe(5);
  expect(r.violation).toBeNull();
});

test('the settle phase falls back to 4 KiB pages when no 2 MiB page is free, stops when nothing is left, and releases the refused pages', () => {
  const s = vmw(BATCHED_2M);
  const { apply, b, g, r } = s;
  exhaustGuest(s, g, 8);
  apply('vmw.host.target', { guest: 0, pages: 4 * FRAMES_PER_2M });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: false, error: 'guest-oom' });
  expect(b.stuck).toBe('no free 2 MiB page');
  expect(apply('vmw.inflate', { guest: 0, small: true })).toEqual({ ok: true, value: 8 });
  expect(b.stuck).toBeNull();
  expect(apply('vmw.lock', { guest: 0, refuse: 0b11 })).toEqual({ ok: true, value: 6 });
  expect(b.refused).toHaveLength(2);
  expect(r.finish()).toBeNull();
  // Nothing more to take: the refused pages are held aside while inflating (taken again, the
  // size would be 8), then released.
  expect(b.size).toBe(6);
  expect(b.refused).toEqual([]);
  expect(b.stuck).toBe('no free 4 KiB page');
  expect(b.pages.every((p) => p.order === 0)).toBe(true);
});

test('the settle phase locks a waiting batch and deflates to the target', () => {
  const { apply, b, r } = vmw(BASIC);
  apply('vmw.host.target', { guest: 0, pages: 3 });
  for (let i = 0; i < 3; i++) {
    apply('vmw.inflate', { guest: 0, small: false });
    apply('vmw.lock', { guest: 0, refuse: 0 });
  }
  apply('vmw.host.target', { guest: 0, pages: 4 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  apply('vmw.host.target', { guest: 0, pages: 1 });
  expect(r.finish()).toBeNull();
  expect(b.batch).toEqual([]);
  expect(b.size).toBe(1);
  expect(b.hostLocked.size).toBe(1);
});

test('the host reclaims a locked page whole: one frame for a 4 KiB page, the 2 MiB host page behind a 2 MiB one', () => {
  const small = vmw(BATCHED);
  small.apply('vmw.host.target', { guest: 0, pages: 1 });
  small.apply('vmw.inflate', { guest: 0, small: false });
  small.apply('vmw.lock', { guest: 0, refuse: 0 });
  expect(small.apply('vmw.host.discard', { guest: 0, gfn: small.b.pages[0]!.head })).toEqual({ ok: true, value: 1 });

  const s = stepper(machine({ 'vmware-balloon.caps': BATCHED_2M }, [], 1, true));
  const g = s.r.world.guests[0]!;
  const b = vmwOf(g)!;
  s.apply('guest.spawn', { guest: 0 });
  // A 2 MiB guest block touched (backed by one host huge page) and freed, for the balloon to take.
  expect(s.apply('guest.kalloc', { guest: 0, order: 9, mt: 'MOVABLE' })).toEqual({ ok: true, value: 1 });
  const base = g.kernelAllocs.get(1)!.gfn;
  expect(s.apply('guest.kwrite', { guest: 0, alloc: 1 }).ok).toBe(true);
  expect(g.hugeBacked.has(base / FRAMES_PER_2M)).toBe(true);
  expect(s.apply('guest.kfree', { guest: 0, alloc: 1 }).ok).toBe(true);
  s.apply('vmw.host.target', { guest: 0, pages: FRAMES_PER_2M });
  expect(s.apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  expect(b.batch[0]).toEqual({ head: base, order: 9 });
  s.apply('vmw.lock', { guest: 0, refuse: 0 });
  const hostFree = s.r.world.hostBuddy.freePages();
  expect(s.apply('vmw.host.discard', { guest: 0, gfn: base })).toEqual({ ok: true, value: FRAMES_PER_2M });
  expect(g.hugeBacked.has(base / FRAMES_PER_2M)).toBe(false);
  expect(s.r.world.hostBuddy.freePages()).toBe(hostFree + FRAMES_PER_2M);
  expect(s.r.violation).toBeNull();
});

test('the settle phase reaches a target many rounds away: batches of 512 beyond four rounds, single pages beyond a dozen', () => {
  const batched = vmw(BATCHED);
  batched.apply('vmw.host.target', { guest: 0, pages: 6 * VMW_BALLOON_BATCH_MAX_PAGES - 7 });
  expect(batched.r.finish()).toBeNull();
  expect(batched.b.size).toBe(6 * VMW_BALLOON_BATCH_MAX_PAGES - 7);
  const single = vmw(BASIC);
  single.apply('vmw.host.target', { guest: 0, pages: 20 });
  expect(single.r.finish()).toBeNull();
  expect(single.b.size).toBe(20);
  expect(single.b.pages).toHaveLength(20);
});

test('vmwAlloc takes nothing while a batch waits for LOCK or when the balloon is at its target, and leaves the last reason alone', () => {
  for (const caps of [BASIC, BATCHED]) {
    const { apply, b, g, world } = vmw(caps);
    apply('vmw.host.target', { guest: 0, pages: 2 });
    expect(vmwAlloc(world, g, b, false)).toBe(caps === BASIC ? 1 : 2);
    const waiting = [...b.batch];
    // A batch waits: nothing more.
    expect(vmwAlloc(world, g, b, false)).toBe(0);
    expect(b.batch).toEqual(waiting);
    apply('vmw.lock', { guest: 0, refuse: 0 });
    if (caps === BASIC) {
      expect(vmwAlloc(world, g, b, false)).toBe(1);
      apply('vmw.lock', { guest: 0, refuse: 0 });
    }
    expect(b.size).toBe(2);
    // At the target: nothing, and no reason to be stuck.
    const free = g.buddy.freePages();
    expect(vmwAlloc(world, g, b, false)).toBe(0);
    expect(b.batch).toEqual([]);
    expect(b.stuck).toBeNull();
    expect(g.buddy.freePages()).toBe(free);
  }
});

test('unlocking a page releases only its own frames in the host, not the next page locked right after it', () => {
  const { apply, b, r } = vmw(BATCHED);
  apply('vmw.host.target', { guest: 0, pages: 3 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 3 });
  const [x, x1, x2] = b.batch.map((p) => p.head) as [number, number, number];
  expect([x1, x2]).toEqual([x + 1, x + 2]);
  // x refused and held aside; a fourth page completes the target and x goes back to the guest.
  expect(apply('vmw.lock', { guest: 0, refuse: 1 })).toEqual({ ok: true, value: 2 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  expect(apply('vmw.lock', { guest: 0, refuse: 0 })).toEqual({ ok: true, value: 1 });
  expect(b.refused).toEqual([]);
  // The allocator hands x back: the newest page sits just below an older one.
  apply('vmw.host.target', { guest: 0, pages: 4 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  expect(b.batch[0]!.head).toBe(x);
  apply('vmw.lock', { guest: 0, refuse: 0 });
  apply('vmw.host.target', { guest: 0, pages: 3 });
  expect(apply('vmw.deflate', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(b.hostLocked.has(x)).toBe(false);
  expect(b.hostLocked.has(x1)).toBe(true);
  expect(b.hostLocked.size).toBe(3);
  expect(r.violation).toBeNull();
});
