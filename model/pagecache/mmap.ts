/**
 * Shared file mappings (mmap MAP_SHARED of a guest file; Linux mm/filemap.c filemap_fault,
 * mm/memory.c zap_pte_range): a VMA whose object is the file, faulted page by page from the
 * page cache; the leaf maps the page-cache page itself, so every process mapping the page and
 * every read(2)/write(2) see the same frame. munmap moves the PTE dirty bits to the pages
 * (zap_pte_range: "if (pte_dirty(ptent)) folio_mark_dirty(folio)") before the leaves go.
 */
import { PTE_DIRTY } from '../constants';
import type { Guest } from '../guest/guest';
import { reuseSharedPage } from '../guest/fault';
import { slotFor, writeEntry } from '../guest/page-tables';
import type { Process, VmaObject } from '../guest/process';
import type { AccessKind } from '../mmu/walk';
import { peekLeaf } from '../mmu/peek';
import { guestEntry, guestPresent } from '../paging/entries';
import { ok, refuse, type OpResult, type Refusal } from '../result';
import type { World } from '../world';
import { getPage, markAccessed } from './cache';
import { markPage } from './disk';
import { FILE_PAGES, FILES_PER_GUEST, pageKey } from './layout';
import { cacheOf } from './state';
import { hex } from '../../properties/violation';

export const FILE_OBJECT = 'file';

/** mmap(MAP_SHARED) of `pages` pages of a file from page `pgoff`, at vpn. */
export function fileMmap(w: World, g: Guest, p: Process, file: number, pgoff: number, vpn: number, pages: number, write: boolean): OpResult {
  if (file < 0 || file >= FILES_PER_GUEST) return refuse('out-of-range', `g${g.id} has no file ${file}`);
  if (pgoff + pages > FILE_PAGES) return refuse('out-of-range', `file ${file} has ${FILE_PAGES} pages: pgoff ${pgoff} + ${pages}`);
  if (vpn + pages > 2 ** (9 * g.config.guestLevels - 1)) return refuse('out-of-range', 'va beyond the user half');
  if (p.overlaps(vpn, vpn + pages)) return refuse('overlap', `va ${hex(vpn * 4096)} +${pages} overlaps a VMA`);
  p.addVma({ start: vpn, end: vpn + pages, prot: { write, exec: false }, huge: false, object: { kind: FILE_OBJECT, id: file, vpnOrigin: vpn - pgoff } });
  w.journal.range(g.id, p.pid, vpn, vpn + pages);
  w.journal.note(() => `g${g.id} pid ${p.pid}: mmap file ${file} pages ${pgoff}..${pgoff + pages - 1} at va ${hex(vpn * 4096)}${write ? ' (shared, writable)' : ''}`);
  return ok();
}

function fileObject(p: Process, vpn: number): VmaObject | undefined {
  const o = p.vmaAt(vpn)?.object;
  return o?.kind === FILE_OBJECT ? o : undefined;
}

/** filemap_fault + finish_fault: map the page-cache page of the file at this vpn. */
function fileFault(w: World, g: Guest, p: Process, vpn: number, access: AccessKind): true | Refusal | null {
  const obj = fileObject(p, vpn);
  if (!obj) return null;
  const index = vpn - obj.vpnOrigin;
  if (index < 0 || index >= FILE_PAGES) return refuse('sigbus', `pid ${p.pid} va ${hex(vpn * 4096)}: beyond the end of file ${obj.id}`);
  const first = slotFor(w, g, p, vpn, 1);
  if ('ok' in first) return first;
  if (guestPresent(first.entry)) {
    // A write-protect fault: the page-cache page of this index is reused in place.
    const mapped = cacheOf(g).byGfn.get(first.entry.pfn);
    return mapped?.file === obj.id && mapped.index === index ? reuseSharedPage(w, g, p, first, access, first.entry.pfn) : null;
  }
  const page = getPage(w, g, obj.id, index);
  if ('ok' in page) return page;
  // Filling the page may have reclaimed and rewritten tables: find the slot again.
  const slot = slotFor(w, g, p, vpn, 1);
  if ('ok' in slot) return slot;
  const prot = p.vmaAt(vpn)!.prot;
  writeEntry(w, g, p.pid, slot.tableGfn, slot.table, slot.index, guestEntry(page.gfn, { writable: prot.write, user: true, nx: !prot.exec }));
  markAccessed(g, page);
  markPage(w, g.id, page.file, page.index);
  w.transition('page-cache', 'unmapped', 'mapped');
  return true;
}

/** munmap/exit of a range: the dirty bits of file pages mapped there move to the pages. */
function harvestOnUnmap(w: World, g: Guest, p: Process, start: number, end: number): void {
  const c = cacheOf(g);
  for (const v of p.vmas) {
    // Only file VMAs map page-cache pages; the loop's bounds keep to the part inside [start, end).
    if (v.object?.kind !== FILE_OBJECT) continue;
    for (let vpn = Math.max(v.start, start); vpn < Math.min(v.end, end); vpn++) {
      const leaf = peekLeaf(w, g, p, vpn);
      const page = leaf && c.byGfn.get(leaf.gfn);
      if (!page) continue;
      if ((leaf.entry.flags & PTE_DIRTY) !== 0) page.dirty = true;
      markPage(w, g.id, page.file, page.index);
    }
  }
}

/** Where a file VMA's page lives: the page-cache page, if resident. */
function resolve(g: Guest) {
  return (obj: VmaObject, index: number): number | undefined => {
    if (obj.kind !== FILE_OBJECT) return undefined;
    return cacheOf(g).pages.get(pageKey(obj.id, index))?.gfn;
  };
}

export function mmapInit(w: World): void {
  for (const g of w.guests) {
    g.pageFaultHooks.push(fileFault);
    g.unmapHooks.push(harvestOnUnmap);
    g.objectResolvers.push(resolve(g));
  }
}
