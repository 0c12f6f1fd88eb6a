/**
 * The guest kernel's software view of its page tables (Linux mm/memory.c __pte_alloc,
 * pmd_alloc, ..., zap_pte_range): tables are guest frames of owner 'page-table', read and
 * written through the guest's physical accesses (phys.ts), so every one of those is itself
 * translated by the EPT.
 *
 * All entry writes go through `writeEntry`, which journals the table and keeps the reverse
 * maps (leaf rmap, child-table refs) exactly in step with what the tables hold.
 */
import { guestTableOf } from '../content';
import { framesAtLevel, guestIsLeaf, guestPresent, guestTableEntry, indexAt } from '../paging/entries';
import { PageTable, type Entry } from '../paging/table';
import type { World } from '../world';
import { refuse, type Refusal } from '../result';
import type { Guest } from './guest';
import type { Process } from './process';
import { physRead, physWrite } from './phys';
import { allocZeroed } from './alloc';
import { hex } from '../../properties/violation';

/** The table held at gfn, or a refusal if the frame is not one (a corrupted tree). */
export function tableAt(world: World, g: Guest, gfn: number): PageTable | Refusal {
  const c = physRead(world, g, gfn);
  if ('ok' in c) return c;
  return guestTableOf(c) ?? refuse('invalid', `g${g.id} gfn ${hex(gfn)} should hold a page table but holds ${c.kind}`);
}

/** Allocate, clear and format a page-table page for pid at `level`. */
export function allocTable(world: World, g: Guest, pid: number, level: number, parent: number, index: number, vpnBase: number): number | Refusal {
  const gfn = allocZeroed(world, g, 0, 'UNMOVABLE', `a L${level} table`);
  if (typeof gfn !== 'number') return gfn;
  g.setOwner(gfn, { kind: 'page-table', pid, level });
  g.zeroings++;
  physWrite(world, g, gfn, { kind: 'table', writer: g.id, table: new PageTable('guest', level) });
  g.tables.set(gfn, { pid, level, parent, index, vpnBase });
  return gfn;
}

/** Write one entry of the table at tableGfn, keeping rmap and child refs in step. */
export function writeEntry(world: World, g: Guest, pid: number, tableGfn: number, table: PageTable, index: number, e: Entry | undefined): void {
  const info = g.tables.get(tableGfn);
  const level = table.level;
  const span = framesAtLevel(level);
  const vpn = (info?.vpnBase ?? 0) + index * span;
  const old = table.get(index);
  if (guestPresent(old)) {
    if (guestIsLeaf(old, level)) g.rmap.remove(old.pfn, level, pid, vpn);
    else g.tableRefs.delete(old.pfn); // a table page has one parent entry: this one
  }
  table.set(index, e);
  if (guestPresent(e)) {
    if (guestIsLeaf(e, level)) g.rmap.add(e.pfn, level, pid, vpn);
    else g.tableRefs.set(e.pfn, { table: tableGfn, index });
  }
  world.journal.guestTable(g.id, tableGfn);
  world.journal.range(g.id, pid, vpn, vpn + span);
  const hfn = g.backing.get(tableGfn);
  if (hfn !== undefined) world.journal.frame(hfn);
}

/** The given tables are gone (a process's tree at its end): the parent entries recorded in them go too. */
export function dropTableRefs(g: Guest, tables: ReadonlySet<number>): void {
  for (const [child, ref] of [...g.tableRefs]) if (tables.has(ref.table)) g.tableRefs.delete(child);
}

export interface LeafSlot {
  readonly tableGfn: number;
  readonly table: PageTable;
  readonly index: number;
  readonly level: number;
  readonly entry: Entry | undefined;
}

/** The slot of vpn at leafLevel if the tables down to it exist (null if not); allocates nothing. */
export function findSlot(world: World, g: Guest, p: Process, vpn: number, leafLevel: number): LeafSlot | null | Refusal {
  const s = deepestSlot(world, g, p, vpn, leafLevel);
  return 'ok' in s || s.level === leafLevel || guestPresent(s.entry) ? s : null;
}

/**
 * findSlot for a walk over a range: where a table is missing, the empty slot above it (its
 * level tells the frames the missing entry covers, so that a sparse range is skipped a missing
 * entry at a time instead of page by page).
 */
export function deepestSlot(world: World, g: Guest, p: Process, vpn: number, leafLevel: number): LeafSlot | Refusal {
  return walkToSlot(world, g, p, vpn, leafLevel, false);
}

/** The slot of vpn at leafLevel, allocating the tables missing on the way. */
export function slotFor(world: World, g: Guest, p: Process, vpn: number, leafLevel: number): LeafSlot | Refusal {
  return walkToSlot(world, g, p, vpn, leafLevel, true);
}

/**
 * The walk behind them: the slot for vpn at `leafLevel` (1 for 4 KiB, 2 for 2 MiB), allocating
 * missing tables when `create` is set. Returns the empty slot above `leafLevel` where a table is
 * missing and not created (so never with `create`), and the slot of a huge leaf above
 * `leafLevel` when one covers vpn (the caller splits or refuses).
 */
function walkToSlot(world: World, g: Guest, p: Process, vpn: number, leafLevel: number, create: boolean): LeafSlot | Refusal {
  let tableGfn = p.cr3;
  for (let level = g.config.guestLevels; level > leafLevel; level--) {
    const table = tableAt(world, g, tableGfn);
    if ('ok' in table) return table;
    const index = indexAt(vpn, level);
    const e = table.get(index);
    if (guestPresent(e)) {
      if (guestIsLeaf(e, level)) return { tableGfn, table, index, level, entry: e };
      tableGfn = e.pfn;
      continue;
    }
    if (!create) return { tableGfn, table, index, level, entry: undefined };
    const span = framesAtLevel(level);
    const child = allocTable(world, g, p.pid, level - 1, tableGfn, index, vpn - (vpn % span));
    if (typeof child !== 'number') return child;
    // The table object may have moved if allocating the child faulted frames in: reread.
    const again = tableAt(world, g, tableGfn);
    if ('ok' in again) return again;
    writeEntry(world, g, p.pid, tableGfn, again, index, guestTableEntry(child));
    tableGfn = child;
  }
  const table = tableAt(world, g, tableGfn);
  if ('ok' in table) return table;
  const index = indexAt(vpn, leafLevel);
  return { tableGfn, table, index, level: leafLevel, entry: table.get(index) };
}
