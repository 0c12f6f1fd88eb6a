/**
 * The zeroings-per-page figures (fuzz/zeroings.ts): the ordinary path clears each data page
 * twice (host and guest), memctl once (host only), with 4 KiB and 2 MiB host backing; through
 * a 1 GiB guest page over the memctl region, once per hand-out (touched, DONTNEEDed, touched).
 */
import { measureZeroings } from './zeroings';

test('memctl zeroes each page once, the ordinary path twice', () => {
  const rows = measureZeroings(128);
  expect(rows.map((r) => [r.path, r.hostBacking, r.hostPerPage, r.guestPerPage, r.totalPerPage])).toEqual([
    ['ordinary', '4K', 1, 1, 2],
    ['memctl', '4K', 1, 0, 1],
    ['memctl-1g', '4K', 1, 0, 1],
    ['ordinary', '2M', 1, 1, 2],
    ['memctl', '2M', 1, 0, 1],
    ['memctl-1g', '2M', 1, 0, 1],
  ]);
});
