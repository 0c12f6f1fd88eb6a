/**
 * Symbolic contents: whose secret a frame could reveal (the cross-tenant property reads it),
 * and when two contents are the same (KSM merges on it; "a read returns the last write" compares
 * with it).
 */
import { contentOwner, copyContent, data, guestTableOf, HOST_DOMAIN, poison, sameContent, ZERO } from './content';
import { PageTable } from './paging/table';

function table(writer: number, pfn: number): { kind: 'table'; writer: number; table: PageTable } {
  const t = new PageTable('guest', 1);
  t.set(0, { pfn, flags: 7, nx: false });
  return { kind: 'table', writer, table: t };
}

test('a data frame and a page-table frame reveal their writer; zero and poison reveal no one', () => {
  expect(contentOwner(data(2, 5))).toBe(2);
  expect(contentOwner(table(1, 9))).toBe(1);
  expect(contentOwner(data(HOST_DOMAIN, 0))).toBe(HOST_DOMAIN);
  expect(contentOwner(ZERO)).toBeNull();
  expect(contentOwner(poison(0xaa))).toBeNull();
});

test('contents are the same when kind and every field agree, tables entry by entry', () => {
  expect(sameContent(data(1, 2), data(1, 2))).toBe(true);
  expect(sameContent(data(1, 2), data(1, 3))).toBe(false);
  expect(sameContent(data(1, 2), data(0, 2))).toBe(false);
  expect(sameContent(poison(0xaa), poison(0xaa))).toBe(true);
  expect(sameContent(poison(0xaa), poison(0))).toBe(false);
  expect(sameContent(ZERO, { kind: 'zero' })).toBe(true);
  expect(sameContent(ZERO, poison(0))).toBe(false);
  expect(sameContent(table(1, 9), table(1, 9))).toBe(true);
  expect(sameContent(table(1, 9), table(1, 8))).toBe(false);
  expect(sameContent(table(1, 9), table(0, 9))).toBe(false);
  expect(sameContent(data(1, 2), table(1, 2))).toBe(false);
  expect(sameContent(table(1, 2), data(1, 2))).toBe(false);
});

test('a copied table shares no entries with the original', () => {
  const t = table(0, 9);
  const c = copyContent(t);
  t.table.set(0, { pfn: 10, flags: 7, nx: false });
  expect(c.kind === 'table' && c.table.get(0)?.pfn).toBe(9);
  expect(copyContent(data(0, 1))).toEqual(data(0, 1));
});

test('guestTableOf: a guest page table is one; zero, poison, data and an EPT table are not', () => {
  const t = table(1, 9);
  expect(guestTableOf(t)).toBe(t.table);
  for (const c of [ZERO, poison(0xaa), data(1, 2), { kind: 'table' as const, writer: HOST_DOMAIN, table: new PageTable('ept', 1) }]) expect(guestTableOf(c)).toBeNull();
});
