/**
 * A guest page-table page whose host frame the host is migrating (host-side compaction between
 * its unmap and its remap): every guest path that must read that table refuses with 'retry'
 * and changes nothing (munmap, mprotect, MADV_DONTNEED, exit, swap-out, a guest-side migration at its unmap
 * or its remap edge), and once the host migration has ended each of them goes through.
 */
import type { Runner } from '../../fuzz/run';
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { abortMigration, guestMovable } from './migrate';
import { compactionState } from './state';
import { reclaimOf } from '../reclaim/state';
import { POISON_OPTION, poisonCorruptions } from '../devices/page-poison';
import { exit } from '../guest/kernel';
import { killProcess } from '../reclaim/kill';

const B = 4 * 512 * 512;

/** A process with two written pages at B (its results kept: spawn, mmap and the two writes). */
function runner(options: Record<string, string | number | boolean> = {}): Stepper {
  const s = stepper(machine(options));
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: B, pages: 2, write: true, exec: false, huge: false });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: B });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: B + 1 });
  return s;
}

/** Begin a host migration of the level-1 table mapping B and step it to 'unmapped'; its id. */
function hostMigratesTable(r: Runner): number {
  const g = r.world.guests[0]!;
  const t = [...g.tables.entries()].find(([, x]) => x.pid === 1 && x.level === 1)![0];
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn: t } });
  const id = [...compactionState(r.world).active.values()].find((m) => m.side === 'host')!.id;
  r.apply({ kind: 'compaction.migrate.step', args: { id } });
  expect(compactionState(r.world).active.get(id)?.stage).toBe('unmapped');
  return id;
}

function finishHost(r: Runner, id: number): void {
  for (let i = 0; i < 3 && compactionState(r.world).active.has(id); i++) r.apply({ kind: 'compaction.migrate.step', args: { id } });
  expect(compactionState(r.world).finished.get(id)?.stage).toBe('done');
}

test('munmap, swap-out, mprotect, MADV_DONTNEED and exit refuse (retry) while the table is being moved, and change nothing; afterwards they go through', () => {
  const { r, results, errors } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const gfn = peekLeaf(r.world, g, p, B)!.gfn;
  const id = hostMigratesTable(r);
  results.length = 0;
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: B + 1, pages: 1 } });
  r.apply({ kind: 'swap.out', args: { guest: 0, pid: 1, vpn: B } });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: B, pages: 2, write: false, exec: false } });
  r.apply({ kind: 'thp.dontneed', args: { guest: 0, pid: 1, vpn: B, pages: 2 } });
  r.apply({ kind: 'guest.exit', args: { guest: 0, pid: 1 } });
  expect(errors()).toEqual(['retry', 'retry', 'retry', 'retry', 'retry']);
  expect(p.vmaAt(B + 1)?.prot.write).toBe(true);
  expect(g.processes.has(1)).toBe(true);
  expect(g.owners.get(gfn)).toMatchObject({ kind: 'anon', pid: 1, vpn: B });
  finishHost(r, id);
  results.length = 0;
  expect(peekLeaf(r.world, g, p, B)!.gfn).toBe(gfn);
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: B + 1, pages: 1 } });
  r.apply({ kind: 'swap.out', args: { guest: 0, pid: 1, vpn: B } });
  r.apply({ kind: 'guest.exit', args: { guest: 0, pid: 1 } });
  expect(errors()).toEqual([undefined, undefined, undefined]);
  expect(g.processes.has(1)).toBe(false);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a guest-side migration refuses its unmap and its remap edge (retry) while its page table is being moved, and ends with the data once the host is done', () => {
  const { r, results, errors } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const gfn = peekLeaf(r.world, g, p, B)!.gfn;
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn } });
  const guestId = [...compactionState(r.world).active.values()].find((m) => m.side === 'guest')!.id;
  const h1 = hostMigratesTable(r);
  results.length = 0;
  r.apply({ kind: 'compaction.migrate.step', args: { id: guestId } });
  expect(errors()).toEqual(['retry']);
  expect(compactionState(r.world).active.get(guestId)?.stage).toBe('locked');
  finishHost(r, h1);
  r.apply({ kind: 'compaction.migrate.step', args: { id: guestId } });
  r.apply({ kind: 'compaction.migrate.step', args: { id: guestId } });
  expect(compactionState(r.world).active.get(guestId)?.stage).toBe('copied');
  const h2 = hostMigratesTable(r);
  results.length = 0;
  r.apply({ kind: 'compaction.migrate.step', args: { id: guestId } });
  expect(errors()).toEqual(['retry']);
  expect(compactionState(r.world).active.get(guestId)?.stage).toBe('copied');
  finishHost(r, h2);
  r.apply({ kind: 'compaction.migrate.step', args: { id: guestId } });
  expect(compactionState(r.world).finished.get(guestId)?.stage).toBe('done');
  expect(peekLeaf(r.world, g, p, B)!.gfn).not.toBe(gfn);
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: B } });
  expect(errors().at(-1)).toBeUndefined();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('an abort of a guest-side migration whose page table is being moved cannot put the source back: it stays in flight, and aborts once the host is done', () => {
  const { r } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const gfn = peekLeaf(r.world, g, p, B)!.gfn;
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn } });
  const m = [...compactionState(r.world).active.values()].find((x) => x.side === 'guest')!;
  r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
  expect(m.stage).toBe('unmapped');
  const h = hostMigratesTable(r);
  expect(abortMigration(r.world, m)).toBe(false);
  expect(m.stage).toBe('unmapped');
  expect(compactionState(r.world).active.get(m.id)).toBe(m);
  expect(g.owners.get(m.dst)).toMatchObject({ kind: 'migrate-target', src: gfn });
  finishHost(r, h);
  expect(abortMigration(r.world, m)).toBe(true);
  expect(m.stage).toBe('aborted');
  expect(peekLeaf(r.world, g, p, B)!.gfn).toBe(gfn);
  expect(g.buddy.isFree(m.dst)).toBe(true);
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: B } });
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('reclaim meets a mapped file page it cannot unmap (its page table is being moved): the page stays cached and mapped, reclaim records itself blocked; file.evict refuses (retry)', () => {
  const { r, results, errors } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const F = B + 16;
  r.apply({ kind: 'file.mmap', args: { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: F, pages: 1, write: false } });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: F } });
  expect(errors().slice(-2)).toEqual([undefined, undefined]);
  const cached = peekLeaf(r.world, g, p, F)!.gfn;
  expect(g.owners.get(cached)?.kind).toBe('page-cache');
  const id = hostMigratesTable(r);
  results.length = 0;
  r.apply({ kind: 'file.evict', args: { guest: 0, file: 0, index: 0 } });
  r.apply({ kind: 'reclaim.shrink', args: { guest: 0, pages: 4096 } });
  expect(errors()[0]).toBe('retry');
  expect(reclaimOf(g).blockedStep).toBe(r.world.step);
  expect(g.owners.get(cached)?.kind).toBe('page-cache');
  finishHost(r, id);
  expect(peekLeaf(r.world, g, p, F)!.gfn).toBe(cached);
  results.length = 0;
  r.apply({ kind: 'file.evict', args: { guest: 0, file: 0, index: 0 } });
  expect(errors()).toEqual([undefined]);
  expect(peekLeaf(r.world, g, p, F)).toBeNull();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("page poisoning on free cannot write a page whose host frame the host is migrating: the page is freed unpoisoned, nothing expects poison of it, and a later allocation is not a corruption", () => {
  const { r, errors } = runner({ [POISON_OPTION]: 'poison' });
  const g = r.world.guests[0]!;
  const gfn = peekLeaf(r.world, g, g.processes.get(1)!, B + 1)!.gfn;
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
  const id = [...compactionState(r.world).active.keys()][0]!;
  r.apply({ kind: 'compaction.migrate.step', args: { id } });
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: B + 1, pages: 1 } });
  expect(errors().slice(1)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  expect(g.owners.has(gfn)).toBe(false);
  expect(g.buddy.allocatedAt(gfn)).toBeFalsy();
  finishHost(r, id);
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 0, mt: 'MOVABLE' } });
  expect(poisonCorruptions(g)).toEqual([]);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("a kill while a process's table is being moved: exit cannot walk the tree, so the kill reaps the process from the ledger and forgets its tables' parent entries; another process keeps its page", () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  apply('guest.spawn', { guest: 0 });
  apply('guest.mmap', { guest: 0, pid: 2, vpn: B, pages: 1, write: true, exec: false, huge: false });
  apply('guest.write', { guest: 0, pid: 2, vpn: B });
  const other = peekLeaf(r.world, g, g.processes.get(2)!, B)!.gfn;
  const mine = new Set([...g.tables].filter(([, t]) => t.pid === 1).map(([gfn]) => gfn));
  expect([...g.tableRefs.values()].some((ref) => mine.has(ref.table))).toBe(true);
  hostMigratesTable(r);
  expect(exit(r.world, g, p)).toMatchObject({ ok: false, error: 'retry' });
  killProcess(r.world, g, p);
  expect(g.processes.has(1)).toBe(false);
  expect([...g.tables.keys()].filter((gfn) => mine.has(gfn))).toEqual([]);
  expect([...g.tableRefs.values()].filter((ref) => mine.has(ref.table))).toEqual([]);
  expect(g.owners.get(other)).toEqual({ kind: 'anon', pid: 2, vpn: B });
  expect(g.buddy.isFree(other)).toBe(false);
});

test("another process's table being moved does not hold this process up: its munmap goes through", () => {
  const { r, apply, results } = runner();
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('guest.mmap', { guest: 0, pid: 2, vpn: B, pages: 1, write: true, exec: false, huge: false });
  apply('guest.write', { guest: 0, pid: 2, vpn: B });
  // The host moves pid 1's table; pid 2 unmaps its own page meanwhile.
  hostMigratesTable(r);
  results.length = 0;
  expect(apply('guest.munmap', { guest: 0, pid: 2, vpn: B, pages: 1 })).toEqual({ ok: true });
  expect(g.processes.get(2)!.vmaAt(B)).toBeUndefined();
  expect(r.violation).toBeNull();
});

test('a guest compaction run meets the two pages whose table is being moved: it cannot examine them, counts each as a failed migration and moves neither', () => {
  const { r } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const gfns = [B, B + 1].map((v) => peekLeaf(r.world, g, p, v)!.gfn);
  hostMigratesTable(r);
  expect(guestMovable(r.world, g, gfns[0]!)).toMatch(/^page tables unreachable: /);
  r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: true } });
  const run = [...compactionState(r.world).runs.values()].pop()!;
  expect(run.failures).toBeGreaterThanOrEqual(2);
  for (const [i, gfn] of gfns.entries()) expect(g.owners.get(gfn)).toEqual({ kind: 'anon', pid: 1, vpn: B + i });
  // The same run with the table readable: the two pages count as no failure.
  const { r: calm } = runner();
  calm.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: true } });
  expect(run.failures - [...compactionState(calm.world).runs.values()].pop()!.failures).toBe(2);
});
