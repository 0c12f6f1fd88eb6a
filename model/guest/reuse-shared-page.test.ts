/**
 * A write to a shared mapping after mprotect(PROT_READ) and back to PROT_READ|PROT_WRITE.
 * mprotect gives write back in place only to exclusive anonymous pages (can_change_pte_writable);
 * the PTEs of a shared file or DAX mapping stay read-only (vma_wants_writenotify), and the first
 * write faults: do_wp_page -> wp_page_shared -> wp_page_reuse makes the PTE writable on the same
 * page (mm/memory.c). Before reuseSharedPage, no handler did, and the write was refused with
 * `retry` after ACCESS_RETRIES_MAX spurious faults.
 */
import { PTE_RW } from '../constants';
import type { Operation } from '../../fuzz/contract';
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { windowGfn } from '../dax/shared-cache';

const V = 1 << 20;
const BASE = { 'cleancache.enabled': false, 'frontswap.enabled': false };
const at = { guest: 0, pid: 1, vpn: V };
const protect = (write: boolean) => op('guest.mprotect', { ...at, pages: 1, write, exec: false });
const outcomes = (r: ReturnType<typeof scenario>) => r.results.map((x) => (x.ok ? 'ok' : x.error));

/** The steps' outcomes and the leaf at V after them; then the same run to its end-of-run checks. */
function run(options: Record<string, string | boolean>, steps: Operation[]) {
  const r = scenario(machine(options), steps);
  const g = r.world.guests[0]!;
  const leaf = peekLeaf(r.world, g, g.processes.get(1)!, V)!;
  return { outcomes: outcomes(r), leaf, g, world: r.world, violations: kinds(scenario(machine(options), steps, true)) };
}

test('a shared file page made read-only and writable again takes the next write in place, on the same page-cache page', () => {
  const setup = [
    op('guest.spawn', { guest: 0 }),
    op('file.mmap', { ...at, file: 0, pgoff: 0, pages: 4, write: true }),
    op('guest.read', at),
    protect(false),
    op('guest.write', at),
    protect(true),
  ];
  const before = run(BASE, setup);
  expect(before.outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'segv', 'ok']);
  expect(before.leaf.entry.flags & PTE_RW).toBe(0);
  const after = run(BASE, [...setup, op('guest.write', at), op('guest.read', at)]);
  expect(after.outcomes.slice(6)).toEqual(['ok', 'ok']);
  expect(after.leaf.gfn).toBe(before.leaf.gfn);
  expect(after.leaf.entry.flags & PTE_RW).toBe(PTE_RW);
  expect(after.violations).toEqual([]);
  // The written page reaches the file: munmap moves the PTE's dirty bit to the page.
  const written = run(BASE, [...setup, op('guest.write', at), op('guest.munmap', { ...at, pages: 4 }), op('file.read', { guest: 0, file: 0, index: 0 })]);
  expect(written.outcomes.slice(6, 9)).toEqual(['ok', 'ok', 'ok']);
  expect(written.violations).toEqual([]);
});

test('a DAX window page made read-only and writable again takes the next write on the shared frame, with no private copy', () => {
  const r = run({ ...BASE, 'shared-page-cache.grants': 'ro' }, [
    op('guest.spawn', { guest: 0 }),
    op('dax.grant', { guest: 0, file: 0, write: true }),
    op('dax.mmap', { ...at, file: 0, write: true }),
    op('guest.read', at),
    protect(false),
    protect(true),
    op('guest.write', at),
    op('guest.read', at),
  ]);
  expect(r.outcomes).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  expect(r.violations).toEqual([]);
  expect(r.leaf.gfn).toBe(windowGfn(r.g, 0, 0));
  expect(r.leaf.entry.flags & PTE_RW).toBe(PTE_RW);
  expect(r.world.frames.owner(r.g.backing.get(windowGfn(r.g, 0, 0))!)?.kind).toBe('shared-page-cache');
});
