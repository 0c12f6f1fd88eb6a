/**
 * Splitting a huge PMD (mm/huge_memory.c __split_huge_pmd) when it cannot go ahead:
 * - the PMD's table page is being moved by the host (host-side compaction between its unmap
 *   and its remap): the split cannot read the PMD and refuses 'retry', changing nothing; once
 *   the host migration has ended it goes through;
 * - the guest out of memory when the huge zero PMD is split: __split_huge_zero_page_pmd maps
 *   the 4 KiB zero page in every PTE, and the model allocates that page on first use, so with
 *   no guest page left both a write to the huge zero page (do_huge_pmd_wp_page ->
 *   __split_huge_pmd) and an explicit split refuse guest-oom, and the huge zero PMD stays.
 */
import type { Runner } from '../../fuzz/run';
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M, MAX_PAGE_ORDER } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { compactionState } from '../compaction/state';
import { thpState } from './state';

const BASE = 2 ** 20;

function runner(): Stepper {
  const s = stepper(machine({ 'thp.use-zero-page': true }, [], 1, true));
  const { apply } = s;
  expect(apply('guest.spawn', { guest: 0 }).ok).toBe(true);
  expect(apply('guest.mmap', { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true }).ok).toBe(true);
  // A read of the empty huge range maps the huge zero page (do_huge_pmd_anonymous_page).
  expect(apply('guest.read', { guest: 0, pid: 1, vpn: BASE + 3 }).ok).toBe(true);
  return s;
}

function leafAt(r: Runner, vpn: number): { level: number; gfn: number } | null {
  const g = r.world.guests[0]!;
  const l = peekLeaf(r.world, g, g.processes.get(1)!, vpn);
  return l && { level: l.level, gfn: l.gfn };
}

test('a split while the host moves the PMD table refuses retry and leaves the huge zero PMD; after the host migration it splits to the 4 KiB zero page', () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  const hz = thpState(r.world).zero2m.get(0)!;
  expect(leafAt(r, BASE + 3)).toEqual({ level: 2, gfn: hz + 3 });
  const pmdTable = [...g.tables.entries()].find(([, t]) => t.pid === 1 && t.level === 2)![0];
  // The table's 2 MiB host page is split first (split_huge_page): a host migration moves 4 KiB frames.
  expect(apply('thp.host.split', { guest: 0, gfn: pmdTable }).ok).toBe(true);
  expect(apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: pmdTable }).ok).toBe(true);
  const id = [...compactionState(r.world).active.values()].find((m) => m.side === 'host')!.id;
  expect(apply('compaction.migrate.step', { id }).ok).toBe(true);
  expect(compactionState(r.world).active.get(id)?.stage).toBe('unmapped');
  expect(apply('thp.split', { guest: 0, pid: 1, vpn: BASE })).toEqual({ ok: false, error: 'retry' });
  expect(thpState(r.world).zero4k.has(0)).toBe(false);
  for (let i = 0; i < 3 && compactionState(r.world).active.has(id); i++) expect(apply('compaction.migrate.step', { id }).ok).toBe(true);
  expect(compactionState(r.world).finished.get(id)?.stage).toBe('done');
  expect(leafAt(r, BASE + 3)).toEqual({ level: 2, gfn: hz + 3 });
  expect(apply('thp.split', { guest: 0, pid: 1, vpn: BASE }).ok).toBe(true);
  expect(leafAt(r, BASE + 3)).toEqual({ level: 1, gfn: thpState(r.world).zero4k.get(0)! });
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('the guest out of memory: neither a write to the huge zero page nor a split can get the 4 KiB zero page (guest-oom), the huge zero PMD stays; with pages freed the write copies', () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  const hz = thpState(r.world).zero2m.get(0)!;
  const allocs: { alloc: number; order: number }[] = [];
  for (let order = MAX_PAGE_ORDER; order >= 0; order--) {
    for (;;) {
      const a = apply('guest.kalloc', { guest: 0, order, mt: 'UNMOVABLE' });
      if (!a.ok) break;
      allocs.push({ alloc: a.value!, order });
    }
  }
  expect(g.buddy.freePages()).toBe(0);
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: BASE + 3 })).toEqual({ ok: false, error: 'guest-oom' });
  expect(apply('thp.split', { guest: 0, pid: 1, vpn: BASE })).toEqual({ ok: false, error: 'guest-oom' });
  expect(thpState(r.world).zero4k.has(0)).toBe(false);
  expect(leafAt(r, BASE + 3)).toEqual({ level: 2, gfn: hz + 3 });
  expect(apply('guest.read', { guest: 0, pid: 1, vpn: BASE + 3 }).ok).toBe(true);
  // Pages for the zero page, the PTE table and the copy: the write goes through.
  let freed = 0;
  for (const a of allocs.sort((x, y) => x.order - y.order)) {
    if (freed >= 3) break;
    expect(apply('guest.kfree', { guest: 0, alloc: a.alloc }).ok).toBe(true);
    freed += 2 ** a.order;
  }
  expect(g.buddy.freePages()).toBe(freed);
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: BASE + 3 }).ok).toBe(true);
  expect(leafAt(r, BASE + 4)).toEqual({ level: 1, gfn: thpState(r.world).zero4k.get(0)! });
  expect(g.owners.get(leafAt(r, BASE + 3)!.gfn)).toEqual({ kind: 'anon', pid: 1, vpn: BASE + 3 });
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
