/**
 * file.read's result value (contentCode): the data version the read saw, 0 for a zero page,
 * and -1 for contents that are neither (a poison pattern, the host's boot data of version 0),
 * so a trace or a counterexample shows at a glance that a read returned something no write
 * of the guest's put there.
 */
import { data, HOST_BOOT_DATA, poison, ZERO } from '../content';
import { contentCode } from './page-cache';

test('contentCode: a written version reads as itself, zero as 0, and poison or version-0 host data as -1', () => {
  expect(contentCode(data(0, 7))).toBe(7);
  expect(contentCode(data(3, 1))).toBe(1);
  expect(contentCode(ZERO)).toBe(0);
  expect(contentCode(poison(0xaa))).toBe(-1);
  expect(contentCode(HOST_BOOT_DATA)).toBe(-1);
  expect(contentCode(data(0, 0))).toBe(-1);
});
