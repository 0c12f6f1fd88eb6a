/**
 * abortMigration: migrate_pages' failure path (putback_movable_pages, remove_migration_ptes
 * with the source as the new page): the source goes back under its mapping with the write
 * bit the entry kept, limited by what the VMA allows now; a mapping gone meanwhile leaves the
 * source to the migration, which frees it; the target is freed; the host side ends the
 * invalidation it began. A migration that already ended is left alone.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { PTE_RW, PTE_USER } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { isMigrationEntry } from '../paging/entries';
import { abortMigration, runMigration } from './migrate';
import { compactionState, guestLockedSet, type Migration } from './state';

const VPN = 2048;

function setup(): Stepper {
  const s = stepper(machine({}));
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 4, write: true, exec: false, huge: false });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: VPN });
  return s;
}

function leaf(s: Stepper) {
  const g = s.world.guests[0]!;
  return peekLeaf(s.world, g, g.processes.get(1)!, VPN);
}

/** Begin a migration of the page behind VPN and step it `steps` edges; the migration. */
function begin(s: Stepper, side: 'guest' | 'host', steps: number): Migration {
  const gfn = leaf(s)!.gfn;
  const id = s.apply('compaction.migrate.begin', { side, guest: 0, gfn }).value!;
  for (let i = 0; i < steps; i++) expect(s.apply('compaction.migrate.step', { id }).ok).toBe(true);
  return compactionState(s.world).active.get(id)!;
}

test('guest side, unmapped: the PTE maps the source again, writable as before; the target is freed and the source unlocked', () => {
  const s = setup();
  const g = s.world.guests[0]!;
  const m = begin(s, 'guest', 1);
  expect(isMigrationEntry(leaf(s)!.entry)).toBe(true);
  expect(abortMigration(s.world, m)).toBe(true);
  expect(m.stage).toBe('aborted');
  expect(leaf(s)).toMatchObject({ gfn: m.src });
  expect(leaf(s)!.entry.flags & (PTE_RW | PTE_USER)).toBe(PTE_RW | PTE_USER);
  expect(g.buddy.isFree(m.dst)).toBe(true);
  expect(g.owners.get(m.dst)).toBeUndefined();
  expect(g.owners.get(m.src)).toMatchObject({ kind: 'anon', pid: 1, vpn: VPN });
  expect(guestLockedSet(compactionState(s.world), 0).has(m.src)).toBe(false);
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('guest side, unmapped, the VMA made read-only meanwhile: the source comes back read-only', () => {
  const s = setup();
  const m = begin(s, 'guest', 1);
  expect(s.apply('guest.mprotect', { guest: 0, pid: 1, vpn: VPN, pages: 4, write: false, exec: false }).ok).toBe(true);
  // mprotect downgrades the migration entry itself (change_pte_range).
  expect(leaf(s)!.entry.flags & PTE_RW).toBe(0);
  expect(abortMigration(s.world, m)).toBe(true);
  expect(leaf(s)).toMatchObject({ gfn: m.src });
  expect(leaf(s)!.entry.flags & PTE_RW).toBe(0);
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  expect(s.r.violation).toBeNull();
});

test('guest side, locked (not yet unmapped): the PTE is untouched, only the target is freed', () => {
  const s = setup();
  const g = s.world.guests[0]!;
  const m = begin(s, 'guest', 0);
  const before = leaf(s)!.entry;
  expect(abortMigration(s.world, m)).toBe(true);
  expect(leaf(s)!.entry).toEqual(before);
  expect(g.buddy.isFree(m.src)).toBe(false);
  expect(g.buddy.isFree(m.dst)).toBe(true);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('guest side, the mapping unmapped meanwhile: the migration frees the source as well as the target', () => {
  const s = setup();
  const g = s.world.guests[0]!;
  const m = begin(s, 'guest', 1);
  expect(s.apply('guest.munmap', { guest: 0, pid: 1, vpn: VPN, pages: 4 }).ok).toBe(true);
  expect(g.buddy.isFree(m.src)).toBe(false);
  expect(abortMigration(s.world, m)).toBe(true);
  expect(g.buddy.isFree(m.src)).toBe(true);
  expect(g.owners.get(m.src)).toBeUndefined();
  expect(g.buddy.isFree(m.dst)).toBe(true);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('host side: aborted when locked, the target frame is freed; aborted when unmapped, the invalidation ends too and the guest reaches the old frame again', () => {
  for (const steps of [0, 1]) {
    const s = setup();
    const g = s.world.guests[0]!;
    const gfn = leaf(s)!.gfn;
    const old = g.backing.get(gfn)!;
    const m = begin(s, 'host', steps);
    expect(abortMigration(s.world, m)).toBe(true);
    expect(m.stage).toBe('aborted');
    expect(s.world.hostBuddy.isFree(m.dst)).toBe(true);
    expect(compactionState(s.world).hostLocked.has(old)).toBe(false);
    expect(g.backing.get(gfn)).toBe(old);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  }
});

test('a migration that has ended is left alone: aborting it again changes nothing', () => {
  for (const side of ['guest', 'host'] as const) {
    const s = setup();
    const m = begin(s, side, 0);
    expect(runMigration(s.world, m).ok).toBe(true);
    expect(m.stage).toBe('done');
    const buddy = side === 'guest' ? s.world.guests[0]!.buddy : s.world.hostBuddy;
    expect(abortMigration(s.world, m)).toBe(true);
    expect(m.stage).toBe('done');
    expect(buddy.isFree(m.dst)).toBe(false);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
    expect(s.r.violation).toBeNull();
  }
});
