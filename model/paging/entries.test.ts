/**
 * SDM 29.3.3.1's EPT misconfigurations as eptMisconfigured reports them: W or X without R,
 * a reserved memory type (2, 3, 7) in a leaf, bit 7 above the PDPTE; a well-formed entry is
 * null. (The model never writes a misconfigured entry; the checks use this to say why one is.)
 */
import { EPT_EXEC, EPT_LARGE, EPT_MT_SHIFT, EPT_READ, EPT_WRITE } from '../constants';
import { eptMisconfigured } from './entries';

const e = (flags: number) => ({ pfn: 5, flags, nx: false });

test.each([
  ['write without read', e(EPT_WRITE), 1, 'W or X without R'],
  ['exec without read', e(EPT_EXEC), 3, 'W or X without R'],
  ['memory type 2 in a 4 KiB leaf', e(EPT_READ | (2 << EPT_MT_SHIFT)), 1, 'reserved memory type 2'],
  ['memory type 7 in a 2 MiB leaf', e(EPT_READ | EPT_LARGE | (7 << EPT_MT_SHIFT)), 2, 'reserved memory type 7'],
  ['bit 7 at level 4', e(EPT_READ | EPT_LARGE), 4, 'bit 7 set above the PDPTE'],
  ['a write-back RWX leaf', e(EPT_READ | EPT_WRITE | EPT_EXEC | (6 << EPT_MT_SHIFT)), 1, null],
  ['a table entry (memory type ignored)', e(EPT_READ | EPT_WRITE | (2 << EPT_MT_SHIFT)), 3, null],
])('%s', (_name, entry, level, expected) => {
  expect(eptMisconfigured(entry, level)).toBe(expected);
});
