/**
 * khugepaged in the guest and MADV_DONTNEED at their limits: the scan needs one VM_HUGEPAGE VMA
 * over the whole 2 MiB range; a page a mechanism keeps outside the tables (a swap entry) is not
 * pte_none (SCAN_EXCEED_SWAP_PTE: the model does not swap in); a range of 512 empty PTEs is more
 * than max_ptes_none (511); a collapse without a scan refuses, and an aborted one is counted.
 * MADV_DONTNEED zaps a huge page it wholly covers without splitting it (zap_huge_pmd) and
 * splits one it covers in part; it refuses more than DONTNEED_PAGES_MAX pages, and a range not
 * wholly mapped or file-backed, before anything goes. A stride counts from the range's first
 * page and stops at its end; a 2 MiB stretch with no PTE table is walked past; zero pages are
 * unmapped, never freed; a migration entry goes too, and the migration maps nothing back.
 */
import { Runner } from '../../fuzz/run';
import { FRAMES_PER_2M } from '../constants';
import { ZERO } from '../content';
import { peekLeaf } from '../mmu/peek';
import { pagedOut } from '../guest/leaf';
import { DONTNEED_PAGES_MAX, madviseDontneed } from './dontneed';
import { khugepagedCollapse } from './khugepaged';
import { thpState } from './state';
import { findSlot } from '../guest/page-tables';
import { isMigrationEntry } from '../paging/entries';

const BASE = 4 * FRAMES_PER_2M;

/** One process in a THP guest, each step's outcome recorded as 'ok' or 'code: detail'. */
function recording(zeroPage = false): { r: Runner; out: string[] } {
  const out: string[] = [];
  const guest = { frames: 2 ** 13, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: true };
  const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults: [], options: { 'thp.use-zero-page': zeroPage } }, { check: 'incremental', onStep: (_s, _op, res) => out.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  return { r, out };
}

function last(r: Runner, out: string[], kind: string, args: Record<string, number | boolean | string>): string {
  r.apply({ kind, args: { guest: 0, ...args } });
  return out[out.length - 1]!;
}

const mmap = (pages: number, huge: boolean) => ({ pid: 1, vpn: BASE, pages, write: true, exec: false, huge });
const va = (vpn: number) => `0x${(vpn * 4096).toString(16)}`;

/** A huge page at BASE written at 0 and 7, then split: 512 PTEs mapping its subpages. */
function splitRange(): { r: Runner; out: string[] } {
  const { r, out } = recording();
  expect(last(r, out, 'guest.mmap', mmap(FRAMES_PER_2M, true))).toBe('ok');
  for (const off of [0, 7]) expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + off })).toBe('ok');
  expect(last(r, out, 'thp.split', { pid: 1, vpn: BASE })).toBe('ok');
  return { r, out };
}

describe("khugepaged's scan in the guest", () => {
  test('a 2 MiB VMA without VM_HUGEPAGE does not qualify', () => {
    const { r, out } = recording();
    expect(last(r, out, 'guest.mmap', mmap(FRAMES_PER_2M, false))).toBe('ok');
    for (const off of [0, 7]) expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + off })).toBe('ok');
    expect(last(r, out, 'thp.khugepaged.scan', { pid: 1, vpn: BASE })).toBe(`busy: khugepaged: g0 pid 1 va ${va(BASE)}: no VM_HUGEPAGE VMA covers the range`);
    expect(thpState(r.world).guestCandidate.has(0)).toBe(false);
    expect(r.violation).toBeNull();
  });

  test('a page a mechanism keeps outside the page tables is not an empty PTE: the range is left alone', () => {
    const { r, out } = splitRange();
    const g = r.world.guests[0]!;
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE + 9, pages: 1 })).toBe('ok');
    // The model's swap never pages out a VM_HUGEPAGE page (swapOut refuses huge VMAs); a
    // mechanism that did would answer through pagedOutHooks, as guest swap does for its entries.
    g.pagedOutHooks.push((_w, _g, pid, vpn) => (pid === 1 && vpn === BASE + 9 ? ZERO : undefined));
    expect(last(r, out, 'thp.khugepaged.scan', { pid: 1, vpn: BASE })).toBe(`busy: khugepaged: g0 pid 1 va ${va(BASE)}: va ${va(BASE + 9)} is swapped out`);
    expect(thpState(r.world).guestCandidate.has(0)).toBe(false);
  });

  test('512 empty PTEs are more than max_ptes_none (511)', () => {
    const { r, out } = splitRange();
    expect(last(r, out, 'thp.khugepaged.scan', { pid: 1, vpn: BASE })).toBe('ok');
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: FRAMES_PER_2M })).toBe('ok');
    expect(last(r, out, 'thp.khugepaged.scan', { pid: 1, vpn: BASE })).toBe(`busy: khugepaged: g0 pid 1 va ${va(BASE)}: 512 none or zero PTEs > max_ptes_none 511`);
    expect(r.violation).toBeNull();
  });

  test('a collapse with nothing scanned refuses; an aborted collapse is counted as scanned -> aborted', () => {
    const { r, out } = splitRange();
    const g = r.world.guests[0]!;
    expect(khugepagedCollapse(r.world, g)).toMatchObject({ ok: false, error: 'no-such-mapping', detail: 'khugepaged: g0 has no scanned range' });
    expect(last(r, out, 'thp.khugepaged.scan', { pid: 1, vpn: BASE })).toBe('ok');
    expect(last(r, out, 'guest.munmap', { pid: 1, vpn: BASE, pages: FRAMES_PER_2M })).toBe('ok');
    expect(last(r, out, 'thp.khugepaged.collapse', {})).toMatch(/^busy: khugepaged: revalidation failed/);
    const thp = r.world.transitions.get('thp')!;
    expect(thp.get('scanned->aborted')).toBe(1);
    expect(thp.get('scanned->collapsed')).toBeUndefined();
    expect(r.violation).toBeNull();
  });

  test('no 2 MiB page for the collapse (guest-oom): the candidate is dropped, counted as aborted, and the range keeps its PTEs', () => {
    const { r, out } = splitRange();
    const g = r.world.guests[0]!;
    const p = g.processes.get(1)!;
    expect(last(r, out, 'thp.khugepaged.scan', { pid: 1, vpn: BASE })).toBe('ok');
    // The kernel takes every 2 MiB block left (unmovable: compaction cannot make another).
    for (let i = 0; i < 64 && last(r, out, 'guest.kalloc', { order: 9, mt: 'UNMOVABLE' }) === 'ok'; i++);
    expect(out[out.length - 1]).toMatch(/^guest-oom/);
    const gfn = peekLeaf(r.world, g, p, BASE + 7)!.gfn;
    expect(last(r, out, 'thp.khugepaged.collapse', {})).toMatch(/^guest-oom: khugepaged: no 2 MiB page/);
    expect(thpState(r.world).guestCandidate.has(0)).toBe(false);
    expect(r.world.transitions.get('thp')?.get('scanned->aborted')).toBe(1);
    expect(peekLeaf(r.world, g, p, BASE + 7)).toMatchObject({ level: 1, gfn });
    expect(r.violation).toBeNull();
  });
});

describe('MADV_DONTNEED over huge pages', () => {
  /** Two huge pages written, at BASE and BASE + 512. */
  function twoHuge(): { r: Runner; out: string[] } {
    const { r, out } = recording();
    expect(last(r, out, 'guest.mmap', mmap(2 * FRAMES_PER_2M, true))).toBe('ok');
    for (const off of [0, FRAMES_PER_2M]) expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + off })).toBe('ok');
    const g = r.world.guests[0]!;
    for (const off of [0, FRAMES_PER_2M]) expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + off)?.level).toBe(2);
    return { r, out };
  }

  const splits = (r: Runner) => r.world.transitions.get('thp')?.get('mapped-2m->split') ?? 0;

  test('exactly covered huge pages are zapped whole, not split; one covered in part is split', () => {
    for (const [start, pages, split] of [[BASE, 2 * FRAMES_PER_2M, 0], [BASE, FRAMES_PER_2M, 0], [BASE + FRAMES_PER_2M, FRAMES_PER_2M, 0], [BASE + 1, FRAMES_PER_2M - 1, 1], [BASE, FRAMES_PER_2M + 1, 1], [BASE + 1, 2 * FRAMES_PER_2M - 1, 1]] as const) {
      const { r, out } = twoHuge();
      const g = r.world.guests[0]!;
      const free = g.buddy.freePages();
      expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: start, pages })).toBe('ok');
      expect(splits(r)).toBe(split);
      expect(peekLeaf(r.world, g, g.processes.get(1)!, start)).toBeNull();
      expect(peekLeaf(r.world, g, g.processes.get(1)!, start + pages - 1)).toBeNull();
      // The page before the range, in a huge page the range covers in part, stays.
      if (start % FRAMES_PER_2M !== 0) expect(peekLeaf(r.world, g, g.processes.get(1)!, start - 1)?.level).toBe(1);
      expect(g.buddy.freePages()).toBeGreaterThan(free);
      expect(r.violation).toBeNull();
    }
  });

  test('every other page (a stride of 2, as compaction.fragment gives pages back) of a huge page: split first, only the even pages go', () => {
    // Called directly (the operation has no stride), so the runner's oracle does not follow.
    const { r } = twoHuge();
    const g = r.world.guests[0]!;
    const p = g.processes.get(1)!;
    expect(madviseDontneed(r.world, g, p, BASE, FRAMES_PER_2M, 2)).toEqual({ ok: true });
    expect(splits(r)).toBe(1);
    for (const off of [0, 2, 510]) expect(peekLeaf(r.world, g, p, BASE + off)).toBeNull();
    for (const off of [1, 3, 511]) expect(peekLeaf(r.world, g, p, BASE + off)?.level).toBe(1);
    // The second huge page, past the range, is untouched.
    expect(peekLeaf(r.world, g, p, BASE + FRAMES_PER_2M)?.level).toBe(2);
  });

  test('with a stride of 2 the swap entries of the pages skipped stay; those of the pages discarded go', () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    expect(last(r, out, 'guest.mmap', mmap(5, false))).toBe('ok');
    for (let off = 0; off < 5; off++) expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + off })).toBe('ok');
    for (const off of [1, 2, 4]) expect(last(r, out, 'swap.out', { pid: 1, vpn: BASE + off })).toBe('ok');
    expect(madviseDontneed(r.world, g, g.processes.get(1)!, BASE, 4, 2)).toEqual({ ok: true });
    expect(pagedOut(r.world, g, 1, BASE + 1)).toBeDefined();
    expect(pagedOut(r.world, g, 1, BASE + 2)).toBeUndefined();
    // BASE + 4 is the next stride step but past the range: its swap entry stays.
    expect(pagedOut(r.world, g, 1, BASE + 4)).toBeDefined();
  });

  test('a stride counts from the range\'s first page: with a stride of 3 from BASE + 2, BASE + 2 and BASE + 5 go', () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    const p = g.processes.get(1)!;
    expect(last(r, out, 'guest.mmap', mmap(8, false))).toBe('ok');
    for (let off = 0; off < 8; off++) expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + off })).toBe('ok');
    expect(madviseDontneed(r.world, g, p, BASE + 2, 6, 3)).toEqual({ ok: true });
    expect([0, 1, 2, 3, 4, 5, 6, 7].filter((off) => peekLeaf(r.world, g, p, BASE + off) === null)).toEqual([2, 5]);
  });

  test('a range whose first 2 MiB has no page table yet is walked past it to the pages after', () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    expect(last(r, out, 'guest.mmap', mmap(2 * FRAMES_PER_2M, false))).toBe('ok');
    expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + FRAMES_PER_2M + 88 })).toBe('ok');
    const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE + FRAMES_PER_2M + 88)!.gfn;
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: 2 * FRAMES_PER_2M })).toBe('ok');
    expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + FRAMES_PER_2M + 88)).toBeNull();
    expect(g.owners.has(gfn)).toBe(false);
    expect(r.violation).toBeNull();
  });

  test('a range not wholly mapped, or file-backed, is refused before anything goes', () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    expect(last(r, out, 'guest.mmap', mmap(4, false))).toBe('ok');
    expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE })).toBe('ok');
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: 5 })).toBe(`no-such-mapping: madvise: va ${va(BASE + 4)} is not mapped`);
    expect(last(r, out, 'file.mmap', { pid: 1, vpn: BASE + 4, file: 0, pgoff: 0, pages: 4, write: true })).toBe('ok');
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: 5 })).toBe(`invalid: madvise: va ${va(BASE + 4)} is file-backed; the model's MADV_DONTNEED covers anonymous memory`);
    expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE)?.level).toBe(1);
    expect(r.violation).toBeNull();
  });

  test('zero pages in the range are unmapped, never freed: the huge zero PMD and 4 KiB zero PTEs', () => {
    const { r, out } = recording(true);
    const g = r.world.guests[0]!;
    expect(last(r, out, 'guest.mmap', mmap(2 * FRAMES_PER_2M, true))).toBe('ok');
    expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE })).toBe('ok');
    expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + FRAMES_PER_2M })).toBe('ok');
    expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + FRAMES_PER_2M + 1 })).toBe('ok');
    const { zero2m, zero4k } = thpState(r.world);
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: 2 * FRAMES_PER_2M })).toBe('ok');
    for (const z of [zero2m.get(0)!, zero4k.get(0)!]) {
      expect(g.owners.get(z)?.kind).toBe('zero-page');
      expect(g.buddy.allocatedBlock(z)).toBeDefined();
    }
    expect(r.violation).toBeNull();
  });

  test('a page under migration (its PTE a migration entry) is discarded too: the migration maps nothing back', () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    const p = g.processes.get(1)!;
    expect(last(r, out, 'guest.mmap', mmap(4, false))).toBe('ok');
    expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 1 })).toBe('ok');
    const src = peekLeaf(r.world, g, p, BASE + 1)!.gfn;
    expect(last(r, out, 'compaction.migrate.begin', { side: 'guest', gfn: src })).toBe('ok');
    expect(last(r, out, 'compaction.migrate.step', { id: 1 })).toBe('ok');
    const pte = findSlot(r.world, g, p, BASE + 1, 1);
    expect(pte && !('ok' in pte) && isMigrationEntry(pte.entry)).toBe(true);
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: 4 })).toBe('ok');
    const after = findSlot(r.world, g, p, BASE + 1, 1);
    expect(after && !('ok' in after) ? after.entry : undefined).toBeUndefined();
    for (let i = 0; i < 4; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: 1 } });
    expect(peekLeaf(r.world, g, p, BASE + 1)).toBeNull();
    expect(r.violation).toBeNull();
  });

  test(`at most ${DONTNEED_PAGES_MAX} pages in one call`, () => {
    const { r, out } = recording();
    expect(last(r, out, 'guest.mmap', mmap(DONTNEED_PAGES_MAX + 1, false))).toBe('ok');
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: DONTNEED_PAGES_MAX + 1 })).toBe(`limit: MADV_DONTNEED of more than ${DONTNEED_PAGES_MAX} pages`);
    expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE, pages: DONTNEED_PAGES_MAX })).toBe('ok');
  });
});
