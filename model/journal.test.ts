/**
 * Journal marks: each names what changed, by a key the incremental checkers look up
 * (properties/), so a mark without a key is refused rather than filed where no checker looks.
 */
import { Journal } from './journal';

test('a mark needs a key', () => {
  const j = new Journal();
  expect(() => j.mark('', 3)).toThrow(new RangeError('journal mark of 3 without a key'));
  expect(() => j.mark('ksm:node', 3)).not.toThrow();
});

test('change notes are collected only once asked for, and each step starts with none', () => {
  const quiet = new Journal();
  quiet.note(() => 'unread');
  quiet.clear();
  quiet.note(() => 'still unread');
  expect(quiet.changes).toBeNull();

  const verbose = new Journal();
  verbose.changes = [];
  verbose.note(() => 'step 1');
  expect(verbose.changes).toEqual(['step 1']);
  verbose.clear();
  expect(verbose.changes).toEqual([]);
  verbose.note(() => 'step 2');
  expect(verbose.changes).toEqual(['step 2']);
});

test('table marks gather per guest within a step and are cleared with it', () => {
  const j = new Journal();
  j.guestTable(0, 5);
  j.guestTable(0, 7);
  j.guestTable(1, 9);
  j.eptTable(0, 0x100);
  j.eptTable(0, 0x101);
  j.eptTable(2, 0x200);
  expect(j.guestTables).toEqual(new Map([[0, new Set([5, 7])], [1, new Set([9])]]));
  expect(j.eptTables).toEqual(new Map([[0, new Set([0x100, 0x101])], [2, new Set([0x200])]]));
  j.clear();
  expect(j.guestTables.size + j.eptTables.size).toBe(0);
});
