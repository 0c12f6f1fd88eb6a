/**
 * Splitting huge pages.
 *
 * Guest side (mm/huge_memory.c __split_huge_pmd_locked, split_huge_page): the PMD leaf becomes
 * a table of 512 PTEs mapping the same frames with the same permissions, and the 2 MiB folio
 * becomes 512 pages (split_page). The PMD is invalidated and the TLB flushed before the PTE
 * table is installed: "userland could trigger a small page size TLB miss on the small sized TLB
 * while the hugepage TLB entry is still established in the huge TLB. Some CPU doesn't like
 * that" (AMD erratum 383; pmdp_invalidate). The huge zero PMD splits into PTEs of the 4 KiB zero
 * page (__split_huge_zero_page_pmd). The model allocates the PTE table at split time (Linux
 * deposits one with every THP, pgtable_trans_huge_deposit, so its split cannot fail; here a
 * split can fail for lack of a page: assumption).
 *
 * Host side: a guest-memory unit backed by one 2 MiB host block becomes 512 4 KiB frames
 * (split_huge_pmd on QEMU's mapping), inside an invalidation: KVM zaps the 2 MiB EPT leaf and
 * later faults map 4 KiB leaves.
 */
import { FRAMES_PER_2M, PTE_PS } from '../constants';
import type { Guest } from '../guest/guest';
import { flushRange } from '../guest/kernel';
import { allocTable, findSlot, tableAt, writeEntry } from '../guest/page-tables';
import type { Process } from '../guest/process';
import { invalidateBegin, invalidateEnd } from '../mmu/notifier';
import { guestEntry, guestIsLeaf, guestPresent, guestTableEntry } from '../paging/entries';
import { isRefusal, ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { imageGuest, imageHost } from './ghost';
import { recordChange } from './state';
import { zeroPage } from './zero-page';

export const FAULT_SPLIT_WITHOUT_INVALIDATE = 'thp-split-without-invalidate';

/** Split the huge page mapping vpn in p (split_huge_pmd, then the folio). */
export function splitGuestHuge(world: World, g: Guest, p: Process, vpn: number): OpResult {
  const base = vpn - (vpn % FRAMES_PER_2M);
  const first = findSlot(world, g, p, base, 2);
  if (isRefusal(first)) return first;
  if (!first || first.level !== 2 || !guestPresent(first.entry) || !guestIsLeaf(first.entry, 2))
    return refuse('no-such-mapping', `g${g.id} pid ${p.pid} va ${hex(base * 4096)}: no huge page`);
  const head = first.entry.pfn;
  const zero = g.owners.get(head)?.kind === 'zero-page';
  const zero4k = zero ? zeroPage(world, g) : -1;
  if (isRefusal(zero4k)) return zero4k;
  const pre = imageGuest(world, g, p, base);
  const pt = allocTable(world, g, p.pid, 1, first.tableGfn, first.index, base);
  if (typeof pt !== 'number') return pt;
  // The allocation may have run compaction or faulted tables in: look at the PMD again.
  const slot = findSlot(world, g, p, base, 2);
  if (isRefusal(slot) || !slot || slot.level !== 2 || !guestPresent(slot.entry) || slot.entry.pfn !== head) {
    g.tables.delete(pt);
    g.clearOwner(pt);
    g.buddy.free(pt, 0);
    return isRefusal(slot) ? slot : refuse('retry', `g${g.id} pid ${p.pid} va ${hex(base * 4096)}: the PMD changed`);
  }
  const e = slot.entry;
  const table = tableAt(world, g, pt);
  if (isRefusal(table)) return table;
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    const pte = zero ? guestEntry(zero4k, { writable: false, user: true, nx: e.nx }) : { pfn: head + i, flags: e.flags & ~PTE_PS, nx: e.nx };
    writeEntry(world, g, p.pid, pt, table, i, pte);
  }
  // pmdp_invalidate: clear the PMD and flush before the table goes in.
  writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, undefined);
  if (!world.fault(FAULT_SPLIT_WITHOUT_INVALIDATE)) flushRange(world, g, p.pid, base, base + FRAMES_PER_2M);
  writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, guestTableEntry(pt));
  if (!zero) g.buddy.splitAllocated(head);
  world.transition('thp', zero ? 'huge-zero' : 'mapped-2m', 'split');
  recordChange(world, { kind: 'split', guest: g.id, pid: p.pid, base, pre, post: imageGuest(world, g, p, base) });
  world.journal.note(() => `g${g.id} pid ${p.pid}: split huge page at va ${hex(base * 4096)}`);
  return ok();
}

/** Split the 2 MiB host backing of unit (gfn >> 9) into 4 KiB frames. */
export function splitHostUnit(world: World, g: Guest, unit: number): OpResult {
  if (!g.hugeBacked.has(unit)) return refuse('no-such-mapping', `g${g.id} unit ${hex(unit * FRAMES_PER_2M)} is not 2 MiB backed`);
  const base = unit * FRAMES_PER_2M;
  const r = g.pendingReclaim;
  if (r && r.gfn < base + FRAMES_PER_2M && base < r.gfn + r.frames) return refuse('busy', `g${g.id}: a reclaim of this unit is in flight`);
  const hfn = g.backing.get(base);
  if (hfn === undefined) return refuse('no-such-mapping', `g${g.id} unit ${hex(base)} has no backing`);
  const pre = imageHost(world, g, base);
  invalidateBegin(world, g, base, base + FRAMES_PER_2M);
  g.hugeBacked.delete(unit);
  world.hostBuddy.splitAllocated(hfn);
  invalidateEnd(world, g);
  world.transition('thp', 'backed-2m', 'host-split');
  recordChange(world, { kind: 'host-split', guest: g.id, base, pre, post: imageHost(world, g, base) });
  world.journal.note(() => `g${g.id}: host split the 2 MiB backing of gfn ${hex(base)}`);
  return ok();
}
