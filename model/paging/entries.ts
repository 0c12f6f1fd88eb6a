/**
 * Entry formats: x86-64 guest page-table entries and EPT entries, with the real bit positions
 * (constants.ts), and the rules that say what an entry means at each level.
 */
import {
  EPT_EXEC, EPT_LARGE, EPT_MT_SHIFT, EPT_MT_WB, EPT_READ, EPT_WRITE, PT_INDEX_BITS,
  PTE_PRESENT, PTE_PS, PTE_RW, PTE_USER,
} from '../constants';
import type { Entry } from './table';

/** Frames (4 KiB) covered by one entry at each level 1..5: 1, 512, 512^2, ... (hot: a table). Level 0 does not exist. */
const FRAMES_AT_LEVEL: readonly number[] = [NaN, ...[1, 2, 3, 4, 5].map((l) => 2 ** (PT_INDEX_BITS * (l - 1)))];

/** Frames (4 KiB) covered by one entry at a level: 1, 512, 512^2, ... */
export function framesAtLevel(level: number): number {
  return FRAMES_AT_LEVEL[level]!;
}

/** Index into the table of `level` for a virtual (or guest-physical) page number. */
export function indexAt(pageNumber: number, level: number): number {
  return Math.floor(pageNumber / FRAMES_AT_LEVEL[level]!) % 512;
}

// ---- guest (x86-64 IA-32e paging, SDM vol. 3A 4.5) ----

export function guestPresent(e: Entry | undefined): e is Entry {
  return e !== undefined && (e.flags & PTE_PRESENT) !== 0;
}

/** PS may map a page only in a PDE (2 MiB) or PDPTE (1 GiB); it is reserved above. */
export function guestIsLeaf(e: Entry, level: number): boolean {
  return level === 1 || ((level === 2 || level === 3) && (e.flags & PTE_PS) !== 0);
}

export function guestPsReserved(e: Entry, level: number): boolean {
  return level >= 4 && (e.flags & PTE_PS) !== 0;
}

export interface GuestPerms {
  readonly writable: boolean;
  readonly user: boolean;
  readonly nx: boolean;
}

export function guestEntry(pfn: number, perms: GuestPerms, extraFlags = 0): Entry {
  let flags = PTE_PRESENT | extraFlags;
  if (perms.writable) flags |= PTE_RW;
  if (perms.user) flags |= PTE_USER;
  return { pfn, flags, nx: perms.nx };
}

/** Non-leaf guest entries grant everything; the leaf decides (Linux's _PAGE_TABLE). */
export function guestTableEntry(pfn: number): Entry {
  return { pfn, flags: PTE_PRESENT | PTE_RW | PTE_USER, nx: false };
}

// ---- EPT (SDM vol. 3C 29.3) ----

/** An EPT entry is present when any of R, W, X is set (bits 2:0). */
export function eptPresent(e: Entry | undefined): e is Entry {
  return e !== undefined && (e.flags & (EPT_READ | EPT_WRITE | EPT_EXEC)) !== 0;
}

/** Bit 7 maps a page in an EPT PDE (2 MiB) or PDPTE (1 GiB). */
export function eptIsLeaf(e: Entry, level: number): boolean {
  return level === 1 || ((level === 2 || level === 3) && (e.flags & EPT_LARGE) !== 0);
}

/**
 * SDM 29.3.3.1: an entry with W set and R clear is an EPT misconfiguration (so is X without R
 * unless execute-only is supported; the model assumes it is not). Leaf memory type 2, 3 and 7
 * are reserved.
 */
export function eptMisconfigured(e: Entry, level: number): string | null {
  if ((e.flags & EPT_READ) === 0 && (e.flags & (EPT_WRITE | EPT_EXEC)) !== 0) return 'W or X without R';
  if (eptIsLeaf(e, level)) {
    const mt = (e.flags >> EPT_MT_SHIFT) & 7;
    if (mt === 2 || mt === 3 || mt === 7) return `reserved memory type ${mt}`;
  } else if ((e.flags & EPT_LARGE) !== 0) {
    // Not a leaf with bit 7 set: only above the PDPTE (a PD or PDPT entry with bit 7 is a leaf).
    return 'bit 7 set above the PDPTE';
  }
  return null;
}

export function eptLeafEntry(hfn: number, level: number, flags: number): Entry {
  const large = level > 1 ? EPT_LARGE : 0;
  return { pfn: hfn, flags: flags | (EPT_MT_WB << EPT_MT_SHIFT) | large, nx: false };
}

export function eptTableEntry(hfn: number): Entry {
  return { pfn: hfn, flags: EPT_READ | EPT_WRITE | EPT_EXEC, nx: false };
}

// ---- non-present guest entries: migration entries (include/linux/swapops.h) ----

/**
 * A migration entry is a non-present PTE that names the page being migrated
 * (make_readable_migration_entry / make_writable_migration_entry, mm/rmap.c try_to_migrate_one);
 * a fault on it waits for the migration to end (mm/migrate.c migration_entry_wait) and
 * remove_migration_ptes turns it back into a present PTE to the new page. Linux encodes the swap
 * type in the high bits of the non-present PTE; the model marks it with one software bit
 * (assumption) and keeps the old frame in `pfn` and the write permission in PTE_RW.
 */
export const PTE_SWP_MIGRATION = 1 << 10;

export function migrationEntry(gfn: number, writable: boolean, nx: boolean): Entry {
  return { pfn: gfn, flags: PTE_SWP_MIGRATION | (writable ? PTE_RW : 0), nx };
}

export function isMigrationEntry(e: Entry | undefined): e is Entry {
  return e !== undefined && (e.flags & PTE_PRESENT) === 0 && (e.flags & PTE_SWP_MIGRATION) !== 0;
}
