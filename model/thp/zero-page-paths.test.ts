/**
 * The zero-page fault paths in detail (mm/huge_memory.c do_huge_pmd_anonymous_page, mm/memory.c
 * do_wp_page -> wp_page_copy):
 * - the huge zero PMD is read-only and takes its execute permission from the VMA;
 * - a write to the 4 KiB zero page clears one fresh page (clear_user_highpage: one guest
 *   zeroing) and is counted as zero-4k -> copied;
 * - a range holding a page some mechanism keeps outside the page tables (a swap entry in Linux's
 *   PTE table: the PMD is not none) gets no huge zero page, whichever page of the range faults,
 *   and a page just past the range does not count;
 * - the zero pages are owned as such (huge or not) and mapped user-accessible, as is the copy;
 * - the paths are the zero pages' only: a write to an empty huge range takes a THP though zero
 *   pages exist, a read under a PTE table maps no huge zero page, a write fault on a present page
 *   that is not a zero page is the core's (a shared file page made writable again), and a
 *   collapse unmaps 4 KiB zero pages without freeing them.
 */
import { Runner } from '../../fuzz/run';
import { FRAMES_PER_2M } from '../constants';
import { ZERO } from '../content';
import { peekLeaf } from '../mmu/peek';
import { PTE_USER } from '../constants';
import { thpState } from './state';
import { isZeroGfn } from './zero-page';

const BASE = 4 * FRAMES_PER_2M;

function recording(exec = false) {
  const out: string[] = [];
  const guest = { frames: 2 ** 13, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: true };
  const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults: [], options: { 'thp.use-zero-page': true } }, { check: 'incremental', onStep: (_s, _op, res) => out.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec, huge: true } });
  const g = r.world.guests[0]!;
  return { r, out, g, p: g.processes.get(1)! };
}

function last(r: Runner, out: string[], kind: string, args: Record<string, number | boolean>): string {
  r.apply({ kind, args: { guest: 0, ...args } });
  return out[out.length - 1]!;
}

test('the huge zero PMD is read-only, no-execute in a VMA without PROT_EXEC and executable in one with it', () => {
  for (const exec of [false, true]) {
    const { r, out, g, p } = recording(exec);
    expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + 3 })).toBe('ok');
    const l = peekLeaf(r.world, g, p, BASE + 3)!;
    expect({ level: l.level, gfn: l.gfn, writable: l.writable, nx: l.nx }).toEqual({ level: 2, gfn: thpState(r.world).zero2m.get(0)! + 3, writable: false, nx: !exec });
    expect(r.world.transitions.get('thp')?.get('unmapped->huge-zero')).toBe(1);
    expect(r.violation).toBeNull();
  }
});

test('a write to the 4 KiB zero page clears one new page for that address only, counted as zero-4k -> copied', () => {
  const { r, out, g, p } = recording();
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE })).toBe('ok');
  expect(last(r, out, 'thp.split', { pid: 1, vpn: BASE })).toBe('ok');
  const z4 = thpState(r.world).zero4k.get(0)!;
  const zeroings = g.zeroings;
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 9 })).toBe('ok');
  expect(g.zeroings).toBe(zeroings + 1);
  const l = peekLeaf(r.world, g, p, BASE + 9)!;
  expect(l.gfn).not.toBe(z4);
  expect({ level: l.level, writable: l.writable, nx: l.nx }).toEqual({ level: 1, writable: true, nx: true });
  expect(g.owners.get(l.gfn)).toEqual({ kind: 'anon', pid: 1, vpn: BASE + 9 });
  expect(peekLeaf(r.world, g, p, BASE + 10)!.gfn).toBe(z4);
  expect(r.world.transitions.get('thp')?.get('zero-4k->copied')).toBe(1);
  expect(r.violation).toBeNull();
});

test('a read in a range holding a page kept outside the page tables gets no huge zero page', () => {
  const { r, out, g, p } = recording();
  // The model's swap never pages out a VM_HUGEPAGE page (swapOut refuses huge VMAs); a
  // mechanism that did would answer through pagedOutHooks, as guest swap does for its entries.
  g.pagedOutHooks.push((_w, _g, pid, vpn) => (pid === 1 && vpn === BASE + 200 ? ZERO : undefined));
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + 3 })).toBe('ok');
  expect(thpState(r.world).zero2m.has(0)).toBe(false);
  expect(peekLeaf(r.world, g, p, BASE + 3)).not.toBeNull();
  expect(r.world.transitions.get('thp')?.get('unmapped->huge-zero')).toBeUndefined();
});

test('the zero pages are owned as zero pages, huge or not; their PTEs and the copy are user-accessible', () => {
  const { r, out, g, p } = recording();
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE })).toBe('ok');
  const z2 = thpState(r.world).zero2m.get(0)!;
  expect(peekLeaf(r.world, g, p, BASE)!.entry.flags & PTE_USER).toBe(PTE_USER);
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 1 })).toBe('ok');
  const z4 = thpState(r.world).zero4k.get(0)!;
  expect(g.owners.get(z2)).toEqual({ kind: 'zero-page', huge: true });
  expect(g.owners.get(z2 + 511)).toEqual({ kind: 'zero-page', huge: true });
  // The split left the huge zero page one 2 MiB block: only a THP's folio is split.
  expect(g.buddy.allocatedBlock(z2 + 5)?.order).toBe(9);
  expect(g.owners.get(z4)).toEqual({ kind: 'zero-page', huge: false });
  expect(isZeroGfn(g, z4)).toBe(true);
  expect(isZeroGfn(g, z2 + 511)).toBe(true);
  expect(isZeroGfn(g, peekLeaf(r.world, g, p, BASE + 1)!.gfn)).toBe(false);
  for (const vpn of [BASE, BASE + 1]) expect(peekLeaf(r.world, g, p, vpn)!.entry.flags & PTE_USER).toBe(PTE_USER);
  expect(r.violation).toBeNull();
});

test('the range checked for pages kept outside the tables is the 2 MiB range of the faulting page, and only it', () => {
  for (const [kept, blocked] of [[BASE + 1, true], [BASE + FRAMES_PER_2M - 1, true], [BASE + FRAMES_PER_2M, false], [BASE - 1, false]] as const) {
    const { r, out, g, p } = recording();
    g.pagedOutHooks.push((_w, _g, pid, vpn) => (pid === 1 && vpn === kept ? ZERO : undefined));
    expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + 7 })).toBe('ok');
    expect(thpState(r.world).zero2m.has(0)).toBe(!blocked);
    if (!blocked) expect(peekLeaf(r.world, g, p, BASE + 7)!.gfn).toBe(thpState(r.world).zero2m.get(0)! + 7);
  }
});

test('a write to an empty huge range takes a THP though zero pages exist; a read under a PTE table maps no huge zero page', () => {
  const { r, out, g, p } = recording();
  expect(last(r, out, 'guest.mmap', { pid: 1, vpn: BASE + FRAMES_PER_2M, pages: FRAMES_PER_2M, write: true, exec: false, huge: true })).toBe('ok');
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 2 })).toBe('ok');
  const thp = peekLeaf(r.world, g, p, BASE + 2)!;
  expect(thp.level).toBe(2);
  expect(g.owners.get(thp.gfn)).toEqual({ kind: 'anon', pid: 1, vpn: BASE + 2 });
  // Split it and drop one page: the PMD now points to a PTE table with one PTE none.
  expect(last(r, out, 'thp.split', { pid: 1, vpn: BASE })).toBe('ok');
  expect(last(r, out, 'thp.dontneed', { pid: 1, vpn: BASE + 5, pages: 1 })).toBe('ok');
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + 5 })).toBe('ok');
  expect(thpState(r.world).zero2m.has(0)).toBe(false);
  expect(peekLeaf(r.world, g, p, BASE + 5)!.level).toBe(1);
  // Now a huge zero page exists (a read of the second range), and a write to a third, empty
  // range: still a THP.
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + FRAMES_PER_2M })).toBe('ok');
  expect(thpState(r.world).zero2m.has(0)).toBe(true);
  expect(last(r, out, 'guest.mmap', { pid: 1, vpn: BASE + 2 * FRAMES_PER_2M, pages: FRAMES_PER_2M, write: true, exec: false, huge: true })).toBe('ok');
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 2 * FRAMES_PER_2M + 9 })).toBe('ok');
  const second = peekLeaf(r.world, g, p, BASE + 2 * FRAMES_PER_2M + 9)!;
  expect(second.level).toBe(2);
  expect(g.owners.get(second.gfn)?.kind).toBe('anon');
  expect(r.world.transitions.get('thp')?.get('unmapped->huge-zero')).toBe(1);
  expect(r.violation).toBeNull();
});

test('with zero pages in the guest, a write fault on a present page that is not a zero page is the core\'s: a shared file page made writable again is written in place', () => {
  const { r, out, g, p } = recording();
  const at = { pid: 1, vpn: 1 << 20 };
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE })).toBe('ok');
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 1 })).toBe('ok');
  expect(last(r, out, 'file.mmap', { ...at, file: 0, pgoff: 0, pages: 4, write: true })).toBe('ok');
  expect(last(r, out, 'guest.read', at)).toBe('ok');
  const page = peekLeaf(r.world, g, p, at.vpn)!.gfn;
  expect(last(r, out, 'guest.mprotect', { ...at, pages: 1, write: false, exec: false })).toBe('ok');
  expect(last(r, out, 'guest.mprotect', { ...at, pages: 1, write: true, exec: false })).toBe('ok');
  expect(last(r, out, 'guest.write', at)).toBe('ok');
  expect(peekLeaf(r.world, g, p, at.vpn)!.gfn).toBe(page);
  expect(r.violation).toBeNull();
});

test('a collapse of a range holding 4 KiB zero pages unmaps them and keeps them: the zero page is never freed', () => {
  const { r, out, g, p } = recording();
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE })).toBe('ok');
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 1 })).toBe('ok');
  const z4 = thpState(r.world).zero4k.get(0)!;
  expect(last(r, out, 'thp.khugepaged.scan', { pid: 1, vpn: BASE })).toBe('ok');
  expect(last(r, out, 'thp.khugepaged.collapse', {})).toBe('ok');
  expect(peekLeaf(r.world, g, p, BASE)!.level).toBe(2);
  expect(g.owners.get(z4)).toEqual({ kind: 'zero-page', huge: false });
  expect(g.buddy.allocatedBlock(z4)).toBeDefined();
  expect(r.violation).toBeNull();
});
