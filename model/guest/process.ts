/**
 * A guest process: an address space rooted at a page-table gfn (its CR3, tagged by its PCID =
 * pid) and its VMAs. Pages are faulted in lazily (guest/fault.ts).
 */

export interface Prot {
  readonly write: boolean;
  readonly exec: boolean;
}

/**
 * What an object-backed VMA maps instead of anonymous memory (a file's page cache, a DAX
 * window): the mechanism's kind, the object, and the vpn at which the object's page 0 would
 * sit, so a page's index is `vpn - vpnOrigin` however the VMA is later split.
 */
export interface VmaObject {
  /** The mapping's kind: a page-cache file (FILE_OBJECT), a DAX window (DAX_OBJECT), memctl's region (MEMCTL_OBJECT). */
  readonly kind: 'file' | 'dax' | 'memctl';
  readonly id: number;
  readonly vpnOrigin: number;
}

export interface Vma {
  /** First virtual page number and one past the last. */
  readonly start: number;
  readonly end: number;
  readonly prot: Prot;
  /** Backed by 2 MiB pages (start and end 512-page aligned). */
  readonly huge: boolean;
  /** Absent: anonymous memory. Splits (removeRange, protectRange) keep it. */
  readonly object?: VmaObject;
  /**
   * The page size the VMA is mapped with when larger than huge's 2 MiB (a 1 GiB page): munmap
   * and mprotect act on whole pages only (as on a hugetlb VMA: -EINVAL otherwise).
   */
  readonly pageFrames?: number;
}

export class Process {
  readonly vmas: Vma[] = [];

  constructor(
    readonly pid: number,
    readonly cr3: number,
  ) {}

  vmaAt(vpn: number): Vma | undefined {
    for (const v of this.vmas) if (vpn >= v.start && vpn < v.end) return v;
    return undefined;
  }

  overlaps(start: number, end: number): boolean {
    return this.vmas.some((v) => v.start < end && start < v.end);
  }

  addVma(v: Vma): void {
    this.vmas.push(v);
    this.vmas.sort((a, b) => a.start - b.start);
  }

  /** Remove [start, end) from the VMAs, splitting where needed (the munmap split). */
  removeRange(start: number, end: number): void {
    const keep: Vma[] = [];
    // What each VMA keeps before the range and after it: all of it when it lies wholly on one side.
    for (const v of this.vmas) {
      if (v.start < start) keep.push({ ...v, end: Math.min(v.end, start) });
      if (v.end > end) keep.push({ ...v, start: Math.max(v.start, end) });
    }
    this.vmas.length = 0;
    this.vmas.push(...keep);
  }

  /** Change protection of [start, end), splitting VMAs (the mprotect split). */
  protectRange(start: number, end: number, prot: Prot): void {
    const out: Vma[] = [];
    for (const v of this.vmas) {
      if (v.end <= start || v.start >= end) out.push(v);
      else {
        if (v.start < start) out.push({ ...v, end: start });
        out.push({ ...v, start: Math.max(v.start, start), end: Math.min(v.end, end), prot });
        if (v.end > end) out.push({ ...v, start: end });
      }
    }
    this.vmas.length = 0;
    // The pieces come out in order: the list is sorted (addVma) and every piece stays within its VMA.
    this.vmas.push(...out);
  }
}
