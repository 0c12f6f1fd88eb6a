/**
 * Real constants of the modelled systems, one place, unit last. Relations between them are
 * checked once at load (the BUILD_BUG_ON habit) at the bottom of this file.
 */

/** x86-64 base page: PAGE_SHIFT 12 (arch/x86/include/asm/page_types.h). */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE_BYTES = 1 << PAGE_SHIFT;

/** include/linux/mmzone.h: MAX_PAGE_ORDER (formerly MAX_ORDER - 1). */
export const MAX_PAGE_ORDER = 10;
/** include/linux/pageblock-flags.h: pageblock_order = HUGETLB_PAGE_ORDER on x86-64 (2 MiB). */
export const PAGEBLOCK_ORDER = 9;
export const PAGEBLOCK_FRAMES = 1 << PAGEBLOCK_ORDER;
/** include/linux/mmzone.h: PAGE_ALLOC_COSTLY_ORDER. */
export const PAGE_ALLOC_COSTLY_ORDER = 3;

/** Entries per paging-structure table, guest and EPT alike (Intel SDM vol. 3A 4.5, 3C 29.3). */
export const PT_ENTRIES = 512;
export const PT_INDEX_BITS = 9;

/** Page sizes a leaf can map, as a shift over bytes: 4 KiB, 2 MiB, 1 GiB. */
export const HUGE_2M_SHIFT = 21;
export const HUGE_1G_SHIFT = 30;
/** The same sizes in 4 KiB frames. */
export const FRAMES_PER_2M = 1 << (HUGE_2M_SHIFT - PAGE_SHIFT);
export const FRAMES_PER_1G = 1 << (HUGE_1G_SHIFT - PAGE_SHIFT);

/**
 * x86-64 page-table entry bits (arch/x86/include/asm/pgtable_types.h _PAGE_BIT_*). NX is bit
 * 63, outside JavaScript's 32-bit bitwise range, so entries keep it as a separate field.
 */
export const PTE_PRESENT = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_USER = 1 << 2;
export const PTE_PWT = 1 << 3;
export const PTE_PCD = 1 << 4;
export const PTE_ACCESSED = 1 << 5;
export const PTE_DIRTY = 1 << 6;
/** _PAGE_BIT_PSE: in a PDE maps 2 MiB, in a PDPTE 1 GiB; reserved in a PML4E/PML5E. */
export const PTE_PS = 1 << 7;
export const PTE_GLOBAL = 1 << 8;
export const PTE_NX_BIT_NUMBER = 63;

/** EPT entry bits (arch/x86/include/asm/vmx.h VMX_EPT_*). */
export const EPT_READ = 1 << 0;
export const EPT_WRITE = 1 << 1;
export const EPT_EXEC = 1 << 2;
/** Memory type, bits 5:3 (VMX_EPT_MT_EPTE_SHIFT 3); 6 = write-back (MTRR_TYPE_WRBACK). */
export const EPT_MT_SHIFT = 3;
export const EPT_MT_WB = 6;
export const EPT_IGNORE_PAT = 1 << 6;
/** Bit 7: the entry maps a large page (VMX_EPT_LARGE_PAGE... PT_PAGE_SIZE_MASK). */
export const EPT_LARGE = 1 << 7;
export const EPT_ACCESSED = 1 << 8;
export const EPT_DIRTY = 1 << 9;
export const EPT_RWX = EPT_READ | EPT_WRITE | EPT_EXEC;

/** EPTP page-walk length field (VMX_EPTP_PWL_4 / VMX_EPTP_PWL_5 encode levels - 1). */
export const VMX_EPTP_PWL_4 = 3 << 3;
export const VMX_EPTP_PWL_5 = 4 << 3;

export type PagingLevels = 4 | 5;

/** include/linux/mm.h / mm/page_alloc.c: watermark_scale_factor default, in 1/10000. */
export const WATERMARK_SCALE_FACTOR = 10;
/** mm/page_alloc.c calculate_min_free_kbytes: clamp of min_free_kbytes. */
export const MIN_FREE_KBYTES_FLOOR = 128;
export const MIN_FREE_KBYTES_CEIL = 262144;

/** Bound on how often an access is retried after a fault before the model gives up. */
export const ACCESS_RETRIES_MAX = 8;

/** The constants whose relations the model relies on, as one set (tests pass broken ones). */
export interface ConstantSet {
  readonly pageShift: number;
  readonly maxPageOrder: number;
  readonly pageblockOrder: number;
  readonly pageblockFrames: number;
  readonly ptEntries: number;
  readonly ptIndexBits: number;
  readonly huge2mShift: number;
  readonly huge1gShift: number;
  readonly framesPer2m: number;
}

/** Throw, naming every relation the set breaks (BUILD_BUG_ON's job, done once at load). */
export function checkConstantRelations(c: ConstantSet): void {
  const rules: readonly (readonly [string, boolean])[] = [
    ['pageblock_order must not exceed MAX_PAGE_ORDER', c.pageblockOrder <= c.maxPageOrder],
    ['PT_ENTRIES must be 2^PT_INDEX_BITS', 1 << c.ptIndexBits === c.ptEntries],
    ['a PDE maps 512 base pages', c.huge2mShift === c.pageShift + c.ptIndexBits],
    ['a PDPTE maps 512 PDEs', c.huge1gShift === c.huge2mShift + c.ptIndexBits],
    ['pageblock is one 2 MiB huge page on x86-64', c.pageblockFrames === c.framesPer2m],
  ];
  const broken = rules.filter(([, holds]) => !holds).map(([what]) => what);
  if (broken.length > 0) throw new Error(`constants: ${broken.join('; ')}`);
}

export const X86_64: ConstantSet = {
  pageShift: PAGE_SHIFT,
  maxPageOrder: MAX_PAGE_ORDER,
  pageblockOrder: PAGEBLOCK_ORDER,
  pageblockFrames: PAGEBLOCK_FRAMES,
  ptEntries: PT_ENTRIES,
  ptIndexBits: PT_INDEX_BITS,
  huge2mShift: HUGE_2M_SHIFT,
  huge1gShift: HUGE_1G_SHIFT,
  framesPer2m: FRAMES_PER_2M,
};
checkConstantRelations(X86_64);
