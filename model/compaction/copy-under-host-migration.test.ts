/**
 * A guest-side migration whose source or target guest page has its host frame under a host
 * migration (between the host's unmap and its remap): the guest kernel's copy (migrate_folio ->
 * folio_copy, a read of the source and a write of the target through its direct map) takes an
 * EPT violation that waits for the host's migration entry (mm/migrate.c
 * migration_entry_wait), so the copy edge refuses with 'retry'. A stepwise migration stays
 * where it was; one run to its end by compaction (compact_zone -> migrate_pages) is put back
 * (migrate_pages' putback_movable_pages) and counted as a failure.
 */
import type { Runner } from '../../fuzz/run';
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { compactionState } from './state';

const B = 4 * 512 * 512;

function runner(): Stepper {
  const s = stepper(machine({}));
  s.apply('guest.spawn', { guest: 0 });
  return s;
}

function gfnAt(r: Runner, vpn: number): number {
  const g = r.world.guests[0]!;
  return peekLeaf(r.world, g, g.processes.get(1)!, vpn)!.gfn;
}

function lastId(r: Runner, side: 'guest' | 'host'): number {
  return [...compactionState(r.world).active.values()].filter((m) => m.side === side).pop()!.id;
}

/** Begin a host migration of the frame behind gfn and step it to 'unmapped'; its id. */
function hostUnmaps(r: Runner, gfn: number): number {
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
  const id = lastId(r, 'host');
  r.apply({ kind: 'compaction.migrate.step', args: { id } });
  expect(compactionState(r.world).active.get(id)?.stage).toBe('unmapped');
  return id;
}

function step(r: Runner, id: number, times = 1): void {
  for (let i = 0; i < times; i++) r.apply({ kind: 'compaction.migrate.step', args: { id } });
}

test("the copy edge refuses (retry) while the host migrates the source's frame, changes nothing, and goes through once the host is done", () => {
  const { r, results, errors } = runner();
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: B, pages: 2, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: B } });
  const g = r.world.guests[0]!;
  const src = gfnAt(r, B);
  const before = r.world.frames.read(g.backing.get(src)!);
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: src } });
  const id = lastId(r, 'guest');
  step(r, id);
  const h = hostUnmaps(r, src);
  results.length = 0;
  step(r, id);
  expect(errors()).toEqual(['retry']);
  const m = compactionState(r.world).active.get(id)!;
  expect(m.stage).toBe('unmapped');
  step(r, h, 2);
  expect(compactionState(r.world).finished.get(h)?.stage).toBe('done');
  results.length = 0;
  step(r, id, 2);
  expect(errors()).toEqual([undefined, undefined]);
  expect(compactionState(r.world).finished.get(id)?.stage).toBe('done');
  expect(gfnAt(r, B)).toBe(m.dst);
  expect(r.world.frames.read(g.backing.get(m.dst)!)).toEqual(before);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("the copy edge refuses (retry) while the host migrates the target's frame; the source keeps the data and the target stays unwritten", () => {
  const { r, results, errors } = runner();
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: B, pages: 2, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: B } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: B + 1 } });
  const g = r.world.guests[0]!;
  // A first migration moves page B to the highest free page, which it backs; the page freed
  // there afterwards is backed and the highest free page again: the next migration's target.
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: gfnAt(r, B) } });
  step(r, lastId(r, 'guest'), 3);
  const top = gfnAt(r, B);
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: B, pages: 1 } });
  expect(g.buddy.isFree(top)).toBe(true);
  expect(g.backing.has(top)).toBe(true);
  const src = gfnAt(r, B + 1);
  const data = r.world.frames.read(g.backing.get(src)!);
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: src } });
  const id = lastId(r, 'guest');
  const m = compactionState(r.world).active.get(id)!;
  expect(m.dst).toBe(top);
  step(r, id);
  const h = hostUnmaps(r, top);
  results.length = 0;
  step(r, id);
  expect(errors()).toEqual(['retry']);
  expect(m.stage).toBe('unmapped');
  expect(r.world.frames.read(g.backing.get(src)!)).toEqual(data);
  step(r, h, 2);
  step(r, id, 2);
  expect(compactionState(r.world).finished.get(id)?.stage).toBe('done');
  expect(gfnAt(r, B + 1)).toBe(top);
  expect(r.world.frames.read(g.backing.get(top)!)).toEqual(data);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('compaction meets a page whose frame the host is migrating: that migration is put back (aborted, the page stays mapped where it was) and counted as a failure, the others go through', () => {
  const { r } = runner();
  // Three fragmenting workloads (every other page given back) leave partly free pageblocks at
  // the top of the zone for the free scanner (a wholly free pageblock is no target:
  // suitable_migration_target).
  for (let i = 0; i < 3; i++) r.apply({ kind: 'compaction.fragment', args: { guest: 0, pid: 1, vpn: B + 512 * i, pages: 512 } });
  const g = r.world.guests[0]!;
  const src = gfnAt(r, B);
  const h = hostUnmaps(r, src);
  r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 3, proactive: true } });
  const s = compactionState(r.world);
  const run = [...s.runs.values()].pop()!;
  expect(run.failures).toBe(1);
  expect(run.migrated).toBeGreaterThan(0);
  const aborted = [...s.finished.values()].filter((m) => m.stage === 'aborted');
  expect(aborted.map((m) => [m.side, m.src])).toEqual([['guest', src]]);
  expect(gfnAt(r, B)).toBe(src);
  expect(g.owners.get(src)).toMatchObject({ kind: 'anon', pid: 1, vpn: B });
  expect(s.active.has(h)).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
