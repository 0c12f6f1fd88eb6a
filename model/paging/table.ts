/**
 * A paging-structure table: 512 entries, stored sparsely (absent = not present, the value a
 * zeroed frame reads as). Guest tables live in guest frames and EPT tables in host frames;
 * either way the table is the content of a host frame (content.ts, kind 'table').
 *
 * Levels count from the leaf: 1 = PT (4 KiB leaves), 2 = PD (PS: 2 MiB), 3 = PDPT
 * (PS: 1 GiB), 4 = PML4, 5 = PML5 (Intel SDM vol. 3A 4.5; vol. 3C 29.3 for EPT).
 */
import { PT_ENTRIES } from '../constants';

export type TableKind = 'guest' | 'ept';

/**
 * One entry. `flags` holds the entry's low 12 bits with their real positions (PTE_* or EPT_*
 * of constants.ts); `nx` is bit 63 of a guest entry (EPT uses its X bit instead); `pfn` is the
 * frame the entry points at: a guest frame (gfn) in guest tables, a host frame in EPT tables.
 */
export interface Entry {
  readonly pfn: number;
  readonly flags: number;
  readonly nx: boolean;
}

export class PageTable {
  private readonly entries = new Map<number, Entry>();

  constructor(
    readonly kind: TableKind,
    readonly level: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(index: number): Entry | undefined {
    return this.entries.get(index);
  }

  /** Callers go through guest/page-tables.ts or mmu/ept.ts, which journal the write. */
  set(index: number, e: Entry | undefined): void {
    if (index < 0 || index >= PT_ENTRIES) throw new RangeError(`table index ${index}`);
    if (e === undefined) this.entries.delete(index);
    else this.entries.set(index, e);
  }

  /** Present entries in index order of insertion; callers that need order sort. */
  forEach(fn: (e: Entry, index: number) => void): void {
    this.entries.forEach(fn);
  }

  indexes(): number[] {
    return [...this.entries.keys()].sort((a, b) => a - b);
  }

  clone(): PageTable {
    const t = new PageTable(this.kind, this.level);
    this.entries.forEach((e, i) => t.entries.set(i, e));
    return t;
  }

  sameEntries(other: PageTable): boolean {
    if (other.kind !== this.kind || other.level !== this.level || other.size !== this.size) return false;
    for (const [i, e] of this.entries) {
      const o = other.entries.get(i);
      if (!o || o.pfn !== e.pfn || o.flags !== e.flags || o.nx !== e.nx) return false;
    }
    return true;
  }
}
