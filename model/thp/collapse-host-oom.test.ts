/**
 * khugepaged's collapse (mm/khugepaged.c collapse_huge_page -> __collapse_huge_page_copy) with
 * the host out of frames: the new huge page is a fresh guest block the host has never backed,
 * so copying into it takes an EPT fault that finds no host frame. The model then puts the PTE
 * table back (as the kernel does when the copy fails: pmd_populate of the saved table) and
 * gives the huge page up: the range stays mapped by its 4 KiB pages with their data.
 * And the collapse that succeeds, from a scan of any page of the range: the old pages and the
 * PTE table are freed.
 */
import { SMALL_GUEST, stepper, exhaustHost } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M, PTE_USER } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { findSlot } from '../guest/page-tables';

const BASE = 4 * FRAMES_PER_2M;

/** A huge VMA at BASE written at 0 and 3, split, then all but its first four PTEs discarded; scanned from `scanAt`. */
function scannedRange(scanAt = BASE) {
  const s = stepper({ hostFrames: 2 ** 14, guests: [{ ...SMALL_GUEST, frames: 2 ** 13, hugePages: true }], faults: [], options: { 'thp.use-zero-page': false } });
  const { r, apply } = s;
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('guest.mmap', { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true });
  for (const off of [0, 3]) expect(apply('guest.write', { guest: 0, pid: 1, vpn: BASE + off }).ok).toBe(true);
  expect(apply('thp.split', { guest: 0, pid: 1, vpn: BASE }).ok).toBe(true);
  // Keep four pages mapped; the other PTEs go (max_ptes_none allows the collapse).
  expect(apply('thp.dontneed', { guest: 0, pid: 1, vpn: BASE + 4, pages: FRAMES_PER_2M - 4 }).ok).toBe(true);
  expect(apply('thp.khugepaged.scan', { guest: 0, pid: 1, vpn: scanAt }).ok).toBe(true);
  const p = g.processes.get(1)!;
  const before = [0, 1, 2, 3].map((i) => peekLeaf(r.world, g, p, BASE + i)!);
  for (const l of before) expect(l.level).toBe(1);
  return { ...s, g, p, before };
}

const anonPages = (g: ReturnType<typeof scannedRange>['g']) => [...g.owners.values()].filter((o) => o.kind === 'anon').length;

test('a collapse whose copy into the new huge page finds the host out of frames refuses host-oom; the range keeps its PTEs, pages and data', () => {
  // With no host frame left the copy fails at the first subpage; with two, after the first
  // subpages were written: either way the huge page's owners are cleared, its own and no others.
  for (const leave of [0, 2]) {
    const { r, apply, g, p, before } = scannedRange();
    const data = before.map((l) => r.world.frames.read(g.backing.get(l.gfn)!));
    const anon = anonPages(g);
    exhaustHost(r, leave);
    const free = g.buddy.freePages();
    expect(apply('thp.khugepaged.collapse', { guest: 0 })).toEqual({ ok: false, error: 'host-oom' });
    expect(g.buddy.freePages()).toBe(free);
    expect(anonPages(g)).toBe(anon);
    [0, 1, 2, 3].forEach((i) => {
      const l = peekLeaf(r.world, g, p, BASE + i)!;
      expect(l.level).toBe(1);
      expect(l.gfn).toBe(before[i]!.gfn);
      expect(g.owners.get(l.gfn)).toEqual({ kind: 'anon', pid: 1, vpn: BASE + i });
      expect(r.world.frames.read(g.backing.get(l.gfn)!)).toEqual(data[i]);
    });
    expect(apply('guest.read', { guest: 0, pid: 1, vpn: BASE + 3 }).ok).toBe(true);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  }
});

test('a scan from any page of the range takes the whole 2 MiB range; the collapse frees the four old pages and the PTE table', () => {
  const { r, apply, g, p, before } = scannedRange(BASE + 300);
  const pte = findSlot(r.world, g, p, BASE, 1);
  if (!pte || 'error' in pte) throw new Error('no PTE slot');
  expect(apply('thp.khugepaged.collapse', { guest: 0 }).ok).toBe(true);
  const leaf = peekLeaf(r.world, g, p, BASE + 300)!;
  expect(leaf).toMatchObject({ level: 2, writable: true, nx: true });
  expect(leaf.entry.flags & PTE_USER).toBe(PTE_USER);
  for (const l of before) {
    expect(g.owners.has(l.gfn)).toBe(false);
    expect(g.buddy.allocatedBlock(l.gfn)).toBeUndefined();
  }
  expect(g.tables.has(pte.tableGfn)).toBe(false);
  expect(g.owners.has(pte.tableGfn)).toBe(false);
  expect(anonPages(g)).toBe(FRAMES_PER_2M);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
