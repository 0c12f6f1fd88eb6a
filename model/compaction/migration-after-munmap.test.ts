/**
 * A guest-side migration whose page is unmapped (munmap) while the migration holds it, and whose
 * range is mapped again by a THP before the migration goes on: at the unmap and the remap
 * edges the migration looks up its PTE and finds a PMD leaf instead (no PTE of the old
 * mapping is left to replace: mm/migrate.c try_to_migrate / remove_migration_ptes walk only
 * the folio's own mappings). It unmaps nothing, remaps nothing, frees both its pages, and the
 * THP is left as it is.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { peekLeaf } from '../mmu/peek';
import { compactionState } from './state';

const B = 2 ** 20;

test('a migration whose page was munmapped and whose range now holds a THP finds no PTE: nothing is remapped, source and target go back to the allocator, the THP stays', () => {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }], faults: [], options: {} };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: B, pages: 512, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: B } });
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const src = peekLeaf(r.world, g, p, B)!.gfn;
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: src } });
  const [id] = [...compactionState(r.world).active.keys()];
  const m = compactionState(r.world).active.get(id!)!;
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: B, pages: 512 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: B, pages: 512, write: true, exec: false, huge: true } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: B + 7 } });
  const thp = peekLeaf(r.world, g, p, B)!;
  expect(thp.level).toBe(2);
  for (let i = 0; i < 3; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
  expect(errors.every((e) => e === undefined)).toBe(true);
  const done = compactionState(r.world).finished.get(id!)!;
  expect(done.stage).toBe('done');
  expect(done.atDone?.remapped).toBe(false);
  expect(g.buddy.isFree(m.src)).toBe(true);
  expect(g.buddy.isFree(m.dst)).toBe(true);
  expect(peekLeaf(r.world, g, p, B)).toEqual(thp);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a migration whose page was munmapped looks its PTE up without building page tables: no table is allocated for the empty range', () => {
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [], options: {} };
  const r = new Runner(c, { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: B, pages: 1, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: B } });
  const g = r.world.guests[0]!;
  const src = peekLeaf(r.world, g, g.processes.get(1)!, B)!.gfn;
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: src } });
  const [id] = [...compactionState(r.world).active.keys()];
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: B, pages: 1 } });
  const tables = [...g.tables.keys()].sort((a, b) => a - b);
  for (let i = 0; i < 3; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
  expect(compactionState(r.world).finished.get(id!)?.stage).toBe('done');
  expect([...g.tables.keys()].sort((a, b) => a - b)).toEqual(tables);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
