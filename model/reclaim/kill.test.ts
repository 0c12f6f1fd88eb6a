/**
 * killProcess when exit cannot walk the process's page tables (the host is migrating one
 * of them): the kill is reaped from the ledger, as the OOM reaper and exit_mmap finish a dying
 * address space (mm/oom_kill.c __oom_reap_task_mm). Everything the process owned goes back,
 * a THP's whole block included; its reverse-map entries, tables and TLB entries go; another
 * process keeps what it has; and the process's end counts as the same transition exit takes.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { compactionState } from '../compaction/state';
import { ZERO } from '../content';
import { exit } from '../guest/kernel';
import { peekLeaf } from '../mmu/peek';
import { killProcess } from './kill';

const B = 4 * 512 * 512;
const H = B + 1024;

/**
 * The host starts migrating pid 1's level-1 table (stepped to 'unmapped'): exit cannot read it.
 * The table's 2 MiB backing unit is swapped out first and read back 4 KiB at a time, because
 * the host migrates no frame of a 2 MiB unit.
 */
function hostMigratesTable(s: Stepper): void {
  const g = s.r.world.guests[0]!;
  const t = [...g.tables.entries()].find(([, x]) => x.pid === 1 && x.level === 1)![0];
  s.apply('host.reclaim.begin', { guest: 0, gfn: t });
  s.apply('host.reclaim.end', { guest: 0 });
  s.apply('guest.read', { guest: 0, pid: 1, vpn: B });
  s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: t });
  const id = [...compactionState(s.r.world).active.values()].find((m) => m.side === 'host')!.id;
  s.apply('compaction.migrate.step', { id });
  expect(s.results.slice(-5).every((x) => x.ok)).toBe(true);
  expect(compactionState(s.r.world).active.get(id)?.stage).toBe('unmapped');
}

test('a kill that exit cannot finish reaps the process from the ledger: its pages, its THP\'s whole block and its tables are freed and unowned, its rmap and TLB entries are gone, another process is left alone', () => {
  const s = stepper(machine({}, [], 1, true));
  const { r } = s;
  const g = r.world.guests[0]!;
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: B, pages: 2, write: true, exec: false, huge: false });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: B });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: B + 1 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: H, pages: 512, write: true, exec: false, huge: true });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: H + 3 });
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 2, vpn: B, pages: 1, write: true, exec: false, huge: false });
  s.apply('guest.write', { guest: 0, pid: 2, vpn: B });
  expect(s.results.every((x) => x.ok)).toBe(true);
  const p = g.processes.get(1)!;
  const thp = peekLeaf(r.world, g, p, H)!;
  expect(thp.level).toBe(2);
  const other = peekLeaf(r.world, g, g.processes.get(2)!, B)!.gfn;
  const otherTables = [...g.tables].filter(([, t]) => t.pid === 2).map(([gfn]) => gfn);
  expect(otherTables.length).toBeGreaterThan(0);
  const owned = [...g.owners].filter(([, o]) => (o.kind === 'anon' || o.kind === 'page-table') && o.pid === 1).map(([gfn]) => gfn);
  expect(owned.length).toBeGreaterThan(512 + 2);
  for (let i = 0; i < 512; i++) expect(owned).toContain(thp.gfn + i);
  const mapped = [peekLeaf(r.world, g, p, B)!.gfn, peekLeaf(r.world, g, p, B + 1)!.gfn, thp.gfn];
  expect(mapped.every((gfn) => g.rmap.reaching(gfn).some((h) => h.owner === 1))).toBe(true);
  hostMigratesTable(s);
  s.apply('guest.read', { guest: 0, pid: 1, vpn: H + 3 });
  expect(s.results.at(-1)).toEqual({ ok: true });
  expect([...r.world.tlb.entries()].some((e) => e.vpid === g.vpid && e.pcid === 1)).toBe(true);
  expect(exit(r.world, g, p)).toMatchObject({ ok: false, error: 'retry' });
  const ended = r.world.transitions.get('nested-mmu')?.get('process->no-process') ?? 0;

  killProcess(r.world, g, p);

  expect(g.processes.has(1)).toBe(false);
  for (const gfn of owned) {
    expect(g.owners.has(gfn)).toBe(false);
    expect(g.buddy.isFree(gfn)).toBe(true);
  }
  expect([...g.owners.values()].filter((o) => 'pid' in o && o.pid === 1)).toEqual([]);
  expect([...g.tables.values()].filter((t) => t.pid === 1)).toEqual([]);
  expect(mapped.flatMap((gfn) => g.rmap.reaching(gfn)).filter((h) => h.owner === 1)).toEqual([]);
  expect([...r.world.tlb.entries()].filter((e) => e.vpid === g.vpid && e.pcid === 1)).toEqual([]);
  expect(r.world.transitions.get('nested-mmu')?.get('process->no-process')).toBe(ended + 1);
  expect(g.owners.get(other)).toEqual({ kind: 'anon', pid: 2, vpn: B });
  expect(g.buddy.isFree(other)).toBe(false);
  expect([...g.tables].filter(([, t]) => t.pid === 2).map(([gfn]) => gfn)).toEqual(otherTables);
  expect(g.rmap.reaching(other).map((h) => h.owner)).toEqual([2]);
  expect(r.world.anomalies).toEqual([]);
});

/** pid 1 with one written page at B. */
function onePage() {
  const s = stepper(machine({}));
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: B, pages: 1, write: true, exec: false, huge: false });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: B });
  expect(s.results.every((x) => x.ok)).toBe(true);
  return { r: s.r, g: s.r.world.guests[0]! };
}

test('a kill that exit finishes is exit alone: it unmaps through the page tables, and the process ends once', () => {
  const { r, g } = onePage();
  const count = (t: string): number => r.world.transitions.get('nested-mmu')?.get(t) ?? 0;
  const ended = count('process->no-process');
  const unmapped = count('mapped->unmapped');
  killProcess(r.world, g, g.processes.get(1)!);
  expect(g.processes.has(1)).toBe(false);
  expect(count('process->no-process')).toBe(ended + 1);
  expect(count('mapped->unmapped')).toBe(unmapped + 1);
});

test('a table page that no longer holds a table (its root zeroed under it) stops exit; the kill skips it and reaps the rest', () => {
  const { r, g } = onePage();
  const p = g.processes.get(1)!;
  const page = peekLeaf(r.world, g, p, B)!.gfn;
  const owned = [...g.owners].filter(([, o]) => 'pid' in o && o.pid === 1).map(([gfn]) => gfn);
  r.world.frames.write(g.backing.get(p.cr3)!, ZERO);
  expect(exit(r.world, g, p)).toMatchObject({ ok: false, error: 'invalid' });
  killProcess(r.world, g, p);
  expect(g.processes.has(1)).toBe(false);
  for (const gfn of owned) expect(g.buddy.isFree(gfn)).toBe(true);
  expect(g.rmap.reaching(page)).toEqual([]);
});
