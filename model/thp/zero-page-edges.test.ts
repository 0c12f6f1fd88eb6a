/**
 * The huge zero page's edges (mm/huge_memory.c do_huge_pmd_anonymous_page with
 * transparent_hugepage/use_zero_page, mm/memory.c do_wp_page -> wp_page_copy):
 * - the host out of frames when the guest zeroes the new huge zero page, its THP, or the copy
 *   of the 4 KiB zero page: the fault refuses (host-oom) and gives every guest page it took
 *   back, the zero page stays unallocated.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { exhaustHost } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { thpState } from './state';

const BASE = 2 ** 20;

function runner(): { r: Runner; errors: (string | undefined)[] } {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }], faults: [], options: { 'thp.use-zero-page': true } };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  errors.length = 0;
  return { r, errors };
}

test('the host out of frames: the read fault refuses (host-oom) after neither the huge zero page nor a THP could be zeroed, and both blocks go back to the guest', () => {
  const { r, errors } = runner();
  const g = r.world.guests[0]!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true } });
  exhaustHost(r);
  const free = g.buddy.freePages();
  const tables = g.tables.size;
  errors.length = 0;
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + 5 } });
  expect(errors).toEqual(['host-oom']);
  expect(thpState(r.world).zero2m.has(0)).toBe(false);
  expect([...g.owners.values()].filter((o) => o.kind === 'zero-page' || o.kind === 'anon')).toEqual([]);
  // Only the page tables down to the PMD, allocated on the way, stay (as in Linux).
  expect(g.tables.size).toBeGreaterThan(tables);
  expect(g.buddy.freePages()).toBe(free - (g.tables.size - tables));
  expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + 5)).toBeNull();
  expect(r.violation).toBeNull();
});

test("the host out of frames at a write to the 4 KiB zero page (after the huge zero page's split): wp_page_copy's zeroing refuses (host-oom), the zero page stays mapped and the copy goes back", () => {
  const { r, errors } = runner();
  const g = r.world.guests[0]!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true } });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + 5 } });
  r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
  expect(errors).toEqual([undefined, undefined, undefined]);
  const z4 = thpState(r.world).zero4k.get(0)!;
  expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + 5)).toMatchObject({ level: 1, gfn: z4 });
  exhaustHost(r);
  const free = g.buddy.freePages();
  errors.length = 0;
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + 5 } });
  expect(errors).toEqual(['host-oom']);
  expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + 5)).toMatchObject({ level: 1, gfn: z4 });
  expect(g.buddy.freePages()).toBe(free);
  expect([...g.owners.values()].filter((o) => o.kind === 'anon')).toEqual([]);
  expect(r.violation).toBeNull();
});
