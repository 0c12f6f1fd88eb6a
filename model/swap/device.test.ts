/**
 * The swap device's slot map (mm/swapfile.c): the lowest free slot first, a full device
 * refuses, a double free is reported and changes nothing, a write to a free slot is ignored.
 */
import { ZERO } from '../content';
import { Journal } from '../journal';
import { SwapDevice } from './device';

const owner = (gfn: number) => ({ kind: 'guest-memory' as const, guest: 0, gfn });

test('slots are handed out lowest first, a freed one is reused first, a full device returns null', () => {
  const d = new SwapDevice('test', 3, new Journal(), 'swap:test');
  expect([d.alloc(owner(1)), d.alloc(owner(2)), d.alloc(owner(3))]).toEqual([0, 1, 2]);
  expect(d.alloc(owner(4))).toBeNull();
  expect(d.available).toBe(0);
  expect(d.free(1)).toBe(true);
  expect(d.alloc(owner(5))).toBe(1);
  expect(d.owner(1)).toEqual(owner(5));
});

test('a double free returns false and leaves the other slots as they were; a write to a free slot is ignored', () => {
  const d = new SwapDevice('test', 4, new Journal(), 'swap:test');
  const a = d.alloc(owner(1))!;
  const b = d.alloc(owner(2))!;
  d.write(b, ZERO);
  expect(d.free(a)).toBe(true);
  expect(d.free(a)).toBe(false);
  expect(d.used).toBe(1);
  expect(d.content(b)).toBe(ZERO);
  d.write(a, ZERO);
  expect(d.has(a)).toBe(false);
  expect(d.content(a)).toBeUndefined();
});
