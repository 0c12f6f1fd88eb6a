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
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [8, 11, 1, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [7, 12, 1, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [7, 11, 3, true]]))).toBe(false);
  expect(a.sameEntries(table('guest', 1, [[0, 10, 3, false], [7, 11, 1, false]]))).toBe(false);
  const b = a.clone();
  b.set(7, undefined);
  b.set(7, { pfn: 11, flags: 1, nx: true });
  expect(a.sameEntries(b)).toBe(true);
});
