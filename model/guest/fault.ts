/**
 * The guest kernel's page-fault handler for anonymous memory (Linux mm/memory.c
 * do_anonymous_page; mm/huge_memory.c do_huge_pmd_anonymous_page): check the VMA and its
 * protection, allocate a guest frame (an order-9 block for a huge VMA when one is free),
 * clear it (clear_user_highpage: the guest-side zeroing), and install the leaf.
 */
import { FRAMES_PER_2M, PTE_PS, PTE_RW } from '../constants';
import { guestEntry, guestIsLeaf, guestPresent, isMigrationEntry } from '../paging/entries';
import type { AccessKind } from '../mmu/walk';
import type { World } from '../world';
import { refuse, type Refusal } from '../result';
import type { Guest } from './guest';
import type { Process } from './process';
import { slotFor, writeEntry, type LeafSlot } from './page-tables';
import { allocZeroed } from './alloc';
import { hex } from '../../properties/violation';

export function vmaAllows(p: Process, vpn: number, access: AccessKind): Refusal | null {
  const vma = p.vmaAt(vpn);
  if (!vma) return refuse('segv', `pid ${p.pid} va ${hex(vpn * 4096)}: no VMA`);
  if (access === 'write' && !vma.prot.write) return refuse('segv', `pid ${p.pid} va ${hex(vpn * 4096)}: write to a read-only VMA`);
  if (access === 'exec' && !vma.prot.exec) return refuse('segv', `pid ${p.pid} va ${hex(vpn * 4096)}: exec in a NX VMA`);
  return null;
}

/**
 * A write to a present, read-only PTE of a writable shared mapping (mm/memory.c do_wp_page ->
 * wp_page_shared -> wp_page_reuse): the page is reused in place and the PTE becomes writable;
 * the write itself then sets the dirty bit. mprotect leaves the PTEs of a shared mapping
 * read-only when it gives write back (vma_wants_writenotify: the first write must be seen), so
 * this is how they get it. `gfn` is the frame the mapping holds at this address (the file's
 * page-cache page, the DAX window's frame); any other leaf is not this handler's (null).
 */
export function reuseSharedPage(world: World, g: Guest, p: Process, slot: LeafSlot, access: AccessKind, gfn: number): true | null {
  const e = slot.entry;
  if (access !== 'write' || slot.level !== 1 || !guestPresent(e) || (e.flags & PTE_RW) !== 0 || e.pfn !== gfn) return null;
  writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, { pfn: e.pfn, flags: e.flags | PTE_RW, nx: e.nx });
  return true;
}

export function handlePageFault(world: World, g: Guest, p: Process, vpn: number, access: AccessKind): true | Refusal {
  const denied = vmaAllows(p, vpn, access);
  if (denied) return denied;
  g.pgfault++;
  // Memory a mechanism backs (a file's page cache, a DAX window, a swapped-out page) is
  // faulted in by that mechanism (filemap_fault, do_swap_page), THP's zero pages next;
  // anonymous memory below.
  for (const hook of g.pageFaultHooks) {
    const r = hook(world, g, p, vpn, access);
    if (r !== null) return r;
  }
  const vma = p.vmaAt(vpn)!;
  const huge = vma.huge && g.config.hugePages;
  if (huge) {
    const r = faultIn(world, g, p, vpn, 2, vma.prot);
    if (r !== 'fallback') return r;
  }
  const r = faultIn(world, g, p, vpn, 1, vma.prot);
  return r === 'fallback' ? refuse('guest-oom', `g${g.id}: no frame for va ${hex(vpn * 4096)}`) : r;
}

function faultIn(world: World, g: Guest, p: Process, vpn: number, level: 1 | 2, prot: { write: boolean; exec: boolean }): true | Refusal | 'fallback' {
  const slot = slotFor(world, g, p, vpn, level);
  if ('ok' in slot) return slot;
  if (guestPresent(slot.entry)) {
    // A huge VMA whose PMD points at a PTE table (a split huge page): the 4 KiB path serves it.
    if (level === 2 && !guestIsLeaf(slot.entry, 2)) return 'fallback';
    // Present already: a spurious fault (the TLB held an older translation). Nothing to do.
    return true;
  }
  // A page under migration is waited for, never replaced (mm/memory.c do_swap_page ->
  // mm/migrate.c migration_entry_wait): the access retries once the migration has ended.
  if (isMigrationEntry(slot.entry)) return refuse('retry', `pid ${p.pid} va ${hex(vpn * 4096)}: page under migration`);
  const frames = level === 2 ? FRAMES_PER_2M : 1;
  const vpnBase = vpn - (vpn % frames);
  const gfn = allocZeroed(world, g, level === 2 ? 9 : 0, 'MOVABLE', `va ${hex(vpn * 4096)}`);
  // No free page of the size: a 2 MiB fault falls back to the 4 KiB path
  // (do_huge_pmd_anonymous_page), a 4 KiB one is refused. A host that cannot back it is the answer.
  if (typeof gfn !== 'number') return gfn.error === 'guest-oom' ? 'fallback' : gfn;
  for (let i = 0; i < frames; i++) g.setOwner(gfn + i, { kind: 'anon', pid: p.pid, vpn: vpnBase + i });
  g.zeroings += frames;
  const e = guestEntry(gfn, { writable: prot.write, user: true, nx: !prot.exec }, level === 2 ? PTE_PS : 0);
  writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, e);
  world.transition('nested-mmu', 'unmapped', level === 2 ? 'mapped-2m' : 'mapped-4k');
  return true;
}
