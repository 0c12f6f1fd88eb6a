/**
 * The swap device's slot map (mm/swapfile.c): the lowest free slot first, a full device
 * refuses, a double free is reported and changes nothing, a write to a free slot is ignored;
 * every slot change is journalled; which owners are the same, and how an owner is described.
 */
import { ZERO } from '../content';
import { Journal } from '../journal';
import { describeSlotOwner, sameSlotOwner, SwapDevice } from './device';

const owner = (gfn: number) => ({ kind: 'guest-memory' as const, guest: 0, gfn });

test('slots are handed out lowest first, a freed one is reused first, a full device returns null', () => {
  const d = new SwapDevice(3, new Journal(), 'swap:test');
  expect([d.alloc(owner(1)), d.alloc(owner(2)), d.alloc(owner(3))]).toEqual([0, 1, 2]);
  expect(d.alloc(owner(4))).toBeNull();
  expect(d.available).toBe(0);
  expect(d.free(1)).toBe(true);
  expect(d.alloc(owner(5))).toBe(1);
  expect(d.owner(1)).toEqual(owner(5));
});

test('a double free returns false and leaves the other slots as they were; a write to a free slot is ignored', () => {
  const d = new SwapDevice(4, new Journal(), 'swap:test');
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

test('the scan starts at the hint and walks past slots in use above it; the hint falls back to the lowest freed slot', () => {
  const d = new SwapDevice(5, new Journal(), 'swap:test');
  expect([0, 1, 2].map((i) => d.alloc(owner(i)))).toEqual([0, 1, 2]);
  expect(d.free(0)).toBe(true);
  // Below the hint only 0 is free; above it 1 and 2 are in use: the scan after 0 must go up to 3.
  expect(d.alloc(owner(10))).toBe(0);
  expect(d.alloc(owner(11))).toBe(3);
  // Two frees, the higher first: the next allocations take the lower one, then the higher.
  expect(d.free(2)).toBe(true);
  expect(d.free(1)).toBe(true);
  expect([d.alloc(owner(12)), d.alloc(owner(13)), d.alloc(owner(14))]).toEqual([1, 2, 4]);
  expect(d.alloc(owner(15))).toBeNull();
  expect([...d.entries()].map(([slot]) => slot).sort()).toEqual([0, 1, 2, 3, 4]);
  // Two frees, the lower first: the hint stays at the lower one.
  expect([d.free(1), d.free(3)]).toEqual([true, true]);
  expect([d.alloc(owner(16)), d.alloc(owner(17))]).toEqual([1, 3]);
});

test('every slot change is journalled under the device key: the reservation, the write, the free', () => {
  const j = new Journal();
  const d = new SwapDevice(2, j, 'swap:test');
  const a = d.alloc(owner(1))!;
  expect([...(j.marks.get('swap:test') ?? [])]).toEqual([a]);
  j.clear();
  d.write(a, ZERO);
  expect([...(j.marks.get('swap:test') ?? [])]).toEqual([a]);
  j.clear();
  d.free(a);
  expect([...(j.marks.get('swap:test') ?? [])]).toEqual([a]);
});

describe('slot owners', () => {
  const anon = { kind: 'anon' as const, guest: 0, pid: 1, vpn: 0x1000000 };
  const mem = { kind: 'guest-memory' as const, guest: 1, gfn: 0x2a };

  test('an anonymous owner is the same only with the same guest, pid and vpn', () => {
    expect(sameSlotOwner(anon, { ...anon })).toBe(true);
    expect(sameSlotOwner(anon, { ...anon, guest: 1 })).toBe(false);
    expect(sameSlotOwner(anon, { ...anon, pid: 2 })).toBe(false);
    expect(sameSlotOwner(anon, { ...anon, vpn: anon.vpn + 1 })).toBe(false);
    expect(sameSlotOwner(anon, { kind: 'guest-memory', guest: 0, gfn: 0x1000000 })).toBe(false);
  });

  test('a guest-memory owner is the same only with the same guest and gfn', () => {
    expect(sameSlotOwner(mem, { ...mem })).toBe(true);
    expect(sameSlotOwner(mem, { ...mem, guest: 0 })).toBe(false);
    expect(sameSlotOwner(mem, { ...mem, gfn: mem.gfn + 1 })).toBe(false);
    expect(sameSlotOwner(mem, { kind: 'anon', guest: 1, pid: 0x2a, vpn: 0x2a })).toBe(false);
  });

  test('the description names a free slot, an anonymous page by guest, pid and vpn, guest memory by guest and gfn (hex)', () => {
    expect(describeSlotOwner(undefined)).toBe('free');
    expect(describeSlotOwner(anon)).toBe('g0 pid 1 vpn 0x1000000');
    expect(describeSlotOwner(mem)).toBe('g1 gfn 0x2a');
  });
});
