/**
 * The guest's page cache (Linux mm/filemap.c, mm/page-writeback.c, mm/rmap.c, mm/vmscan.c):
 * filling a page from cleancache or the disk, read(2) and write(2), page_mkclean, try_to_unmap,
 * writeback (synchronous for reclaim and fsync, asynchronous for the flusher), and the
 * reclaim of one page as shrink_folio_list does it.
 *
 * Dirtiness lives in two places, as in Linux: PG_dirty on the page, and the dirty bit of every
 * PTE that maps it (set by the hardware on a write through the mapping). The PTE bits move to
 * the page when the PTE is cleaned (page_mkclean, for writeback) or cleared (try_to_unmap, for
 * reclaim; zap_pte_range, for munmap): losing them on the way loses writes.
 */
import { PTE_ACCESSED, PTE_DIRTY } from '../constants';
import { data, ZERO, type Content } from '../content';
import { guestAlloc } from '../guest/alloc';
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { findSlot, writeEntry } from '../guest/page-tables';
import { physRead, physWrite } from '../guest/phys';
import { peekGuestPhysical, peekLeaf } from '../mmu/peek';
import { guestPresent } from '../paging/entries';
import { refuse, type Refusal } from '../result';
import { ccGetPage, ccInvalidatePage, ccPutPage } from '../tmem/cleancache';
import type { World } from '../world';
import { diskRead, diskWrite, markPage, syncDoubleCached } from './disk';
import { blockOf, diskOf, pageKey } from './layout';
import { cacheOf, type CachePage } from './state';

export function lookupPage(g: Guest, file: number, index: number): CachePage | undefined {
  return cacheOf(g).pages.get(pageKey(file, index));
}

/** Leaves mapping the page: (pid, vpn) of every guest leaf that points at its gfn (file pages are mapped 4 KiB only). */
export function mappingsOf(g: Guest, page: CachePage): { pid: number; vpn: number }[] {
  return g.rmap.reaching(page.gfn).map((h) => ({ pid: h.owner, vpn: h.source }));
}

export function isMapped(g: Guest, page: CachePage): boolean {
  return mappingsOf(g, page).length > 0;
}

/** PG_dirty or a dirty PTE, read without side effects. */
export function isDirty(w: World, g: Guest, page: CachePage): boolean {
  if (page.dirty) return true;
  for (const m of mappingsOf(g, page)) {
    const p = g.processes.get(m.pid);
    const leaf = p && peekLeaf(w, g, p, m.vpn);
    // The rmap names exactly the leaves that point at the page (writeEntry keeps it so).
    if (leaf && (leaf.entry.flags & PTE_DIRTY) !== 0) return true;
  }
  return false;
}

function insert(w: World, g: Guest, file: number, index: number, gfn: number, dirty: boolean): CachePage {
  const c = cacheOf(g);
  const page: CachePage = { file, index, gfn, dirty, writeback: false };
  c.pages.set(pageKey(file, index), page);
  c.byGfn.set(gfn, page);
  markPage(w, g.id, file, index);
  syncDoubleCached(w, g.id, diskOf(file), blockOf(file, index));
  w.transition('page-cache', 'absent', dirty ? 'dirty' : 'clean');
  return page;
}

/** Take the page out of the cache and give its frame back (the caller decided it may go). */
export function removePage(w: World, g: Guest, page: CachePage): void {
  const c = cacheOf(g);
  const key = pageKey(page.file, page.index);
  if (c.pages.get(key) !== page) return;
  c.pages.delete(key);
  c.byGfn.delete(page.gfn);
  c.active.delete(key);
  c.referenced.delete(key);
  g.clearOwner(page.gfn);
  guestFree(w, g, page.gfn, 0);
  markPage(w, g.id, page.file, page.index);
  syncDoubleCached(w, g.id, diskOf(page.file), blockOf(page.file, page.index));
}

/**
 * A fresh frame for a page-cache page (the allocator's slow path may reclaim to find it). The
 * fill or write that follows faults it in on the host, and gives it back if that fails.
 */
function newFrame(w: World, g: Guest, file: number, index: number): number | Refusal {
  const gfn = guestAlloc(w, g, 0, 'MOVABLE');
  if (typeof gfn !== 'number') return refuse('guest-oom', `g${g.id}: no page for file ${file} page ${index} (${gfn.error})`);
  g.setOwner(gfn, { kind: 'page-cache', file, index });
  return gfn;
}

/** filemap_read's page lookup: the cached page, else a new one filled from cleancache or the disk. */
export function getPage(w: World, g: Guest, file: number, index: number): CachePage | Refusal {
  const have = lookupPage(g, file, index);
  if (have) return have;
  const gfn = newFrame(w, g, file, index);
  if (typeof gfn !== 'number') return gfn;
  // cleancache_get_page before the read is submitted (mpage_readahead); a miss reads the disk.
  const c = ccGetPage(w, g, file, index) ?? diskRead(w, g, diskOf(file), blockOf(file, index));
  // The fill may fail (the host is invalidating the frame, e.g. breaking a KSM page's sharing
  // while a migration holds the range): the page is not added. Nothing is lost: a cleancache
  // page is a clean page, so the disk holds the same contents.
  const filled = physWrite(w, g, gfn, c);
  if (filled !== true) {
    g.clearOwner(gfn);
    guestFree(w, g, gfn, 0);
    return filled;
  }
  return insert(w, g, file, index, gfn, false);
}

/** mark_page_accessed: second touch of an inactive page activates it. */
export function markAccessed(g: Guest, page: CachePage): void {
  const c = cacheOf(g);
  const key = pageKey(page.file, page.index);
  if (c.active.has(key)) return;
  if (c.referenced.has(key)) {
    c.referenced.delete(key);
    c.active.add(key);
  } else c.referenced.add(key);
}

/** read(2) of one page: its contents. */
export function fileRead(w: World, g: Guest, file: number, index: number): Content | Refusal {
  const page = getPage(w, g, file, index);
  if ('ok' in page) return page;
  const c = physRead(w, g, page.gfn);
  // folio_mark_accessed after the copy: a read that failed touched nothing.
  if (!('ok' in c)) markAccessed(g, page);
  return c;
}

/** write(2) of one whole page: the version written. A full-page write does not read the page first. */
export function fileWrite(w: World, g: Guest, file: number, index: number): number | Refusal {
  let page = lookupPage(g, file, index);
  const gfn = page ? page.gfn : newFrame(w, g, file, index);
  if (typeof gfn !== 'number') return gfn;
  // Whatever cleancache kept of the old contents is stale now (assumption: Linux reaches the
  // same through ->readpage on a partial write; a full-page write must drop the copy itself).
  if (!page) ccInvalidatePage(w, g, file, index);
  // The write may fail (the host cannot back the frame, or is invalidating it): nothing changes
  // then, and a page made for it goes back.
  const v = w.nextVersion();
  const written = physWrite(w, g, gfn, data(g.id, v));
  if (written !== true) {
    if (!page) {
      g.clearOwner(gfn);
      guestFree(w, g, gfn, 0);
    }
    return written;
  }
  if (!page) page = insert(w, g, file, index, gfn, true);
  else {
    if (!page.dirty) w.transition('page-cache', 'clean', 'dirty');
    page.dirty = true;
    markPage(w, g.id, file, index);
  }
  markAccessed(g, page);
  return v;
}

/**
 * page_mkclean (mm/rmap.c page_vma_mkclean_one): every PTE mapping the page loses its dirty bit,
 * each with its TLB entry flushed (ptep_clear_flush), and a dirty PTE makes the page dirty.
 * (Assumption: Linux also write-protects the PTE so ->page_mkwrite runs on the next write; here
 * the hardware's dirty-bit update alone marks the next write, which is what the checks see.)
 */
export function mkclean(w: World, g: Guest, page: CachePage): true | Refusal {
  for (const m of mappingsOf(g, page)) {
    const p = g.processes.get(m.pid);
    if (!p) continue;
    const slot = findSlot(w, g, p, m.vpn, 1);
    if (slot === null) continue;
    if ('ok' in slot) return slot;
    const e = slot.entry;
    if (!guestPresent(e) || e.pfn !== page.gfn || (e.flags & PTE_DIRTY) === 0) continue;
    writeEntry(w, g, m.pid, slot.tableGfn, slot.table, slot.index, { ...e, flags: e.flags & ~PTE_DIRTY });
    w.tlb.invlpg(g.vpid, m.pid, m.vpn);
    page.dirty = true;
  }
  return true;
}

/**
 * try_to_unmap (mm/rmap.c try_to_unmap_one): clear every PTE mapping the page, move its dirty
 * bit to the page, and flush the TLB before the page can be freed.
 */
export function unmapPage(w: World, g: Guest, page: CachePage): true | Refusal {
  for (const m of mappingsOf(g, page)) {
    const p = g.processes.get(m.pid);
    if (!p) continue;
    const slot = findSlot(w, g, p, m.vpn, 1);
    if (slot === null) continue;
    if ('ok' in slot) return slot;
    const e = slot.entry;
    if (!guestPresent(e) || e.pfn !== page.gfn) continue;
    writeEntry(w, g, m.pid, slot.tableGfn, slot.table, slot.index, undefined);
    // Hazard: the PTE is gone, and with it the record of writes made through it; try_to_unmap_one
    // moves the dirty bit to the folio ("if (pte_dirty(pteval)) folio_mark_dirty(folio)"),
    // otherwise a page written only through a mapping looks clean and is dropped unwritten.
    if ((e.flags & PTE_DIRTY) !== 0 && !w.fault('unmap-drops-pte-dirty')) page.dirty = true;
    // Hazard: until the TLB entry is flushed the process can still write the page through it,
    // after reclaim has checked it clean and freed it (3ea277194daa, reclaim's batched flush
    // racing mprotect/munmap; try_to_unmap_flush must run before the page is freed).
    if (!w.fault('reclaim-unmap-no-flush')) w.tlb.invlpg(g.vpid, m.pid, m.vpn);
    w.transition('page-cache', 'mapped', 'unmapped');
  }
  return true;
}

/** Harvest accessed bits (folio_referenced): true if a mapping or read(2) used the page since the last look. */
export function takeReferenced(w: World, g: Guest, page: CachePage): boolean {
  const c = cacheOf(g);
  let ref = c.referenced.delete(pageKey(page.file, page.index));
  for (const m of mappingsOf(g, page)) {
    const p = g.processes.get(m.pid);
    if (!p) continue;
    const slot = findSlot(w, g, p, m.vpn, 1);
    if (slot === null || 'ok' in slot) continue;
    const e = slot.entry;
    if (!guestPresent(e) || e.pfn !== page.gfn || (e.flags & PTE_ACCESSED) === 0) continue;
    // ptep_clear_young: no flush needed on x86 (a stale accessed bit only ages the page late).
    writeEntry(w, g, m.pid, slot.tableGfn, slot.table, slot.index, { ...e, flags: e.flags & ~PTE_ACCESSED });
    ref = true;
  }
  return ref;
}

/** Write the page to its disk now (pageout with synchronous completion): it is clean after. */
export function writebackSync(w: World, g: Guest, page: CachePage): void {
  diskWrite(w, g, diskOf(page.file), blockOf(page.file, page.index), peekGuestPhysical(w, g, page.gfn));
  page.dirty = false;
  markPage(w, g.id, page.file, page.index);
  w.transition('page-cache', 'dirty', 'clean');
}

/** The flusher starts writing a dirty page: clean it, mark it under writeback, submit. */
export function writebackBegin(w: World, g: Guest, page: CachePage): true | Refusal {
  if (page.writeback) return refuse('busy', `file ${page.file} page ${page.index} is already under writeback`);
  const mk = mkclean(w, g, page);
  if (mk !== true) return mk;
  if (!page.dirty) return refuse('invalid', `file ${page.file} page ${page.index} is clean`);
  page.dirty = false;
  page.writeback = true;
  cacheOf(g).io.push({ kind: 'writeback', file: page.file, index: page.index, gfn: page.gfn, content: peekGuestPhysical(w, g, page.gfn) });
  markPage(w, g.id, page.file, page.index);
  w.transition('page-cache', 'dirty', 'writeback');
  return true;
}

/** The device completed a writeback: the disk has the contents; PG_writeback clears. */
export function completeWriteback(w: World, g: Guest, req: { file: number; index: number; gfn: number; content: Content }): void {
  diskWrite(w, g, diskOf(req.file), blockOf(req.file, req.index), req.content);
  const page = lookupPage(g, req.file, req.index);
  if (page && page.gfn === req.gfn) page.writeback = false;
  markPage(w, g.id, req.file, req.index);
  w.transition('page-cache', 'writeback', 'clean');
}

/** Drop a clean, unmapped page (__filemap_remove_folio): cleancache keeps a copy if it can. */
export function dropPage(w: World, g: Guest, page: CachePage): void {
  if (!page.dirty) ccPutPage(w, g, page.file, page.index, peekGuestPhysical(w, g, page.gfn));
  removePage(w, g, page);
  w.transition('page-cache', 'clean', 'absent');
}

export interface PageScan {
  readonly mayUnmap: boolean;
  readonly mayWritepage: boolean;
}

/**
 * shrink_folio_list for one page-cache page: skip a page under writeback; unmap a mapped page
 * (may_unmap); write a dirty one back (may_writepage); then free it. 'freed', 'kept' (a rule
 * said no), or a refusal (the unmap could not reach a page table).
 */
export function reclaimFilePage(w: World, g: Guest, page: CachePage, sc: PageScan): 'freed' | 'kept' | Refusal {
  if (page.writeback) return 'kept';
  if (isMapped(g, page)) {
    if (!sc.mayUnmap) return 'kept';
    const u = unmapPage(w, g, page);
    if (u !== true) return u;
  }
  if (page.dirty) {
    if (!sc.mayWritepage) return 'kept';
    // Hazard: a dirty page must be written before it is freed (pageout); freeing it as if it
    // were clean loses the last writes (the rule shrink_folio_list enforces with PAGE_KEEP /
    // pageout for folio_test_dirty).
    if (!w.fault('reclaim-skips-writeback')) writebackSync(w, g, page);
    else page.dirty = false;
  }
  dropPage(w, g, page);
  return 'freed';
}

/** The zero content a never-written file page reads as (sparse image). */
export const FILE_HOLE: Content = ZERO;
