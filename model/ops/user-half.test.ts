/**
 * Every operation that creates a mapping refuses a range that runs past the user half of the
 * guest's address space (2^47 bytes with 4-level tables, 2^56 with 5), whatever the argument
 * spec allows (VPN_MAX covers the 5-level space): nothing is mapped, and the same range just
 * below the end is accepted.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';

const USER_END_4 = 2 ** 35; // frames: 2^47 bytes

test.each([
  ['guest.mmap', { guest: 0, pid: 1, pages: 4, write: true, exec: false, huge: false }],
  ['compaction.fragment', { guest: 0, pid: 1, pages: 4 }],
  ['mm.populate', { guest: 0, pid: 1, pages: 4 }],
])('%s: a range crossing the end of the user half is out-of-range, one ending at it is mapped', (kind, args) => {
  const r = scenario(machine({}), [op('guest.spawn', { guest: 0 }), op(kind, { ...args, vpn: USER_END_4 - 2 }), op(kind, { ...args, vpn: USER_END_4 - 4 })]);
  expect(kinds(r)).toEqual([]);
  expect(r.results.map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'out-of-range', 'ok']);
  const p = r.world.guests[0]!.processes.get(1)!;
  expect(p.vmaAt(USER_END_4 - 4)?.end).toBe(USER_END_4);
  expect(p.vmas).toHaveLength(1);
});
