/**
 * The guest's free-page initialisation (mm/page_poison.c, init_on_free), per mode of the
 * virtio-balloon.guest-poison option: 'poison' fills a freed page with PAGE_POISON (0xaa) and
 * check_poison_mem reads it back on allocation, recording any page that changed while free;
 * 'init-on-free' zeroes a freed page (counted in the guest's zeroings) and checks nothing;
 * 'off' does neither.
 */
import { Runner } from '../../fuzz/run';
import { exhaustHost, machine } from '../../fuzz/testing/scenario';
import { data, poison } from '../content';
import { discardHostPage } from './discard';
import { physWrite } from '../guest/phys';
import { peekGuestPhysical } from '../mmu/peek';
import { checkPoisonOnAlloc, guestInitialisesFreePages, initPagePoison, PAGE_POISON, POISON_MODES, POISON_OPTION, poisonCorruptions, poisonMode } from './page-poison';

function freedPages(mode: string) {
  const r = new Runner(machine({ [POISON_OPTION]: mode }), { check: 'incremental' });
  const g = r.world.guests[0]!;
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 1, mt: 'MOVABLE' } });
  r.apply({ kind: 'guest.kwrite', args: { guest: 0, alloc: 1 } });
  const gfn = g.kernelAllocs.get(1)!.gfn;
  const zeroings = g.zeroings;
  r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: 1 } });
  return { r, g, gfn, zeroings };
}

test('the modes are off, poison and init-on-free; only off leaves freed pages as they were', () => {
  expect(POISON_MODES).toEqual(['off', 'poison', 'init-on-free']);
  for (const mode of POISON_MODES) {
    const { g } = freedPages(mode);
    expect(poisonMode(g)).toBe(mode);
    expect(guestInitialisesFreePages(g)).toBe(mode !== 'off');
  }
});

test('poison: both pages of a freed block read 0xaa and count no zeroing; a page written while free is reported on allocation, with its gfn', () => {
  const { r, g, gfn, zeroings } = freedPages('poison');
  for (const i of [0, 1]) expect(peekGuestPhysical(r.world, g, gfn + i)).toEqual({ kind: 'poison', value: PAGE_POISON });
  expect(g.zeroings).toBe(zeroings);
  expect(physWrite(r.world, g, gfn + 1, data(0, 7))).toBe(true);
  checkPoisonOnAlloc(r.world, g, gfn, 1);
  expect(poisonCorruptions(g).map((c) => [c.gfn, c.found])).toEqual([[gfn + 1, data(0, 7)]]);
  // Checked once: the pages are no longer remembered as poisoned.
  checkPoisonOnAlloc(r.world, g, gfn, 1);
  expect(poisonCorruptions(g)).toHaveLength(1);
});

test('init-on-free: both pages of a freed block read zero and count two zeroings; nothing is checked on allocation', () => {
  const { r, g, gfn, zeroings } = freedPages('init-on-free');
  for (const i of [0, 1]) expect(peekGuestPhysical(r.world, g, gfn + i).kind).toBe('zero');
  expect(g.zeroings).toBe(zeroings + 2);
  expect(physWrite(r.world, g, gfn, data(0, 7))).toBe(true);
  checkPoisonOnAlloc(r.world, g, gfn, 1);
  expect(poisonCorruptions(g)).toEqual([]);
});

test('off: a freed page keeps what it held', () => {
  const { r, g, gfn, zeroings } = freedPages('off');
  expect(peekGuestPhysical(r.world, g, gfn).kind).not.toBe('poison');
  expect(g.zeroings).toBe(zeroings);
});

test('poison: a free page that reads as poison of another byte is a corruption too, reported with what was found', () => {
  const { r, g, gfn } = freedPages('poison');
  expect(physWrite(r.world, g, gfn, poison(0x55))).toBe(true);
  checkPoisonOnAlloc(r.world, g, gfn, 1);
  expect(poisonCorruptions(g).map((c) => [c.gfn, c.found])).toEqual([[gfn, poison(0x55)]]);
});

test('poison: a page the kernel could not poison on free (no host frame for it) is forgotten, not checked on allocation; its neighbour still is', () => {
  const { r, g, gfn } = freedPages('poison');
  // The second page's host frame goes (a discard), and the host has no frame left to back it
  // again: the next free's poisoning of that page cannot be made.
  discardHostPage(r.world, g, gfn + 1, 'virtio-balloon');
  exhaustHost(r);
  const [hook] = g.freeHooks;
  hook!.prepare!(r.world, g, gfn, 1);
  expect(g.backing.has(gfn + 1)).toBe(false);
  expect(peekGuestPhysical(r.world, g, gfn)).toEqual(poison(PAGE_POISON));
  // The forgotten page reads zero now, yet no corruption is reported; its neighbour reads 0xaa.
  checkPoisonOnAlloc(r.world, g, gfn, 1);
  expect(poisonCorruptions(g)).toEqual([]);
  // The hook is page poisoning's: a page it can write is poisoned again.
  expect(physWrite(r.world, g, gfn, data(0, 9))).toBe(true);
  hook!.prepare!(r.world, g, gfn, 0);
  expect(peekGuestPhysical(r.world, g, gfn)).toEqual(poison(PAGE_POISON));
});

test('initPagePoison is once per guest: a second call keeps the pages it remembers and registers no second hook', () => {
  const { r, g, gfn } = freedPages('poison');
  const hooks = [g.freeHooks.length, g.allocHooks.length];
  initPagePoison(r.world);
  expect([g.freeHooks.length, g.allocHooks.length]).toEqual(hooks);
  expect(physWrite(r.world, g, gfn, data(0, 7))).toBe(true);
  checkPoisonOnAlloc(r.world, g, gfn, 1);
  expect(poisonCorruptions(g).map((c) => c.gfn)).toEqual([gfn]);
});
