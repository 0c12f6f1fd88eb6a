/**
 * The TLB's capacity, by example (tlb.test.ts checks the same against a reference list on random
 * sequences): once it holds `capacity` entries, a fill evicts the oldest (insertion
 * order), and only that one; a refill of the same (tag, size, vpnBase) replaces its entry in
 * place without evicting anything.
 */
import { Journal } from '../journal';
import { Tlb, type TlbEntry } from './tlb';

const entry = (vpn: number, hfn = 1000 + vpn): TlbEntry => ({
  vpid: 1, pcid: 1, eptRoot: 7, vpnBase: vpn, frames: 1, hfnBase: hfn, gfnBase: 500 + vpn, writable: true, nx: false, dirty: true,
});

test('a full TLB evicts its oldest entry on the next fill, and counts it', () => {
  const tlb = new Tlb(new Journal(), 3);
  for (const vpn of [10, 11, 12]) tlb.insert(entry(vpn));
  expect(tlb.size).toBe(3);
  expect(tlb.stats.evictions).toBe(0);
  tlb.insert(entry(13));
  expect(tlb.size).toBe(3);
  expect(tlb.stats.evictions).toBe(1);
  expect(tlb.lookup(1, 1, 7, 10)).toBeUndefined();
  for (const vpn of [11, 12, 13]) expect(tlb.lookup(1, 1, 7, vpn)?.hfnBase).toBe(1000 + vpn);
  // The evicted entry is gone from the reverse maps too.
  expect(tlb.coveringGuestFrame(1, 510)).toEqual([]);
  expect(tlb.coveringGuestFrame(1, 511)).toHaveLength(1);
});

test('refilling a present translation replaces it without an eviction', () => {
  const tlb = new Tlb(new Journal(), 3);
  for (const vpn of [10, 11, 12]) tlb.insert(entry(vpn));
  tlb.insert(entry(11, 2000));
  expect(tlb.size).toBe(3);
  expect(tlb.stats.evictions).toBe(0);
  expect(tlb.lookup(1, 1, 7, 11)?.hfnBase).toBe(2000);
  expect(tlb.lookup(1, 1, 7, 10)?.hfnBase).toBe(1010);
});

test('an entry of a size the TLB does not have is refused', () => {
  const tlb = new Tlb(new Journal(), 3);
  expect(() => tlb.insert({ ...entry(0), frames: 8 })).toThrow(RangeError);
  expect(tlb.size).toBe(0);
});
