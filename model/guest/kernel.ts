/**
 * The guest kernel's memory-management calls that operations drive: process creation and
 * exit, mmap/munmap/mprotect of anonymous memory, and kernel allocations. TLB maintenance
 * follows Linux x86 (arch/x86/mm/tlb.c flush_tlb_mm_range): up to
 * tlb_single_page_flush_ceiling (33) pages are flushed one INVLPG each, more flush the whole
 * address space (its PCID).
 */
import { FRAMES_PER_2M, PTE_RW } from '../constants';
import type { MigrateType } from '../buddy/migratetype';
import { guestIsLeaf, guestPresent, framesAtLevel, isMigrationEntry, migrationEntry } from '../paging/entries';
import type { World } from '../world';
import { ok, refuse, type OpResult, type Refusal } from '../result';
import type { Guest } from './guest';
import { Process, type Prot } from './process';
import { allocTable, dropTableRefs, deepestSlot, tableAt, writeEntry } from './page-tables';
import { physWrite, touch } from './phys';
import { allocZeroed } from './alloc';
import { hex } from '../../properties/violation';

/** arch/x86/mm/tlb.c: tlb_single_page_flush_ceiling. */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;

export function spawn(world: World, g: Guest): OpResult {
  const pid = g.nextPid;
  const cr3 = allocTable(world, g, pid, g.config.guestLevels, -1, 0, 0);
  if (typeof cr3 !== 'number') return cr3;
  g.nextPid++;
  g.processes.set(pid, new Process(pid, cr3));
  world.journal.guests.add(g.id);
  world.journal.note(() => `g${g.id}: spawn pid ${pid} (cr3 gfn ${hex(cr3)})`);
  world.transition('nested-mmu', 'no-process', 'process');
  return ok(pid);
}

export function mmap(world: World, g: Guest, p: Process, start: number, pages: number, prot: Prot, huge: boolean): OpResult {
  if (huge && (start % FRAMES_PER_2M !== 0 || pages % FRAMES_PER_2M !== 0))
    return refuse('misaligned', `huge VMA must be 2 MiB aligned: va ${hex(start * 4096)} +${pages}`);
  if (p.overlaps(start, start + pages)) return refuse('overlap', `va ${hex(start * 4096)} +${pages} overlaps a VMA`);
  p.addVma({ start, end: start + pages, prot, huge });
  world.journal.range(g.id, p.pid, start, start + pages);
  world.journal.note(() => `g${g.id} pid ${p.pid}: mmap va ${hex(start * 4096)} +${pages} pages${huge ? ' (huge)' : ''}`);
  return ok();
}

/**
 * Fault in every page-table page of pid before changing anything, so that an operation that
 * cannot get at its tables (the host is out of memory to swap one back in) is refused whole,
 * never half done.
 */
export function tablesResident(world: World, g: Guest, pid: number): Refusal | null {
  for (const [gfn, t] of g.tables) {
    if (t.pid !== pid) continue;
    const hfn = touch(world, g, gfn);
    if (typeof hfn !== 'number') return hfn;
  }
  return null;
}

/** Flush [start, end) of pid from the TLB, by pages or whole, as Linux x86 decides. */
export function flushRange(world: World, g: Guest, pid: number, start: number, end: number): void {
  if (end - start > TLB_SINGLE_PAGE_FLUSH_CEILING) world.tlb.flushPcid(g.vpid, pid);
  else for (let v = start; v < end; v++) world.tlb.invlpg(g.vpid, pid, v);
}

export function munmap(world: World, g: Guest, p: Process, start: number, pages: number): OpResult {
  const end = start + pages;
  for (const v of p.vmas) {
    if (v.huge && v.start < end && start < v.end && (start % FRAMES_PER_2M !== 0 || end % FRAMES_PER_2M !== 0))
      return refuse('misaligned', `munmap of part of a 2 MiB page at va ${hex(start * 4096)}`);
    if (v.pageFrames && v.start < end && start < v.end && (start % v.pageFrames !== 0 || end % v.pageFrames !== 0))
      return refuse('misaligned', `munmap of part of a ${v.pageFrames}-page page at va ${hex(start * 4096)}`);
  }
  const unreachable = tablesResident(world, g, p.pid);
  if (unreachable) return unreachable;
  // Mechanisms first look at what the range holds (dirty bits of file pages, swap entries).
  for (const hook of g.unmapHooks) hook(world, g, p, start, end);
  const zapped: { gfn: number; order: number }[] = [];
  const emptied = new Set<number>();
  // 1. zap the leaves (zap_pte_range), noting each table the range leaves empty.
  for (let vpn = start; vpn < end; ) {
    const slot = deepestSlot(world, g, p, vpn, 1);
    if ('ok' in slot) return slot;
    if (guestPresent(slot.entry) && guestIsLeaf(slot.entry, slot.level)) {
      writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, undefined);
      zapped.push({ gfn: slot.entry.pfn, order: slot.level === 2 ? 9 : 0 });
      world.transition('nested-mmu', 'mapped', 'unmapped');
    } else if (isMigrationEntry(slot.entry)) {
      // zap_nonpresent_ptes: a migration entry is dropped; the migration finds its mapping gone
      // and frees both pages itself (mm/migrate.c: the folios are held by the migration).
      writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, undefined);
    }
    if (slot.table.size === 0) emptied.add(slot.tableGfn);
    const span = framesAtLevel(slot.level);
    vpn = vpn - (vpn % span) + span;
  }
  p.removeRange(start, end);
  world.journal.range(g.id, p.pid, start, end);
  // 2. unlink the emptied page-table pages, and the tables above that they leave empty in turn
  // (free_pgtables).
  const unlinked: number[] = [];
  for (const t of emptied) unlinkEmptied(world, g, p, t, unlinked);
  // 3. one flush for the whole gather (tlb_finish_mmu -> flush_tlb_mm_range): by pages or whole,
  // freed tables or not (the model's TLB caches no paging structures, and an INVLPG drops those
  // of the whole PCID anyway, SDM vol. 3A 4.10.4.1). Hazard: skipping it leaves translations to
  // frames that the next step may hand to someone else (CVE-2018-18281).
  if (!world.fault('tlb-no-flush-on-unmap')) flushRange(world, g, p.pid, start, end);
  // 4. only now free the frames and the table pages
  for (const f of zapped) freeUserFrames(world, g, f.gfn, f.order);
  for (const t of unlinked) freeTablePage(world, g, t);
  world.journal.note(() => `g${g.id} pid ${p.pid}: munmap va ${hex(start * 4096)} +${pages} pages, ${zapped.length} leaves and ${unlinked.length} tables gone`);
  return ok();
}

export function freeUserFrames(world: World, g: Guest, gfn: number, order: number): void {
  // A leaf of an object-backed VMA maps a frame its mechanism owns (a page-cache page, a DAX
  // window): unmapping drops the mapping, not the frame.
  if (g.owners.get(gfn)?.kind !== 'anon') return;
  // A page a mechanism still holds a reference to (isolated for migration) is freed by that
  // mechanism when it lets go (folio_put with the isolation's reference still held).
  if (g.heldOnFree.some((h) => h(world, g, gfn, order))) return;
  for (let i = 0, n = 1 << order; i < n; i++) g.clearOwner(gfn + i);
  guestFree(world, g, gfn, order);
}

/** Give a block back to the guest buddy; a refused free is the model's own bug, recorded. */
export function guestFree(world: World, g: Guest, gfn: number, order: number): void {
  for (const h of g.freeHooks) h.prepare?.(world, g, gfn, order);
  const r = g.buddy.free(gfn, order);
  if (r !== undefined) world.anomaly('guest-ownership', 'bad-free', `g${g.id} gfn ${hex(gfn)} order ${order}`, 'an allocated block', r.error);
  else for (const h of g.freeHooks) h.freed?.(world, g, gfn, order);
}

/**
 * Clear the parent entry of an emptied table, and go on up while that leaves the parent empty;
 * the root (CR3) stays. Each table unlinked is added to `unlinked`, for freeing after the flush.
 */
function unlinkEmptied(world: World, g: Guest, p: Process, tableGfn: number, unlinked: number[]): void {
  for (let t = tableGfn; t !== p.cr3; ) {
    // Hazard: the parent entry must be cleared before the page goes back to the allocator;
    // otherwise the walk follows it into whatever the page becomes next (the class of 5e0fb5df2ee8).
    if (world.fault('pt-page-freed-while-linked')) {
      unlinked.push(t);
      return;
    }
    const info = g.tables.get(t)!;
    const parent = tableAt(world, g, info.parent);
    if ('ok' in parent) return;
    writeEntry(world, g, p.pid, info.parent, parent, info.index, undefined);
    unlinked.push(t);
    if (parent.size > 0) return;
    t = info.parent;
  }
}

function freeTablePage(world: World, g: Guest, tableGfn: number): void {
  g.tables.delete(tableGfn);
  g.clearOwner(tableGfn);
  guestFree(world, g, tableGfn, 0);
}

export function mprotect(world: World, g: Guest, p: Process, start: number, pages: number, prot: Prot): OpResult {
  const end = start + pages;
  for (let v = start; v < end; ) {
    const vma = p.vmaAt(v);
    if (!vma) return refuse('no-such-mapping', `mprotect: va ${hex(v * 4096)} is not mapped`);
    if (vma.huge && (start % FRAMES_PER_2M !== 0 || end % FRAMES_PER_2M !== 0))
      return refuse('misaligned', `mprotect of part of a 2 MiB page at va ${hex(start * 4096)}`);
    if (vma.pageFrames && (start % vma.pageFrames !== 0 || end % vma.pageFrames !== 0))
      return refuse('misaligned', `mprotect of part of a ${vma.pageFrames}-page page at va ${hex(start * 4096)}`);
    v = vma.end;
  }
  const unreachable = tablesResident(world, g, p.pid);
  if (unreachable) return unreachable;
  p.protectRange(start, end, prot);
  for (let vpn = start; vpn < end; ) {
    const slot = deepestSlot(world, g, p, vpn, 1);
    if ('ok' in slot) return slot;
    if (guestPresent(slot.entry) && guestIsLeaf(slot.entry, slot.level)) {
      // can_change_pte_writable: only an exclusive anonymous page becomes writable in place; a
      // shared page (the zero page) stays read-only and a write fault copies it.
      const exclusive = g.owners.get(slot.entry.pfn)?.kind === 'anon';
      const flags = (slot.entry.flags & ~PTE_RW) | (prot.write && exclusive ? PTE_RW : 0);
      writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, { pfn: slot.entry.pfn, flags, nx: !prot.exec });
    } else if (isMigrationEntry(slot.entry)) {
      // change_pte_range: a writable migration entry loses write with the VMA (make_readable_migration_entry).
      const writable = (slot.entry.flags & PTE_RW) !== 0 && prot.write;
      writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, migrationEntry(slot.entry.pfn, writable, !prot.exec));
    }
    const span = framesAtLevel(slot.level);
    vpn = vpn - (vpn % span) + span;
  }
  world.journal.range(g.id, p.pid, start, end);
  flushRange(world, g, p.pid, start, end);
  return ok();
}

export function exit(world: World, g: Guest, p: Process): OpResult {
  const unreachable = tablesResident(world, g, p.pid);
  if (unreachable) return unreachable;
  for (const v of [...p.vmas]) {
    const r = munmap(world, g, p, v.start, v.end - v.start);
    if (!r.ok) return r;
  }
  // Free what is left of the tree (free_pgtables over the whole range): the root, and any table
  // munmap could not unlink (its parent unreadable); munmap freed the rest, leaves first.
  const mine = [...g.tables.entries()].filter(([, t]) => t.pid === p.pid);
  for (const [gfn] of mine) freeTablePage(world, g, gfn);
  dropTableRefs(g, new Set(mine.map(([gfn]) => gfn)));
  world.tlb.flushPcid(g.vpid, p.pid);
  g.processes.delete(p.pid);
  world.journal.guests.add(g.id);
  world.journal.range(g.id, p.pid, 0, Number.MAX_SAFE_INTEGER);
  world.journal.note(() => `g${g.id}: exit pid ${p.pid}`);
  world.transition('nested-mmu', 'process', 'no-process');
  return ok();
}

export function kalloc(world: World, g: Guest, order: number, mt: MigrateType): OpResult {
  // kzalloc: the kernel clears what it allocates.
  const gfn = allocZeroed(world, g, order, mt, `kalloc order ${order}`);
  if (typeof gfn !== 'number') return gfn;
  const id = g.nextAlloc++;
  for (let i = 0, n = 1 << order; i < n; i++) g.setOwner(gfn + i, { kind: 'kernel', alloc: id });
  g.kernelAllocs.set(id, { gfn, order });
  return ok(id);
}

export function kfree(world: World, g: Guest, id: number): OpResult {
  const a = g.kernelAllocs.get(id);
  if (!a) return refuse('no-such-allocation', `g${g.id} has no kernel allocation #${id}`);
  g.kernelAllocs.delete(id);
  for (let i = 0, n = 1 << a.order; i < n; i++) g.clearOwner(a.gfn + i);
  guestFree(world, g, a.gfn, a.order);
  return ok();
}

export function kwrite(world: World, g: Guest, id: number): OpResult {
  const a = g.kernelAllocs.get(id);
  if (!a) return refuse('no-such-allocation', `g${g.id} has no kernel allocation #${id}`);
  const v = world.nextVersion();
  const w = physWrite(world, g, a.gfn, { kind: 'data', writer: g.id, version: v });
  return w === true ? ok(v) : (w as Refusal);
}
