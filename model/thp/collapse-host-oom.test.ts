/**
 * khugepaged's collapse (mm/khugepaged.c collapse_huge_page -> __collapse_huge_page_copy) with
 * the host out of frames: the new huge page is a fresh guest block the host has never backed,
 * so copying into it takes an EPT fault that finds no host frame. The model then puts the PTE
 * table back (as the kernel does when the copy fails: pmd_populate of the saved table) and
 * gives the huge page up: the range stays mapped by its 4 KiB pages with their data.
 */
import { SMALL_GUEST, stepper, exhaustHost } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { peekLeaf } from '../mmu/peek';

const BASE = 4 * FRAMES_PER_2M;

test('a collapse whose copy into the new huge page finds the host out of frames refuses host-oom; the range keeps its PTEs, pages and data', () => {
  const { r, apply } = stepper({ hostFrames: 2 ** 14, guests: [{ ...SMALL_GUEST, frames: 2 ** 13, hugePages: true }], faults: [], options: { 'thp.use-zero-page': false } });
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('guest.mmap', { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true });
  for (const off of [0, 3]) expect(apply('guest.write', { guest: 0, pid: 1, vpn: BASE + off }).ok).toBe(true);
  expect(apply('thp.split', { guest: 0, pid: 1, vpn: BASE }).ok).toBe(true);
  // Keep four pages mapped; the other PTEs go (max_ptes_none allows the collapse).
  expect(apply('thp.dontneed', { guest: 0, pid: 1, vpn: BASE + 4, pages: FRAMES_PER_2M - 4 }).ok).toBe(true);
  expect(apply('thp.khugepaged.scan', { guest: 0, pid: 1, vpn: BASE }).ok).toBe(true);
  const p = g.processes.get(1)!;
  const before = [0, 1, 2, 3].map((i) => peekLeaf(r.world, g, p, BASE + i)!);
  for (const l of before) expect(l.level).toBe(1);
  const data = before.map((l) => r.world.frames.read(g.backing.get(l.gfn)!));
  exhaustHost(r);
  const free = g.buddy.freePages();
  expect(apply('thp.khugepaged.collapse', { guest: 0 })).toEqual({ ok: false, error: 'host-oom' });
  expect(g.buddy.freePages()).toBe(free);
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
});
