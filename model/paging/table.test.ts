/**
 * PageTable.sameEntries, the content comparison of two page-table pages (a copy of a table
 * page equals the original until one of them changes): another level or kind, another entry
 * count, or one entry differing in frame, flags or NX makes them differ.
 */
import { PageTable } from './table';

function table(kind: 'guest' | 'ept', level: number, entries: [number, number, number, boolean][]): PageTable {
  const t = new PageTable(kind, level);
  for (const [i, pfn, flags, nx] of entries) t.set(i, { pfn, flags, nx });
  return t;
}

test('a clone has the same entries; the kind, the level, the count and each field of an entry tell them apart', () => {
  const a = table('guest', 1, [[0, 10, 3, false], [7, 11, 1, true]]);
  expect(a.sameEntries(a.clone())).toBe(true);
  expect(a.sameEntries(table('ept', 1, [[0, 10, 3, false], [7, 11, 1, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 2, [[0, 10, 3, false], [7, 11, 1, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [7, 11, 1, true], [9, 12, 1, false]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [8, 11, 1, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [7, 12, 1, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [7, 11, 3, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [7, 11, 1, false]]))).toBe(false);
  const b = a.clone();
  b.set(7, undefined);
  b.set(7, { pfn: 11, flags: 1, nx: true });
  expect(a.sameEntries(b)).toBe(true);
});

test('a table takes indexes 0..511 only; absent entries are not counted; indexes come back sorted', () => {
  const t = new PageTable('ept', 2);
  expect(() => t.set(-1, { pfn: 1, flags: 1, nx: false })).toThrow(new RangeError('table index -1'));
  expect(() => t.set(512, { pfn: 1, flags: 1, nx: false })).toThrow(new RangeError('table index 512'));
  t.set(511, { pfn: 2, flags: 7, nx: false });
  t.set(0, { pfn: 1, flags: 7, nx: false });
  t.set(300, { pfn: 3, flags: 7, nx: false });
  expect(t.size).toBe(3);
  expect(t.indexes()).toEqual([0, 300, 511]);
  t.set(300, undefined);
  expect(t.get(300)).toBeUndefined();
  expect(t.get(0)).toEqual({ pfn: 1, flags: 7, nx: false });
  const seen: [number, number][] = [];
  t.forEach((e, i) => seen.push([i, e.pfn]));
  expect(seen.sort((a, b) => a[0] - b[0])).toEqual([[0, 1], [511, 2]]);
  const c = t.clone();
  expect([c.kind, c.level, c.size]).toEqual(['ept', 2, 2]);
  c.set(0, undefined);
  expect(t.size).toBe(2);
});
