/**
 * SDM 29.3.3.1's EPT misconfigurations as eptMisconfigured reports them: W or X without R,
 * a reserved memory type (2, 3, 7) in a leaf, bit 7 above the PDPTE; a well-formed entry is
 * null. (The model never writes a misconfigured entry; the checks use this to say why one is.)
 */
import { EPT_EXEC, EPT_LARGE, EPT_MT_SHIFT, EPT_MT_WB, EPT_READ, EPT_WRITE, PTE_PRESENT, PTE_PS, PTE_RW, PTE_USER } from '../constants';
import {
  eptIsLeaf, eptLeafEntry, eptMisconfigured, eptPresent, eptTableEntry, framesAtLevel, guestEntry, guestIsLeaf, guestPresent,
  guestPsReserved, guestTableEntry, indexAt, isMigrationEntry, migrationEntry, PTE_SWP_MIGRATION,
} from './entries';

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

// The rest of the entry rules, each at the levels where its answer changes (SDM vol. 3A 4.5
// for guest entries, vol. 3C 29.3 for EPT entries).

test('an entry at level l covers 512^(l-1) frames; indexAt takes 9 bits per level', () => {
  expect([1, 2, 3, 4, 5].map(framesAtLevel)).toEqual([1, 512, 512 ** 2, 512 ** 3, 512 ** 4]);
  const vpn = 6 * 512 ** 3 + 129 * 512 ** 2 + 64 * 512 + 5;
  expect(indexAt(vpn, 1)).toBe(5);
  expect(indexAt(vpn, 2)).toBe(64);
  expect(indexAt(vpn, 3)).toBe(129);
  expect(indexAt(vpn, 4)).toBe(6);
  expect(indexAt(511, 1)).toBe(511);
  expect(indexAt(512, 1)).toBe(0);
  expect(indexAt(512, 2)).toBe(1);
});

test('guest entries: present bit, leaves only at PT/PD/PDPT, PS reserved from the PML4 up', () => {
  const g = (flags: number) => ({ pfn: 9, flags, nx: false });
  expect(guestPresent(undefined)).toBe(false);
  expect(guestPresent(g(PTE_RW | PTE_USER))).toBe(false);
  expect(guestPresent(g(PTE_PRESENT))).toBe(true);
  expect(guestIsLeaf(g(PTE_PRESENT), 1)).toBe(true);
  for (const level of [2, 3]) {
    expect(guestIsLeaf(g(PTE_PRESENT), level)).toBe(false);
    expect(guestIsLeaf(g(PTE_PRESENT | PTE_PS), level)).toBe(true);
    expect(guestPsReserved(g(PTE_PRESENT | PTE_PS), level)).toBe(false);
  }
  for (const level of [4, 5]) {
    expect(guestIsLeaf(g(PTE_PRESENT | PTE_PS), level)).toBe(false);
    expect(guestPsReserved(g(PTE_PRESENT | PTE_PS), level)).toBe(true);
    expect(guestPsReserved(g(PTE_PRESENT), level)).toBe(false);
  }
});

test('guest entries carry exactly the permissions asked for; a table entry grants everything', () => {
  expect(guestEntry(7, { writable: false, user: false, nx: true })).toEqual({ pfn: 7, flags: PTE_PRESENT, nx: true });
  expect(guestEntry(7, { writable: true, user: false, nx: false })).toEqual({ pfn: 7, flags: PTE_PRESENT | PTE_RW, nx: false });
  expect(guestEntry(7, { writable: false, user: true, nx: false }, PTE_PS)).toEqual({ pfn: 7, flags: PTE_PRESENT | PTE_USER | PTE_PS, nx: false });
  expect(guestTableEntry(8)).toEqual({ pfn: 8, flags: PTE_PRESENT | PTE_RW | PTE_USER, nx: false });
});

test('EPT entries: present with any of R, W, X; bit 7 makes a leaf only in a PD or PDPT', () => {
  expect(eptPresent(undefined)).toBe(false);
  expect(eptPresent(e(0))).toBe(false);
  expect(eptPresent(e(EPT_LARGE | (6 << EPT_MT_SHIFT)))).toBe(false);
  for (const bit of [EPT_READ, EPT_WRITE, EPT_EXEC]) expect(eptPresent(e(bit))).toBe(true);
  expect(eptIsLeaf(e(EPT_READ), 1)).toBe(true);
  for (const level of [2, 3]) {
    expect(eptIsLeaf(e(EPT_READ), level)).toBe(false);
    expect(eptIsLeaf(e(EPT_READ | EPT_LARGE), level)).toBe(true);
  }
  expect(eptIsLeaf(e(EPT_READ | EPT_LARGE), 4)).toBe(false);
});

test('more EPT misconfigurations: X without R in a table, memory type 3 in a 1 GiB leaf, bit 7 in a PML5 entry; a readable large leaf of type WB is well formed', () => {
  expect(eptMisconfigured(e(EPT_EXEC | EPT_WRITE), 4)).toBe('W or X without R');
  expect(eptMisconfigured(e(EPT_READ | EPT_LARGE | (3 << EPT_MT_SHIFT)), 3)).toBe('reserved memory type 3');
  expect(eptMisconfigured(e(EPT_READ | EPT_LARGE | (EPT_MT_WB << EPT_MT_SHIFT)), 3)).toBeNull();
  expect(eptMisconfigured(e(EPT_READ | (1 << EPT_MT_SHIFT)), 1)).toBeNull();
  expect(eptMisconfigured(e(EPT_READ | EPT_LARGE), 5)).toBe('bit 7 set above the PDPTE');
  expect(eptMisconfigured(e(EPT_READ | EPT_WRITE), 4)).toBeNull();
  expect(eptMisconfigured(e(0), 1)).toBeNull();
});

test('EPT leaves are write-back, with bit 7 above level 1; table entries are RWX', () => {
  const wb = EPT_MT_WB << EPT_MT_SHIFT;
  expect(eptLeafEntry(3, 1, EPT_READ)).toEqual({ pfn: 3, flags: EPT_READ | wb, nx: false });
  expect(eptLeafEntry(512, 2, EPT_READ | EPT_WRITE)).toEqual({ pfn: 512, flags: EPT_READ | EPT_WRITE | wb | EPT_LARGE, nx: false });
  expect(eptTableEntry(4)).toEqual({ pfn: 4, flags: EPT_READ | EPT_WRITE | EPT_EXEC, nx: false });
});

test('a migration entry is non-present, keeps the frame, the write permission and NX; a present entry with bit 10 is not one', () => {
  const w = migrationEntry(42, true, true);
  expect(w).toEqual({ pfn: 42, flags: PTE_SWP_MIGRATION | PTE_RW, nx: true });
  expect(guestPresent(w)).toBe(false);
  expect(isMigrationEntry(w)).toBe(true);
  expect(migrationEntry(42, false, false)).toEqual({ pfn: 42, flags: PTE_SWP_MIGRATION, nx: false });
  expect(isMigrationEntry(undefined)).toBe(false);
  expect(isMigrationEntry({ pfn: 42, flags: PTE_PRESENT | PTE_SWP_MIGRATION, nx: false })).toBe(false);
  expect(isMigrationEntry({ pfn: 42, flags: PTE_RW, nx: false })).toBe(false);
});
