/**
 * MADV_DONTNEED on a guest process's anonymous range (mm/madvise.c madvise_dontneed_single_vma
 * -> zap_page_range_single): the VMA stays, the pages go, and the next touch sees zeroes. A
 * huge page only partly covered is split first (zap_pmd_range -> __split_huge_pmd); one wholly
 * covered is zapped whole (zap_huge_pmd). As with munmap, the TLB is flushed before any page
 * is freed (tlb_finish_mmu). Shared zero pages are unmapped, never freed (vm_normal_page).
 */
import { FRAMES_PER_2M } from '../constants';
import type { Guest } from '../guest/guest';
import { flushRange, freeUserFrames, tablesResident } from '../guest/kernel';
import { findSlot, writeEntry } from '../guest/page-tables';
import type { Process } from '../guest/process';
import { framesAtLevel, guestIsLeaf, guestPresent } from '../paging/entries';
import { isRefusal, ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { splitGuestHuge } from './split';

/** Pages one MADV_DONTNEED may cover (bounded: a loop per page). */
export const DONTNEED_PAGES_MAX = 1 << 14;

/**
 * Discard [start, start + pages). With `stride` > 1 only every stride-th page from `start` goes
 * (a workload giving back every other page, as one pass with one flush).
 */
export function madviseDontneed(world: World, g: Guest, p: Process, start: number, pages: number, stride = 1): OpResult {
  const end = start + pages;
  if (pages > DONTNEED_PAGES_MAX) return refuse('limit', `MADV_DONTNEED of more than ${DONTNEED_PAGES_MAX} pages`);
  for (let v = start; v < end; ) {
    const vma = p.vmaAt(v);
    if (!vma) return refuse('no-such-mapping', `madvise: va ${hex(v * 4096)} is not mapped`);
    // The model's MADV_DONTNEED covers private anonymous memory; a file mapping's pages belong
    // to the page cache (they would stay there, dirty bits harvested, and read back).
    if (vma.object) return refuse('invalid', `madvise: va ${hex(v * 4096)} is file-backed; the model's MADV_DONTNEED covers anonymous memory`);
    v = vma.end;
  }
  // All or nothing: a table that cannot be read now refuses the whole request before any
  // mechanism drops what it keeps for the range.
  const unreachable = tablesResident(world, g, p.pid);
  if (unreachable) return unreachable;
  // Swap entries in the range go too (zap_pte_range -> free_swap_and_cache): the mechanisms
  // that keep pages outside the tables drop theirs, page by page when striding.
  if (stride === 1) for (const hook of g.unmapHooks) hook(world, g, p, start, end);
  else for (let v = start; v < end; v += stride) for (const hook of g.unmapHooks) hook(world, g, p, v, v + 1);
  const freed: { gfn: number; order: number }[] = [];
  for (let vpn = start, steps = 0; vpn < end && steps < 2 * DONTNEED_PAGES_MAX; steps++) {
    if ((vpn - start) % stride !== 0) {
      vpn++;
      continue;
    }
    const slot = findSlot(world, g, p, vpn, 1);
    if (slot === null) {
      vpn++;
      continue;
    }
    if (isRefusal(slot)) return slot;
    const span = framesAtLevel(slot.level);
    const base = vpn - (vpn % span);
    if (guestPresent(slot.entry) && guestIsLeaf(slot.entry, slot.level)) {
      if (slot.level === 2 && (stride > 1 || base < start || base + FRAMES_PER_2M > end)) {
        const s = splitGuestHuge(world, g, p, vpn);
        if (!s.ok) return s;
        continue; // look at the same page again, now under a PTE
      }
      // Freed after the flush; freeUserFrames frees anonymous pages only (zero pages stay).
      freed.push({ gfn: slot.entry.pfn, order: slot.level === 2 ? 9 : 0 });
    }
    // The slot is cleared: a leaf, or a migration entry (the page goes mid-migration, and the
    // migration finds nothing to map back); a none slot stays none.
    writeEntry(world, g, p.pid, slot.tableGfn, slot.table, slot.index, undefined);
    // Past this slot; with a stride the test at the top of the loop skips the pages left alone.
    vpn = base + span;
  }
  flushRange(world, g, p.pid, start, end);
  for (const f of freed) freeUserFrames(world, g, f.gfn, f.order);
  world.journal.range(g.id, p.pid, start, end);
  world.journal.note(() => `g${g.id} pid ${p.pid}: MADV_DONTNEED va ${hex(start * 4096)} +${pages}, freed ${freed.length}`);
  return ok();
}
