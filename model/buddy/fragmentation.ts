/**
 * Fragmentation metrics and the /proc views of the free lists, as pure functions over free
 * block counts.
 *
 * Sources: mm/vmstat.c `fill_contig_page_info`, `__fragmentation_index`, `frag_show_print`
 * (/proc/buddyinfo), `pagetypeinfo_showfree_print` (/proc/pagetypeinfo).
 */
import { MAX_PAGE_ORDER } from '../constants';
import { MIGRATE_TYPES, MIGRATE_TYPE_NAMES, type MigrateType } from './migratetype';

/** Free block counts per order 0..MAX_PAGE_ORDER (`zone->free_area[order].nr_free`). */
export type OrderCounts = readonly number[];

/** mm/vmstat.c `struct contig_page_info`. */
export interface ContigPageInfo {
  readonly freePages: number;
  readonly freeBlocksTotal: number;
  /** Free blocks of the requested size that the free blocks of >= that order could supply. */
  readonly freeBlocksSuitable: number;
}

/** mm/vmstat.c `fill_contig_page_info`. */
export function contigPageInfo(nrFree: OrderCounts, suitableOrder: number): ContigPageInfo {
  let freePages = 0;
  let freeBlocksTotal = 0;
  let freeBlocksSuitable = 0;
  for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
    const blocks = nrFree[order] ?? 0;
    freeBlocksTotal += blocks;
    freePages += blocks * 2 ** order;
    if (order >= suitableOrder) freeBlocksSuitable += blocks * 2 ** (order - suitableOrder);
  }
  return { freePages, freeBlocksTotal, freeBlocksSuitable };
}

/**
 * mm/vmstat.c `__fragmentation_index`: 0 when nothing is free ("allocation would fail due to
 * lack of memory"); -1000 when a suitable block exists (the index "only makes sense when a
 * request would fail"); else `1000 - (1000 + free_pages * 1000 / requested) / free_blocks`,
 * with C unsigned integer division at both steps (div_u64). Towards 1000: failure is due to
 * fragmentation.
 */
export function fragmentationIndex(order: number, nrFree: OrderCounts): number {
  // WARN_ON_ONCE(order > MAX_PAGE_ORDER) returns 0 in the kernel.
  if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) return 0;
  const info = contigPageInfo(nrFree, order);
  if (info.freeBlocksTotal === 0) return 0;
  if (info.freeBlocksSuitable > 0) return -1000;
  const requested = 2 ** order;
  const perRequest = Math.floor((info.freePages * 1000) / requested);
  return 1000 - Math.floor((1000 + perRequest) / info.freeBlocksTotal);
}

/** Per-list free block counts: list -> counts per order. */
export type ListCounts = Readonly<Record<MigrateType, OrderCounts>>;

/**
 * /proc/buddyinfo's numbers: `free_area[order].nr_free`, which counts the blocks on every list
 * of the order, ISOLATE included (mm/vmstat.c frag_show_print).
 */
export function buddyinfo(perList: ListCounts): number[] {
  const out: number[] = [];
  for (let order = 0; order <= MAX_PAGE_ORDER; order++) {
    let n = 0;
    for (const mt of MIGRATE_TYPES) n += perList[mt][order] ?? 0;
    out.push(n);
  }
  return out;
}

/** One /proc/buddyinfo line: `Node %d, zone %8s ` then `%6lu ` per order. */
export function formatBuddyinfo(counts: OrderCounts, zone = 'Normal', node = 0): string {
  let line = `Node ${node}, zone ${zone.padStart(8)} `;
  for (let order = 0; order <= MAX_PAGE_ORDER; order++) line += `${String(counts[order] ?? 0).padStart(6)} `;
  return line;
}

/** /proc/pagetypeinfo's free-block table: one row per migrate type, counts per order. */
export function pagetypeinfo(perList: ListCounts): { type: MigrateType; counts: number[] }[] {
  return MIGRATE_TYPES.map((type) => ({
    type,
    counts: Array.from({ length: MAX_PAGE_ORDER + 1 }, (_, order) => perList[type][order] ?? 0),
  }));
}

/** /proc/pagetypeinfo lines: `Node %4d, zone %8s, type %12s ` then `%6lu ` per order. */
export function formatPagetypeinfo(perList: ListCounts, zone = 'Normal', node = 0): string[] {
  return pagetypeinfo(perList).map(({ type, counts }) => {
    let line = `Node ${String(node).padStart(4)}, zone ${zone.padStart(8)}, type ${MIGRATE_TYPE_NAMES[type].padStart(12)} `;
    for (const c of counts) line += `${String(c).padStart(6)} `;
    return line;
  });
}
