/**
 * page_mkclean (mm/rmap.c page_vma_mkclean_one) must read every PTE that maps the page. When
 * the host is moving the frame of the PTE table that maps it (host-side compaction between its
 * unmap and its remap), the guest cannot read that table: a writeback (file.writeback) and an
 * fsync refuse 'retry' and change nothing, the dirty PTE stays dirty, and once the host
 * migration has ended the writeback goes through and moves the dirty bit to the page.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { PTE_DIRTY } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { compactionState } from '../compaction/state';
import { lookupPage } from './cache';

const VPN = 4 * 512 * 512;

test('a writeback or fsync of a page whose PTE table the host is moving refuses retry; after the host migration the writeback runs', () => {
  const { r, apply } = stepper(machine({}));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  expect(apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: VPN, pages: 2, write: true }).ok).toBe(true);
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  const p = g.processes.get(1)!;
  const page = lookupPage(g, 0, 0)!;
  expect(page.dirty).toBe(false);
  expect(peekLeaf(r.world, g, p, VPN)!.entry.flags & PTE_DIRTY).toBe(PTE_DIRTY);
  const table = [...g.tables.entries()].find(([, t]) => t.pid === 1 && t.level === 1)![0];
  expect(apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: table }).ok).toBe(true);
  const id = [...compactionState(r.world).active.values()].find((m) => m.side === 'host')!.id;
  expect(apply('compaction.migrate.step', { id }).ok).toBe(true);
  expect(compactionState(r.world).active.get(id)?.stage).toBe('unmapped');
  expect(apply('file.writeback', { guest: 0, file: 0, index: 0 })).toEqual({ ok: false, error: 'retry' });
  expect(apply('file.fsync', { guest: 0, file: 0 })).toEqual({ ok: false, error: 'retry' });
  expect(page.dirty).toBe(false);
  expect(page.writeback).toBe(false);
  for (let i = 0; i < 3 && compactionState(r.world).active.has(id); i++) expect(apply('compaction.migrate.step', { id }).ok).toBe(true);
  expect(compactionState(r.world).finished.get(id)?.stage).toBe('done');
  expect(peekLeaf(r.world, g, p, VPN)!.entry.flags & PTE_DIRTY).toBe(PTE_DIRTY);
  expect(apply('file.writeback', { guest: 0, file: 0, index: 0 }).ok).toBe(true);
  expect(peekLeaf(r.world, g, p, VPN)!.entry.flags & PTE_DIRTY).toBe(0);
  expect(page.writeback).toBe(true);
  expect(apply('io.complete', { guest: 0 }).ok).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
