/**
 * The injected vmw-2m-without-batching fault followed to the host's side. VMware's balloon
 * protocol has 2 MiB pages only with the batched commands (drivers/misc/vmw_balloon.c:
 * vmballoon_init_batching; VMW_BALLOON_BATCHED_2M_CMDS requires VMW_BALLOON_BATCHED_CMDS):
 * the single-page LOCK command names one 4 KiB frame. A driver that allocates a 2 MiB page
 * anyway and locks it with the non-batched command has locked only its head: the accounting
 * property reports the page as partly locked, and when the host reclaims the page it may
 * discard only the frame it was told about, the head, not the other 511.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { vmwOf } from './vmware-balloon';

test('a 2 MiB page locked by the single-page command is reported partly locked, and the host discards only its head', () => {
  const { r, apply, broke } = stepper(machine({ 'vmware-balloon.caps': 0x2 | 0x8 }, ['vmw-2m-without-batching']));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('vmw.host.target', { guest: 0, pages: 512 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  expect(broke()).toEqual([]);
  const b = vmwOf(g)!;
  expect(b.batched).toBe(false);
  apply('vmw.lock', { guest: 0, refuse: 0 });
  expect(broke()).toEqual(['vmw-balloon-accounting|size-mismatch', 'vmw-balloon-accounting|huge-page-partly-locked']);
  expect(b.pages).toHaveLength(1);
  const { head, order } = b.pages[0]!;
  expect(order).toBe(9);
  expect([...b.hostLocked]).toEqual([head]);
  const backed = Array.from({ length: 512 }, (_, i) => head + i).filter((gfn) => g.backing.has(gfn));
  // One frame discarded (the result counts them), not 512.
  expect(apply('vmw.host.discard', { guest: 0, gfn: head })).toEqual({ ok: true, value: 1 });
  expect(broke()).toEqual([]);
  expect(g.backing.has(head)).toBe(false);
  for (const gfn of backed.filter((x) => x !== head)) expect(g.backing.has(gfn)).toBe(true);
  expect(r.violation?.kind).toBe('size-mismatch');
});

test('fault-free, a wholly locked 2 MiB page on a 2 MiB-backed unit goes back to the host in one piece', () => {
  const { r, apply, broke } = stepper(machine({ 'vmware-balloon.caps': 0x2 | 0x4 | 0x8 }, [], 1, true));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  // A guest kernel block touched once (its unit backed by one 2 MiB host page), then freed for the balloon.
  expect(apply('guest.kalloc', { guest: 0, order: 9, mt: 'MOVABLE' })).toEqual({ ok: true, value: 1 });
  expect(apply('guest.kwrite', { guest: 0, alloc: 1 }).ok).toBe(true);
  const base = g.kernelAllocs.get(1)!.gfn;
  expect(apply('guest.kfree', { guest: 0, alloc: 1 }).ok).toBe(true);
  apply('vmw.host.target', { guest: 0, pages: 512 });
  expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
  apply('vmw.lock', { guest: 0, refuse: 0 });
  const b = vmwOf(g)!;
  expect(b.pages).toEqual([{ head: base, order: 9 }]);
  expect(g.hugeBacked.has(base / 512)).toBe(true);
  const hostFree = r.world.hostBuddy.freePages();
  expect(apply('vmw.host.discard', { guest: 0, gfn: base })).toEqual({ ok: true, value: 512 });
  expect(broke()).toEqual([]);
  expect(g.hugeBacked.has(base / 512)).toBe(false);
  expect(r.world.hostBuddy.freePages()).toBe(hostFree + 512);
});

test('under the fault, discarding one of two adjacent 2 MiB pages locked at their heads discards its own head only', () => {
  const { r, apply } = stepper(machine({ 'vmware-balloon.caps': 0x2 | 0x8 }, ['vmw-2m-without-batching']));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  // A 4 MiB guest kernel block written once (backed), then freed for the balloon.
  expect(apply('guest.kalloc', { guest: 0, order: 10, mt: 'MOVABLE' })).toEqual({ ok: true, value: 1 });
  expect(apply('guest.kwrite', { guest: 0, alloc: 1 }).ok).toBe(true);
  expect(apply('guest.kfree', { guest: 0, alloc: 1 }).ok).toBe(true);
  apply('vmw.host.target', { guest: 0, pages: 1024 });
  for (let i = 0; i < 2; i++) {
    expect(apply('vmw.inflate', { guest: 0, small: false })).toEqual({ ok: true, value: 1 });
    apply('vmw.lock', { guest: 0, refuse: 0 });
  }
  const b = vmwOf(g)!;
  const [low, high] = b.pages.map((p) => p.head).sort((x, y) => x - y) as [number, number];
  expect(high).toBe(low + 512);
  // Both heads backed, so a discard of either shows.
  expect([g.backing.has(low), g.backing.has(high)]).toEqual([true, true]);
  expect([...b.hostLocked].sort((x, y) => x - y)).toEqual([low, high]);
  expect(apply('vmw.host.discard', { guest: 0, gfn: low })).toEqual({ ok: true, value: 1 });
  expect(g.backing.has(low)).toBe(false);
  expect(g.backing.has(high)).toBe(true);
});
