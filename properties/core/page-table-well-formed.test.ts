/**
 * page-table-well-formed at the step that breaks it: a page-table page freed while its parent
 * entry still points at it (pt-page-freed-while-linked, the class of 5e0fb5df2ee8) is reported by
 * the incremental check at that munmap, through the freed page's recorded parent entry
 * (Guest.tableRefs): the parent table itself did not change that step, so nothing else would look
 * at it before the end-of-run check.
 */
import { machine, op, scenario } from '../../fuzz/testing/scenario';

const VPN = 2048;
const steps = [
  op('guest.spawn', { guest: 0 }),
  op('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false }),
  op('guest.write', { guest: 0, pid: 1, vpn: VPN }),
  op('guest.munmap', { guest: 0, pid: 1, vpn: VPN, pages: 1 }),
];

test('a page-table page freed while linked is reported at the munmap that freed it, naming the entry that still points at it', () => {
  const s = scenario(machine({}, ['pt-page-freed-while-linked']), steps);
  expect(s.results.every((r) => r.ok)).toBe(true);
  const v = s.violations.find((x) => x.property === 'page-table-well-formed');
  expect(v).toMatchObject({ kind: 'dangling-table-pointer', step: 3, expected: 'a live page-table page' });
  const g = s.world.guests[0]!;
  // The entry is the PMD's: the parent of the freed PTE table, still live.
  expect(v!.subject).toMatch(/^g0 table gfn 0x[0-9a-f]+\[\d+\]$/);
  const parent = Number.parseInt(v!.subject.match(/gfn (0x[0-9a-f]+)/)![1]!, 16);
  expect(g.tables.get(parent)).toMatchObject({ pid: 1, level: 2 });
});

test('without the fault the same munmap unlinks the table first: nothing is reported', () => {
  const s = scenario(machine({}), steps, true);
  expect(s.results.every((r) => r.ok)).toBe(true);
  expect(s.violations).toEqual([]);
});
