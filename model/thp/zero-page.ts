/**
 * The guest's zero pages and the anonymous fault paths that use them (mm/huge_memory.c
 * do_huge_pmd_anonymous_page, mm_get_huge_zero_folio; mm/memory.c do_wp_page):
 * - a read fault on an empty PMD of a huge VMA maps the huge zero page read-only
 *   (transparent_hugepage/use_zero_page, default on) instead of allocating 2 MiB;
 * - a write to the huge zero PMD splits it into 512 PTEs of the 4 KiB zero page
 *   (do_huge_pmd_wp_page: is_huge_zero_pmd -> __split_huge_pmd -> VM_FAULT_FALLBACK,
 *   __split_huge_zero_page_pmd), then the 4 KiB write fault copies: wp_page_copy allocates a
 *   zeroed page for the faulting address only.
 * The zero pages are guest frames owned 'zero-page', allocated unmovable on first use (the
 * model's choice: Linux's empty_zero_page lives in the kernel image, the huge zero folio is
 * allocated lazily), never freed while the guest lives.
 */
import { pagedOut } from '../guest/leaf';
import { FRAMES_PER_2M, PTE_PS, PTE_RW } from '../constants';
import type { Guest } from '../guest/guest';
import { allocZeroed } from '../guest/alloc';
import { findSlot, slotFor, writeEntry } from '../guest/page-tables';
import type { Process } from '../guest/process';
import type { AccessKind } from '../mmu/walk';
import { guestEntry, guestIsLeaf, guestPresent } from '../paging/entries';
import { isRefusal, refuse, type Refusal } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { splitGuestHuge } from './split';
import { thpState } from './state';

export const FAULT_HUGE_ZERO_WRITABLE = 'thp-huge-zero-writable';

function allocZero(world: World, g: Guest, order: 0 | 9): number | Refusal {
  const gfn = allocZeroed(world, g, order, 'UNMOVABLE', `the ${order ? 'huge ' : ''}zero page`);
  if (typeof gfn !== 'number') return gfn;
  for (let i = 0, n = 1 << order; i < n; i++) g.setOwner(gfn + i, { kind: 'zero-page', huge: order === 9 });
  return gfn;
}

/** The 4 KiB zero page of g (allocated on first use). */
export function zeroPage(world: World, g: Guest): number | Refusal {
  const s = thpState(world);
  const have = s.zero4k.get(g.id);
  if (have !== undefined) return have;
  const gfn = allocZero(world, g, 0);
  if (typeof gfn === 'number') s.zero4k.set(g.id, gfn);
  return gfn;
}

/** The huge zero page of g (allocated on first use). */
export function hugeZeroPage(world: World, g: Guest): number | Refusal {
  const s = thpState(world);
  const have = s.zero2m.get(g.id);
  if (have !== undefined) return have;
  const gfn = allocZero(world, g, 9);
  if (typeof gfn === 'number') s.zero2m.set(g.id, gfn);
  return gfn;
}

export function isZeroGfn(g: Guest, gfn: number): boolean {
  return g.owners.get(gfn)?.kind === 'zero-page';
}

/** The anonymous fault handler THP puts before the core's (guest.pageFaultHooks). */
export function thpFaultHook(world: World, g: Guest, p: Process, vpn: number, access: AccessKind): true | Refusal | null {
  const vma = p.vmaAt(vpn)!;
  const s = thpState(world);
  // Only two kinds of fault are THP's: a write where a zero page may be mapped, and a read in a
  // huge VMA (the huge zero page). Everything else goes straight to the core's handler.
  if (access === 'write' ? !s.zero4k.has(g.id) && !s.zero2m.has(g.id) : !(vma.huge && g.config.hugePages)) return null;
  const pmd = findSlot(world, g, p, vpn, 2);
  if (isRefusal(pmd)) return pmd;
  if (pmd && guestPresent(pmd.entry) && guestIsLeaf(pmd.entry, 2) && isZeroGfn(g, pmd.entry.pfn)) {
    if (access !== 'write') return null;
    // Hazard: the huge zero page is shared by every process that read an empty huge range; a
    // write must never reach it. CVE-2017-1000405 ("Huge Dirty COW"): touch_pmd made the huge
    // zero PMD dirty and writable, and the write corrupted every reader's zeroes.
    if (world.fault(FAULT_HUGE_ZERO_WRITABLE)) {
      writeEntry(world, g, p.pid, pmd.tableGfn, pmd.table, pmd.index, { ...pmd.entry, flags: pmd.entry.flags | PTE_RW });
      world.tlb.invlpg(g.vpid, p.pid, vpn);
      return true;
    }
    const s = splitGuestHuge(world, g, p, vpn);
    if (!s.ok) return s;
  }
  const pte = findSlot(world, g, p, vpn, 1);
  if (isRefusal(pte)) return pte;
  // A huge zero PMD was split above; a present leaf here of any other size maps no zero page.
  if (pte && guestPresent(pte.entry) && isZeroGfn(g, pte.entry.pfn)) {
    if (access !== 'write') return null;
    // do_wp_page on the zero page -> wp_page_copy: a fresh zeroed page for this address.
    const gfn = allocZeroed(world, g, 0, 'MOVABLE', `a copy of the zero page at va ${hex(vpn * 4096)}`);
    if (typeof gfn !== 'number') return gfn;
    // The allocation's slow path may have changed the tables (the OOM killer ends this process
    // and its tables go): look again, and give the page back, unowned, if the slot went.
    const again = findSlot(world, g, p, vpn, 1);
    if (again === null || isRefusal(again) || again.level !== 1) {
      g.buddy.free(gfn, 0);
      return isRefusal(again) ? again : refuse('retry', `pid ${p.pid} va ${hex(vpn * 4096)}: page table changed`);
    }
    g.setOwner(gfn, { kind: 'anon', pid: p.pid, vpn });
    g.zeroings++;
    writeEntry(world, g, p.pid, again.tableGfn, again.table, again.index, guestEntry(gfn, { writable: vma.prot.write, user: true, nx: !vma.prot.exec }));
    world.tlb.invlpg(g.vpid, p.pid, vpn);
    world.transition('thp', 'zero-4k', 'copied');
    return true;
  }
  // A read fault on an empty PMD of a huge VMA: the huge zero page.
  if (access === 'write' || !vma.huge || !g.config.hugePages || !world.option('thp.use-zero-page', false)) return null;
  // The huge VMA starts and ends 2 MiB aligned (guest/kernel.ts mmap, munmap, mprotect): it
  // covers the whole range around vpn.
  const base = vpn - (vpn % FRAMES_PER_2M);
  if (pmd && guestPresent(pmd.entry)) return null;
  // A swapped-out page in the range makes the PMD not none in Linux (its swap entry lives in a
  // PTE table); the model keeps swap entries beside the tables, so it asks.
  for (let v = base; v < base + FRAMES_PER_2M; v++) if (pagedOut(world, g, p.pid, v) !== undefined) return null;
  const hz = hugeZeroPage(world, g);
  if (isRefusal(hz)) return null; // no 2 MiB block: the core's path decides
  // The PMD is still none: nothing since the check above maps memory in this range (the huge
  // zero page's allocation may reclaim or compact, but nothing here is mapped to move).
  const slot = slotFor(world, g, p, vpn, 2);
  if (isRefusal(slot)) return slot;
  writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, guestEntry(hz, { writable: false, user: true, nx: !vma.prot.exec }, PTE_PS));
  world.transition('thp', 'unmapped', 'huge-zero');
  return true;
}
