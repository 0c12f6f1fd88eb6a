/**
 * Paths of a single migration (migrate.ts) the edge-by-edge tests leave out: each edge counted,
 * the host side's own in-flight limit, the bounded history of finished migrations, a process
 * that exits under a migration, a read-only page that stays read-only (the migration entry
 * keeps the write bit: is_writable_migration_entry), the late flush of
 * migrate-copy-before-flush (it still comes, so nothing stays mapped to the freed source), and an abort
 * after the page's address was mapped to another page.
 */
import { kinds, machine, op, scenario, writtenPages } from '../../fuzz/testing/scenario';
import { PTE_RW } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { isRefusal } from '../result';
import type { World } from '../world';
import { findSlot, type LeafSlot } from '../guest/page-tables';
import { isMigrationEntry } from '../paging/entries';
import { abortMigration, beginGuestMigration, beginHostMigration, FAULT_COPY_BEFORE_FLUSH, FAULT_MIGRATES_UNMOVABLE, runMigration, stepMigration } from './migrate';
import { compactionState, FINISHED_KEPT_MAX, MIGRATIONS_IN_FLIGHT_MAX, NO_PROCESS, type Migration } from './state';

const VPN = 2048;


const leafAt = (w: World, vpn: number) => peekLeaf(w, w.guests[0]!, w.guests[0]!.processes.get(1)!, vpn)!;
const step = (id: number) => op('compaction.migrate.step', { id });

test('each edge of a migration is counted once, from none->locked to copied->done', () => {
  const r = writtenPages(1, VPN);
  const g = r.world.guests[0]!;
  const m = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
  expect(runMigration(r.world, m).ok).toBe(true);
  expect(Object.fromEntries(r.world.transitions.get('compaction')!)).toEqual({ 'none->locked': 1, 'locked->unmapped': 1, 'unmapped->copied': 1, 'copied->done': 1 });
});

test(`the host side too allows ${MIGRATIONS_IN_FLIGHT_MAX} single migrations in flight and refuses the next; compaction's own are not limited`, () => {
  const r = writtenPages(MIGRATIONS_IN_FLIGHT_MAX + 1, VPN);
  const g = r.world.guests[0]!;
  const gfns = Array.from({ length: MIGRATIONS_IN_FLIGHT_MAX + 1 }, (_, i) => leafAt(r.world, VPN + i).gfn);
  for (const gfn of gfns.slice(0, MIGRATIONS_IN_FLIGHT_MAX)) expect(isRefusal(beginHostMigration(r.world, g, gfn, 'single'))).toBe(false);
  const over = beginHostMigration(r.world, g, gfns[MIGRATIONS_IN_FLIGHT_MAX]!, 'single');
  expect(isRefusal(over) && over.error).toBe('limit');
  expect(isRefusal(beginHostMigration(r.world, g, gfns[MIGRATIONS_IN_FLIGHT_MAX]!, 'compaction'))).toBe(false);
});

test(`finished migrations are kept for the properties, the newest ${FINISHED_KEPT_MAX}`, () => {
  const r = writtenPages(1, VPN);
  const g = r.world.guests[0]!;
  const ids: number[] = [];
  for (let i = 0; i <= FINISHED_KEPT_MAX; i++) {
    const m = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
    expect(runMigration(r.world, m).ok).toBe(true);
    ids.push(m.id);
  }
  const finished = compactionState(r.world).finished;
  expect(finished.size).toBe(FINISHED_KEPT_MAX);
  expect(finished.has(ids[0]!)).toBe(false);
  expect(finished.has(ids[1]!)).toBe(true);
});

test('a process that exits under a migration: the migration ends with nothing to remap, and both pages go back to the allocator', () => {
  const r = writtenPages(1, VPN);
  const g = r.world.guests[0]!;
  const m = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
  r.apply({ kind: 'guest.exit', args: { guest: 0, pid: 1 } });
  expect(runMigration(r.world, m).ok).toBe(true);
  expect(m.atDone?.remapped).toBe(false);
  expect([g.buddy.isFree(m.src), g.buddy.isFree(m.dst)]).toEqual([true, true]);
  expect(r.violation).toBeNull();
});

test('a page mapped read-only is still read-only on its new frame', () => {
  const r = writtenPages(1, VPN);
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: VPN, pages: 1, write: false, exec: false } });
  const g = r.world.guests[0]!;
  const m = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
  expect(runMigration(r.world, m).ok).toBe(true);
  const leaf = leafAt(r.world, VPN);
  expect(leaf.gfn).toBe(m.dst);
  expect(leaf.entry.flags & PTE_RW).toBe(0);
});

describe(`${FAULT_COPY_BEFORE_FLUSH}: the flush comes late, at the end (the copy with a live translation is what the fault breaks)`, () => {
  const setup = [op('guest.spawn', { guest: 0 }), op('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false }), op('guest.write', { guest: 0, pid: 1, vpn: VPN })];
  // The guest side's stale TLB entry is also seen at the unmap itself (the PTE changed under it).
  test.each([
    ['guest', ['tlb-coherence|stale-entry', 'migration-flush-before-copy|copy-before-flush']],
    ['host', ['migration-flush-before-copy|copy-before-flush']],
  ] as const)('%s side: the early copy is flagged, and nothing after it: the late flush leaves nothing mapped to the freed source', (side, expected) => {
    const r = scenario(machine({}, [FAULT_COPY_BEFORE_FLUSH]), setup);
    const gfn = leafAt(r.world, VPN).gfn;
    const s = scenario(machine({}, [FAULT_COPY_BEFORE_FLUSH]), [...setup, op('compaction.migrate.begin', { side, guest: 0, gfn }), step(1), step(1), step(1)], true);
    expect(s.results.every((x) => x.ok)).toBe(true);
    expect(compactionState(s.world).finished.get(1)?.stage).toBe('done');
    expect(kinds(s)).toEqual(expected);
  });
});

test('an abort after the address was mapped to another page frees the source, which nobody maps', () => {
  const r = writtenPages(1, VPN);
  const g = r.world.guests[0]!;
  const m = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 1 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
  const other = leafAt(r.world, VPN).gfn;
  expect(other).not.toBe(m.src);
  expect(abortMigration(r.world, m)).toBe(true);
  expect(m.stage).toBe('aborted');
  expect(g.buddy.isFree(m.src)).toBe(true);
  expect(g.owners.get(m.src)).toBeUndefined();
  expect(leafAt(r.world, VPN).gfn).toBe(other);
});

test(`under ${FAULT_MIGRATES_UNMOVABLE} a page table "moves": its owner goes with it when the migration ends, and an abort leaves it where it was`, () => {
  for (const abort of [false, true]) {
    const r = writtenPages(1, VPN, [FAULT_MIGRATES_UNMOVABLE]);
    const g = r.world.guests[0]!;
    const table = [...g.owners].find(([, o]) => o.kind === 'page-table' && o.level === 1)![0];
    const owner = g.owners.get(table);
    const m = beginGuestMigration(r.world, g, table, 'single') as Migration;
    expect(m.pid).toBe(NO_PROCESS);
    if (abort) {
      expect(abortMigration(r.world, m)).toBe(true);
      expect(g.owners.get(table)).toEqual(owner);
      expect(g.buddy.isFree(table)).toBe(false);
      expect(g.buddy.isFree(m.dst)).toBe(true);
    } else {
      expect(runMigration(r.world, m).ok).toBe(true);
      expect(g.owners.get(m.dst)).toEqual(owner);
      expect(g.buddy.isFree(m.dst)).toBe(false);
      expect(g.buddy.isFree(table)).toBe(true);
    }
  }
});

test("a migration whose address was unmapped and is now another page's migration entry leaves that entry alone, at its end and at an abort", () => {
  for (const abort of [false, true]) {
    const r = writtenPages(1, VPN);
    const g = r.world.guests[0]!;
    const a = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
    expect(stepMigration(r.world, a).ok).toBe(true);
    // The address loses a's migration entry and gets a new page, whose own migration unmaps it.
    r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 1 } });
    r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false } });
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
    const b = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
    expect(stepMigration(r.world, b).ok).toBe(true);
    const entry = () => (findSlot(r.world, g, g.processes.get(1)!, VPN, 1) as LeafSlot).entry;
    const before = entry();
    expect(isMigrationEntry(before) && before?.pfn).toBe(b.src);
    if (abort) expect(abortMigration(r.world, a)).toBe(true);
    else expect(runMigration(r.world, a).ok).toBe(true);
    expect(entry()).toEqual(before);
    // Neither of a's pages is mapped or kept: nothing maps them.
    expect([g.buddy.isFree(a.src), g.buddy.isFree(a.dst)]).toEqual([true, true]);
    expect(runMigration(r.world, b).ok).toBe(true);
    expect(leafAt(r.world, VPN).gfn).toBe(b.dst);
    expect(r.violation).toBeNull();
  }
});

test('an abort of a migration that has ended changes nothing: its pages are not freed twice', () => {
  for (const end of ['done', 'aborted'] as const) {
    const r = writtenPages(1, VPN);
    const g = r.world.guests[0]!;
    const m = beginGuestMigration(r.world, g, leafAt(r.world, VPN).gfn, 'single') as Migration;
    if (end === 'done') expect(runMigration(r.world, m).ok).toBe(true);
    else expect(abortMigration(r.world, m)).toBe(true);
    const free = g.buddy.freePages();
    const kept = end === 'done' ? m.dst : m.src;
    expect(abortMigration(r.world, m)).toBe(true);
    expect(m.stage).toBe(end);
    expect(g.buddy.freePages()).toBe(free);
    expect(g.owners.get(kept)).toEqual({ kind: 'anon', pid: 1, vpn: VPN });
    expect(leafAt(r.world, VPN).gfn).toBe(kept);
    expect(r.world.anomalies).toEqual([]);
  }
});
