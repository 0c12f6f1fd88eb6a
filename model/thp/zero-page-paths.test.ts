/**
 * The zero-page fault paths in detail (mm/huge_memory.c do_huge_pmd_anonymous_page, mm/memory.c
 * do_wp_page -> wp_page_copy):
 * - the huge zero PMD is read-only and takes its execute permission from the VMA;
 * - a write to the 4 KiB zero page clears one fresh page (clear_user_highpage: one guest
 *   zeroing) and is counted as zero-4k -> copied;
 * - a range holding a page some mechanism keeps outside the page tables (a swap entry in Linux's
 *   PTE table: the PMD is not none) gets no huge zero page.
 */
import { Runner } from '../../fuzz/run';
import { FRAMES_PER_2M } from '../constants';
import { ZERO } from '../content';
import { peekLeaf } from '../mmu/peek';
import { thpState } from './state';

const BASE = 4 * FRAMES_PER_2M;

function recording(exec = false): { r: Runner; out: string[] } {
  const out: string[] = [];
  const guest = { frames: 2 ** 13, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: true };
  const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults: [], options: { 'thp.use-zero-page': true } }, { check: 'incremental', onStep: (_s, _op, res) => out.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec, huge: true } });
  return { r, out };
}

function last(r: Runner, out: string[], kind: string, args: Record<string, number | boolean>): string {
  r.apply({ kind, args: { guest: 0, ...args } });
  return out[out.length - 1]!;
}

test('the huge zero PMD is read-only, no-execute in a VMA without PROT_EXEC and executable in one with it', () => {
  for (const exec of [false, true]) {
    const { r, out } = recording(exec);
    const g = r.world.guests[0]!;
    expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + 3 })).toBe('ok');
    const l = peekLeaf(r.world, g, g.processes.get(1)!, BASE + 3)!;
    expect({ level: l.level, gfn: l.gfn, writable: l.writable, nx: l.nx }).toEqual({ level: 2, gfn: thpState(r.world).zero2m.get(0)! + 3, writable: false, nx: !exec });
    expect(r.world.transitions.get('thp')?.get('unmapped->huge-zero')).toBe(1);
    expect(r.violation).toBeNull();
  }
});

test('a write to the 4 KiB zero page clears one new page for that address only, counted as zero-4k -> copied', () => {
  const { r, out } = recording();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
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
  const { r, out } = recording();
  const g = r.world.guests[0]!;
  // The model's swap never pages out a VM_HUGEPAGE page (swapOut refuses huge VMAs); a
  // mechanism that did would answer through pagedOutHooks, as guest swap does for its entries.
  g.pagedOutHooks.push((_w, _g, pid, vpn) => (pid === 1 && vpn === BASE + 200 ? ZERO : undefined));
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE + 3 })).toBe('ok');
  expect(thpState(r.world).zero2m.has(0)).toBe(false);
  expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + 3)).not.toBeNull();
  expect(r.world.transitions.get('thp')?.get('unmapped->huge-zero')).toBeUndefined();
});
