/**
 * khugepaged on a guest process (mm/khugepaged.c), in its two phases:
 * - scan (hpage_collapse_scan_pmd, under mmap_read_lock): the 2 MiB range of a VM_HUGEPAGE
 *   VMA must be mapped by a PTE table whose entries are none, the zero page, or exclusive
 *   anonymous pages of this process at this address, not locked; at most max_ptes_none
 *   (default 511: nearly empty ranges qualify) are none or zero. The scan's view is recorded
 *   as the candidate.
 * - collapse (collapse_huge_page): allocate the huge page first (it may direct-compact), then
 *   take mmap_lock for write and revalidate everything the scan saw (hugepage_vma_revalidate,
 *   __collapse_huge_page_isolate), because the range may have changed in between: pages
 *   discarded (MADV_DONTNEED, the balloon), unmapped, migrated. Then pmdp_collapse_flush
 *   (unlink the PTE table, flush), copy each page (none and zero-page entries become zeroes:
 *   __collapse_huge_page_copy), install the PMD, free the old pages and the table.
 * Cycle per guest: idle -> scanned -> collapsed | aborted -> idle.
 */
import { pagedOut } from '../guest/leaf';
import { FRAMES_PER_2M, PTE_PS } from '../constants';
import { copyContent, ZERO, type Content } from '../content';
import { describeGuestOwner, type Guest, type GuestFrameOwner } from '../guest/guest';
import { guestAlloc } from '../guest/alloc';
import { flushRange, guestFree } from '../guest/kernel';
import { findSlot, tableAt, writeEntry, type LeafSlot } from '../guest/page-tables';
import { physRead, physWrite } from '../guest/phys';
import type { Process } from '../guest/process';
import type { PageTable } from '../paging/table';
import { guestEntry, guestIsLeaf, guestPresent, guestTableEntry, isMigrationEntry } from '../paging/entries';
import { isRefusal, ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { compactionState, guestLockedSet } from '../compaction/state';
import { imageGuest } from './ghost';
import { MAX_PTES_NONE_DEFAULT, recordChange, thpState, type CollapseSource, type GuestCandidate } from './state';

export const FAULT_COLLAPSE_STALE_SCAN = 'thp-collapse-uses-stale-scan';
export const FAULT_COLLAPSE_MAPS_PTES = 'thp-collapse-maps-ptes';

/** The 2 MiB range's PTE table and the PMD entry that points to it. */
interface RangeTable {
  readonly pmd: LeafSlot;
  readonly ptGfn: number;
  readonly pt: PageTable;
}

interface RangeView extends RangeTable {
  /** Subpage index -> gfn of the exclusive anonymous page mapped there. */
  readonly pages: ReadonlyMap<number, number>;
}

/** The range's PTE table, if a VM_HUGEPAGE VMA covers the range and its PMD points to a table; a string says why not. */
function rangeTable(world: World, g: Guest, p: Process, base: number): RangeTable | string {
  const vma = p.vmaAt(base);
  if (!g.config.hugePages) return 'THP is off in this guest';
  // A huge VMA starts and ends 2 MiB aligned (mmap, munmap and mprotect refuse otherwise:
  // guest/kernel.ts), so the one containing the aligned base covers the whole range.
  if (!vma || !vma.huge) return 'no VM_HUGEPAGE VMA covers the range';
  const pmd = findSlot(world, g, p, base, 2);
  if (isRefusal(pmd)) return pmd.detail;
  // The only guest leaf above level 2 is memctl's 1 GiB PUD leaf, which lies under a memctl VMA
  // (not VM_HUGEPAGE) and goes with its munmap: here the walk stops at level 2, or above it at a
  // missing table.
  if (!pmd || !guestPresent(pmd.entry)) return 'no PTE table (pmd none)';
  if (guestIsLeaf(pmd.entry, 2)) return 'already a huge page';
  const pt = tableAt(world, g, pmd.entry.pfn);
  if (isRefusal(pt)) return pt.detail;
  return { pmd, ptGfn: pmd.entry.pfn, pt };
}

/** The scan's (and the revalidation's) test of one 2 MiB range; a string says why not. */
function examine(world: World, g: Guest, p: Process, base: number): RangeView | string {
  const t = rangeTable(world, g, p, base);
  if (typeof t === 'string') return t;
  const pages = new Map<number, number>();
  let noneOrZero = 0;
  const locked = guestLockedSet(compactionState(world), g.id);
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    const e = t.pt.get(i);
    if (!guestPresent(e)) {
      if (isMigrationEntry(e)) return `va ${hex((base + i) * 4096)} is under migration`;
      // A swapped-out page is not pte_none: the model does not swap in during a collapse
      // (Linux would, up to max_ptes_swap), so the range is left alone (SCAN_EXCEED_SWAP_PTE).
      if (pagedOut(world, g, p.pid, base + i) !== undefined) return `va ${hex((base + i) * 4096)} is swapped out`;
      noneOrZero++;
      continue;
    }
    const o = g.owners.get(e.pfn);
    if (o?.kind === 'zero-page') {
      noneOrZero++;
      continue;
    }
    // Only an anonymous page may be collapsed (SCAN_PAGE_ANON). No operation maps anything else
    // under a VM_HUGEPAGE VMA (the model's file, DAX and memctl VMAs never are), so this stops a
    // mapping only a bug leaves behind. An anonymous page mapped here is this process's own page
    // for this address: the model's anonymous pages are never shared (no fork), and every
    // mapping of one records its pid and vpn as its owner.
    if (o?.kind !== 'anon') return `va ${hex((base + i) * 4096)} maps gfn ${hex(e.pfn)}: ${describeGuestOwner(o)}`;
    if (locked.has(e.pfn)) return `gfn ${hex(e.pfn)} is locked (SCAN_PAGE_LOCK)`;
    // A page of a large folio mapped by PTEs is not handled by the model's collapse.
    if (g.buddy.allocatedBlock(e.pfn)?.order !== 0) return `gfn ${hex(e.pfn)} belongs to a large folio mapped by PTEs`;
    pages.set(i, e.pfn);
  }
  const max = world.option('thp.max-ptes-none', MAX_PTES_NONE_DEFAULT);
  if (noneOrZero > max) return `${noneOrZero} none or zero PTEs > max_ptes_none ${max}`;
  return { ...t, pages };
}

/**
 * hugepage_vma_revalidate and __collapse_huge_page_isolate under mmap_lock: the range is
 * examined again.
 */
function revalidate(world: World, g: Guest, p: Process, c: GuestCandidate): RangeView | string {
  // Hazard: everything the scan saw must be checked again under the lock; copying from the
  // scan's view copies pages that were discarded, freed or handed to someone else since,
  // resurrecting their old contents in this process. (The faulty collapse still finds the
  // range's table again: it has to unlink it.)
  if (!world.fault(FAULT_COLLAPSE_STALE_SCAN)) return examine(world, g, p, c.base);
  const t = rangeTable(world, g, p, c.base);
  return typeof t === 'string' ? t : { ...t, pages: c.scanned };
}

export function khugepagedScan(world: World, g: Guest, p: Process, vpn: number): OpResult {
  const base = vpn - (vpn % FRAMES_PER_2M);
  const v = examine(world, g, p, base);
  if (typeof v === 'string') return refuse('busy', `khugepaged: g${g.id} pid ${p.pid} va ${hex(base * 4096)}: ${v}`);
  thpState(world).guestCandidate.set(g.id, { pid: p.pid, base, scanned: v.pages });
  world.transition('thp', 'idle', 'scanned');
  return ok(v.pages.size);
}

export function khugepagedCollapse(world: World, g: Guest): OpResult {
  const s = thpState(world);
  const c = s.guestCandidate.get(g.id);
  if (!c) return refuse('no-such-mapping', `khugepaged: g${g.id} has no scanned range`);
  s.guestCandidate.delete(g.id);
  const abort = (r: OpResult): OpResult => {
    world.transition('thp', 'scanned', 'aborted');
    return r;
  };
  const p = g.processes.get(c.pid);
  if (!p) return abort(refuse('no-such-process', `khugepaged: pid ${c.pid} exited`));
  // alloc_charge_folio before mmap_write_lock: may direct-compact, which may move the range's pages.
  const huge = guestAlloc(world, g, 9, 'MOVABLE');
  if (typeof huge !== 'number') return abort(refuse('guest-oom', `khugepaged: no 2 MiB page (${huge.error})`));
  const release = (): void => void g.buddy.free(huge, 9);
  const v = revalidate(world, g, p, c);
  if (typeof v === 'string') {
    release();
    return abort(refuse('busy', `khugepaged: revalidation failed: ${v}`));
  }
  const vma = p.vmaAt(c.base)!;
  const pre = imageGuest(world, g, p, c.base);
  // Read every source before changing anything (a failed read leaves the range as it was).
  const contents = new Map<number, Content>();
  const record: CollapseSource<GuestFrameOwner>[] = [];
  for (const [i, gfn] of v.pages) {
    record.push({ index: i, frame: gfn, owner: g.owners.get(gfn) });
    const x = physRead(world, g, gfn);
    if (isRefusal(x)) {
      release();
      return abort(x);
    }
    contents.set(i, x);
  }
  // pmdp_collapse_flush: unlink the PTE table and flush the range.
  writeEntry(world, g, p.pid, v.pmd.tableGfn, v.pmd.table, v.pmd.index, undefined);
  flushRange(world, g, p.pid, c.base, c.base + FRAMES_PER_2M);
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    g.setOwner(huge + i, { kind: 'anon', pid: p.pid, vpn: c.base + i });
    const w = physWrite(world, g, huge + i, copyContent(contents.get(i) ?? ZERO));
    if (w !== true) {
      // Put the range back as it was and give the huge page up.
      for (let j = 0; j <= i; j++) g.clearOwner(huge + j);
      release();
      writeEntry(world, g, p.pid, v.pmd.tableGfn, v.pmd.table, v.pmd.index, guestTableEntry(v.ptGfn));
      return abort(w);
    }
  }
  // The old pages: whatever the table maps now (never the scan's view).
  const old: number[] = [];
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    const e = v.pt.get(i);
    if (guestPresent(e) && g.owners.get(e.pfn)?.kind === 'anon') old.push(e.pfn);
    if (e) writeEntry(world, g, p.pid, v.ptGfn, v.pt, i, undefined);
  }
  const perms = { writable: vma.prot.write, user: true, nx: !vma.prot.exec };
  if (world.fault(FAULT_COLLAPSE_MAPS_PTES)) {
    // Hazard: the new huge page mapped by 512 PTEs instead of one PMD leaf: nothing breaks,
    // but the walk does not get shorter (the point of the collapse).
    for (let i = 0; i < FRAMES_PER_2M; i++) writeEntry(world, g, p.pid, v.ptGfn, v.pt, i, guestEntry(huge + i, perms));
    writeEntry(world, g, p.pid, v.pmd.tableGfn, v.pmd.table, v.pmd.index, guestTableEntry(v.ptGfn));
  } else {
    writeEntry(world, g, p.pid, v.pmd.tableGfn, v.pmd.table, v.pmd.index, guestEntry(huge, perms, PTE_PS));
    g.tables.delete(v.ptGfn);
    g.clearOwner(v.ptGfn);
    guestFree(world, g, v.ptGfn, 0);
  }
  for (const gfn of old) {
    g.clearOwner(gfn);
    guestFree(world, g, gfn, 0);
  }
  world.transition('thp', 'scanned', 'collapsed');
  recordChange(world, { kind: 'collapse', guest: g.id, pid: p.pid, base: c.base, vmaWrite: vma.prot.write, pre, post: imageGuest(world, g, p, c.base), sources: record });
  world.journal.note(() => `g${g.id} pid ${p.pid}: khugepaged collapsed va ${hex(c.base * 4096)} into gfn ${hex(huge)}`);
  return ok(huge);
}
