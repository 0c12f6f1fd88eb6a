/**
 * The descriptions that violation reports and replay print (describeOwner, describeContent):
 * each owner kind and content kind names its fields, so a report says whose frame it was and
 * what it held.
 */
import { describeContent, domainName, HOST_DOMAIN } from './content';
import { describeOwner, type HostOwner } from './host/frames';
import { PageTable } from './paging/table';

test.each<[HostOwner | undefined, string]>([
  [undefined, 'free'],
  [{ kind: 'host-kernel', tag: 'boot' }, 'host-kernel(boot)'],
  [{ kind: 'guest-memory', guest: 1, gfn: 0x20 }, 'g1 gfn 0x20'],
  [{ kind: 'ept-table', guest: 2, level: 3 }, 'g2 EPT table L3'],
  [{ kind: 'host-page-cache', guest: 0, disk: 1, block: 7 }, 'host page cache g0 disk 1 block 7'],
  [{ kind: 'shared-page-cache', file: 2, index: 5 }, 'shared page cache file 2 page 5'],
  [{ kind: 'dax-private', guest: 1, gfn: 0x1f }, 'g1 DAX private copy gfn 0x1f'],
  [{ kind: 'tmem', pool: 3, key: 0x40 }, 'tmem pool 3 key 0x40'],
  [{ kind: 'migrate-target', guest: 0, gfn: 0x11 }, 'migration target for g0 gfn 0x11'],
  [{ kind: 'ksm', node: 9 }, 'KSM page (stable node 9)'],
])('owner %j is described as %s', (owner, text) => {
  expect(describeOwner(owner)).toBe(text);
});

test('contents: zero, poison in hex, data with its writer and version, a table with its level and entry count', () => {
  const t = new PageTable('ept', 2);
  t.set(0, { pfn: 1, flags: 7, nx: false });
  expect(describeContent({ kind: 'zero' })).toBe('zero');
  expect(describeContent({ kind: 'poison', value: 0xaa })).toBe('poison(0xaa)');
  expect(describeContent({ kind: 'data', writer: 3, version: 4 })).toBe('data(g3, v4)');
  expect(describeContent({ kind: 'table', writer: HOST_DOMAIN, table: t })).toBe('table(host, level 2, 1 entries)');
  expect([domainName(HOST_DOMAIN), domainName(0)]).toEqual(['host', 'g0']);
});
