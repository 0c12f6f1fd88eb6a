/**
 * Shared file mappings (model/pagecache/mmap.ts): what mmap(MAP_SHARED) of a file accepts and
 * refuses (a file the guest has, the user half of the address space, no overlap); which file
 * page a fault maps (linear_page_index: vm_pgoff + the page's offset in the VMA) and with which
 * permission bits; munmap moving the PTE dirty bits of exactly the unmapped range to the pages
 * (zap_pte_range); a write-protect fault reusing the page in place (do_wp_page ->
 * wp_page_shared); and the page-cache resolver answering only for file VMAs.
 */
import { oneProcess, pageCacheStepper } from '../../fuzz/testing/scenario';
import { PTE_DIRTY, PTE_RW, PTE_USER } from '../constants';
import { windowGfn } from '../dax/shared-cache';
import { leafMayMap } from '../guest/leaf';
import { peekLeaf } from '../mmu/peek';
import { isDirty, lookupPage } from './cache';
import { FILES_PER_GUEST, pageKey } from './layout';
import { fileMmap } from './mmap';
import { cacheOf } from './state';

const V = 1 << 22;
/** The first vpn of the kernel half of a 4-level (48-bit) address space: 2^(9*4 - 1). */
const USER_HALF_END = 2 ** 35;

function started() {
  const s = pageCacheStepper();
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  const g = s.world.guests[0]!;
  return { s, g, p: g.processes.get(1)! };
}

const mmapArgs = (file: number, pgoff: number, vpn: number, pages: number, write = true) => ({ guest: 0, pid: 1, file, pgoff, vpn, pages, write });

describe('mmap of a file: what it accepts', () => {
  it('refuses a file the guest does not have (below 0, at FILES_PER_GUEST) and maps the first and the last file', () => {
    const { s, g, p } = started();
    for (const file of [-1, FILES_PER_GUEST]) expect(fileMmap(s.world, g, p, file, 0, V, 1, true)).toMatchObject({ ok: false, error: 'out-of-range' });
    expect(p.vmas).toEqual([]);
    expect(fileMmap(s.world, g, p, FILES_PER_GUEST - 1, 0, V, 1, true)).toEqual({ ok: true });
    expect(fileMmap(s.world, g, p, 0, 0, V + 1, 1, true)).toEqual({ ok: true });
    expect(p.vmas.map((v) => [v.start, v.end, v.object?.id])).toEqual([[V, V + 1, FILES_PER_GUEST - 1], [V + 1, V + 2, 0]]);
  });

  it('refuses a range that ends past the user half of the address space; one that ends at its last page maps', () => {
    const { s, p } = started();
    expect(s.apply('file.mmap', mmapArgs(0, 0, USER_HALF_END - 1, 2))).toEqual({ ok: false, error: 'out-of-range' });
    expect(p.vmas).toEqual([]);
    expect(s.apply('file.mmap', mmapArgs(0, 0, USER_HALF_END - 2, 2))).toEqual({ ok: true });
    expect(p.vmas.map((v) => [v.start, v.end])).toEqual([[USER_HALF_END - 2, USER_HALF_END]]);
  });

  it('refuses a range overlapping a VMA at either end; ranges that only touch it map', () => {
    const { s, p } = started();
    expect(s.apply('file.mmap', mmapArgs(0, 0, V, 4))).toEqual({ ok: true });
    expect(s.apply('file.mmap', mmapArgs(1, 0, V - 2, 4))).toEqual({ ok: false, error: 'overlap' });
    expect(s.apply('file.mmap', mmapArgs(1, 0, V + 3, 2))).toEqual({ ok: false, error: 'overlap' });
    expect(p.vmas.map((v) => [v.start, v.end])).toEqual([[V, V + 4]]);
    expect(s.apply('file.mmap', mmapArgs(1, 0, V - 4, 4))).toEqual({ ok: true });
    expect(s.apply('file.mmap', mmapArgs(2, 0, V + 4, 4))).toEqual({ ok: true });
    expect(p.vmas.map((v) => [v.start, v.end, v.object?.id])).toEqual([[V - 4, V, 1], [V, V + 4, 0], [V + 4, V + 8, 2]]);
  });

  it('reports the new range to the journal, as core mmap does, for the incremental checks', () => {
    const { w, g, p } = oneProcess();
    w.journal.clear();
    expect(fileMmap(w, g, p, 3, 2, V, 4, true)).toEqual({ ok: true });
    expect(w.journal.ranges).toEqual([{ guest: g.id, pid: p.pid, vpnStart: V, vpnEnd: V + 4 }]);
  });
});

describe('filemap_fault: which page a mapping maps', () => {
  it('a fault at va maps page pgoff + (va - start) of the file (linear_page_index), user-accessible, writable as the VMA', () => {
    const { s, g, p } = started();
    expect(s.apply('file.mmap', mmapArgs(2, 5, V, 3))).toEqual({ ok: true });
    expect(s.apply('file.mmap', mmapArgs(3, 0, V + 8, 1, false))).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 1 })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 8 })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
    const page = lookupPage(g, 2, 6)!;
    expect(page).toBeDefined();
    // Only the page faulted is in the cache: not the file's page at the VA's offset alone (1), nor pgoff's (5).
    expect([lookupPage(g, 2, 1), lookupPage(g, 2, 5), lookupPage(g, 2, 7)]).toEqual([undefined, undefined, undefined]);
    const leaf = peekLeaf(s.world, g, p, V + 1)!;
    expect(leaf.gfn).toBe(page.gfn);
    expect(leaf.entry.flags & (PTE_USER | PTE_RW)).toBe(PTE_USER | PTE_RW);
    expect(leaf.entry.nx).toBe(true);
    // The read-only mapping: user, not writable.
    const ro = peekLeaf(s.world, g, p, V + 8)!;
    expect(ro.gfn).toBe(lookupPage(g, 3, 0)!.gfn);
    expect(ro.entry.flags & (PTE_USER | PTE_RW)).toBe(PTE_USER);
    // The page-table checks accept exactly that page at that va.
    expect(leafMayMap(g, 1, V + 1, page.gfn)).toBe(true);
    expect(leafMayMap(g, 1, V + 1, ro.gfn)).toBe(false);
  });

  it('the page-cache resolver answers for file VMAs only: a DAX leaf whose (file, index) is also a cached file page stays valid', () => {
    const { s, g } = started();
    // File 0 page 0 of the guest's page cache and page 0 of shared file 0 have the same key.
    expect(s.apply('file.read', { guest: 0, file: 0, index: 0 })).toEqual({ ok: true, value: 0 });
    expect(s.apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: V, write: false })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
    const cached = lookupPage(g, 0, 0)!.gfn;
    expect(leafMayMap(g, 1, V, windowGfn(g, 0, 0))).toBe(true);
    expect(leafMayMap(g, 1, V, cached)).toBe(false);
  });
});

describe('zap_pte_range: munmap moves the dirty bits of the unmapped range, and only those', () => {
  it('a written page in the range becomes dirty, a page only read stays clean, written pages outside keep the bit in their PTE', () => {
    const { s, g, p } = started();
    expect(s.apply('file.mmap', mmapArgs(0, 0, V, 4))).toEqual({ ok: true });
    expect(s.apply('file.mmap', mmapArgs(1, 0, V + 8, 2))).toEqual({ ok: true });
    for (const vpn of [V, V + 1, V + 3, V + 8]) expect(s.apply('guest.write', { guest: 0, pid: 1, vpn }).ok).toBe(true);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V + 2 })).toEqual({ ok: true });
    const [p0, p1, p2, p3] = [0, 1, 2, 3].map((i) => lookupPage(g, 0, i)!);
    const other = lookupPage(g, 1, 0)!;
    for (const page of [p0, p1, p2, p3, other]) expect(page.dirty).toBe(false);
    expect(s.apply('guest.munmap', { guest: 0, pid: 1, vpn: V + 1, pages: 2 })).toEqual({ ok: true });
    expect(s.r.violation).toBeNull();
    expect(p1.dirty).toBe(true);
    expect(p2.dirty).toBe(false);
    expect(isDirty(s.world, g, p2)).toBe(false);
    // Outside the range: still mapped, PG_dirty clear, the write recorded in the PTE.
    for (const [page, vpn] of [[p0, V], [p3, V + 3], [other, V + 8]] as const) {
      expect(page.dirty).toBe(false);
      expect(peekLeaf(s.world, g, p, vpn)!.entry.flags & PTE_DIRTY).toBe(PTE_DIRTY);
    }
    expect(s.apply('guest.munmap', { guest: 0, pid: 1, vpn: V, pages: 16 })).toEqual({ ok: true });
    for (const page of [p0, p3, other]) expect(page.dirty).toBe(true);
    expect(p2.dirty).toBe(false);
  });
});

describe('do_wp_page -> wp_page_shared: a write-protect fault on a shared file page', () => {
  it('makes the PTE writable in place: same page, no new mapping, no second LRU touch', () => {
    const { s, g, p } = started();
    expect(s.apply('file.mmap', mmapArgs(0, 0, V, 1))).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: V })).toEqual({ ok: true });
    const page = lookupPage(g, 0, 0)!;
    const key = pageKey(0, 0);
    const mappedCount = () => s.world.transitions.get('page-cache')?.get('unmapped->mapped') ?? 0;
    expect(mappedCount()).toBe(1);
    expect([cacheOf(g).referenced.has(key), cacheOf(g).active.has(key)]).toEqual([true, false]);
    // mprotect down and up again: a page-cache page is not exclusive anon, so its PTE stays
    // read-only (can_change_pte_writable) and the next write faults on a present PTE.
    expect(s.apply('guest.mprotect', { guest: 0, pid: 1, vpn: V, pages: 1, write: false, exec: false })).toEqual({ ok: true });
    expect(s.apply('guest.mprotect', { guest: 0, pid: 1, vpn: V, pages: 1, write: true, exec: false })).toEqual({ ok: true });
    expect(peekLeaf(s.world, g, p, V)!.entry.flags & PTE_RW).toBe(0);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: V }).ok).toBe(true);
    expect(s.r.violation).toBeNull();
    const leaf = peekLeaf(s.world, g, p, V)!;
    expect(leaf.gfn).toBe(page.gfn);
    expect(leaf.entry.flags & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    expect(mappedCount()).toBe(1);
    expect([cacheOf(g).referenced.has(key), cacheOf(g).active.has(key)]).toEqual([true, false]);
  });
});
