/**
 * Migration, edge by edge, on both sides of the nested MMU: the mappings follow the page, the
 * flush comes before the copy, accesses wait while the page is unmapped, and each injected
 * fault is caught by the property it names (with and without the fault on the same trace).
 */
import { Runner } from '../../fuzz/run';
import type { Operation } from '../../fuzz/contract';
import type { ModelConfig } from '../config';
import { isMigrationEntry } from '../paging/entries';
import { peekLeaf } from '../mmu/peek';
import { compactionState } from './state';
import { PTE_RW, PTE_USER } from '../constants';

const VPN = 2048;

function config(faults: string[]): ModelConfig {
  return { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults };
}

function setup(faults: string[], properties?: string[]): Runner {
  const r = new Runner(config(faults), { check: 'incremental', properties: properties ? new Set(properties) : undefined });
  const ops: Operation[] = [
    { kind: 'guest.spawn', args: { guest: 0 } },
    { kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 4, write: true, exec: false, huge: false } },
    { kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } },
  ];
  for (const op of ops) r.apply(op);
  return r;
}

function gfnOf(r: Runner): number {
  const g = r.world.guests[0]!;
  return peekLeaf(r.world, g, g.processes.get(1)!, VPN)!.gfn;
}

describe('guest-side migration', () => {
  test('each edge: locked, unmapped (migration entry, flushed), copied, done (PTE on the target)', () => {
    const r = setup([]);
    const g = r.world.guests[0]!;
    const src = gfnOf(r);
    expect(r.world.tlb.coveringGuestFrame(g.vpid, src)).toHaveLength(1);
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: src } });
    const m = [...compactionState(r.world).active.values()][0]!;
    expect(m.stage).toBe('locked');
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(m.stage).toBe('unmapped');
    const slot = peekLeaf(r.world, g, g.processes.get(1)!, VPN)!;
    expect(isMigrationEntry(slot.entry)).toBe(true);
    expect(r.world.tlb.coveringGuestFrame(g.vpid, src)).toHaveLength(0);
    // An access now waits (migration_entry_wait): refused with retry, nothing written.
    const before = r.world.version;
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(false);
    expect(r.world.version).toBe(before);
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(m.stage).toBe('copied');
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(m.stage).toBe('done');
    expect(gfnOf(r)).toBe(m.dst);
    expect(g.owners.get(src)).toBeUndefined();
    expect(g.buddy.isFree(src)).toBe(true);
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('munmap during the migration: the migration frees both pages itself', () => {
    const r = setup([]);
    const g = r.world.guests[0]!;
    const src = gfnOf(r);
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: src } });
    const m = [...compactionState(r.world).active.values()][0]!;
    r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 4 } });
    // The mapping's reference is gone but the page is held by the migration.
    expect(g.owners.get(src)?.kind).toBe('anon');
    for (let i = 0; i < 3; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(m.stage).toBe('done');
    expect(m.atDone?.remapped).toBe(false);
    expect(g.buddy.isFree(src)).toBe(true);
    expect(g.buddy.isFree(m.dst)).toBe(true);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('unmovable pages are refused (a page table)', () => {
    const r = setup([]);
    const g = r.world.guests[0]!;
    const table = [...g.tables.keys()][0]!;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: table } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(false);
    expect(compactionState(r.world).active.size).toBe(0);
  });
});

/** Migrate the page behind VPN, writing through the stale TLB entry between the copy and the end. */
function raceTrace(r: Runner, side: 'guest' | 'host'): void {
  const src = gfnOf(r);
  r.apply({ kind: 'compaction.migrate.begin', args: { side, guest: 0, gfn: src } });
  const m = [...compactionState(r.world).active.values()][0]!;
  r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } }); // unmap
  r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } }); // copy
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
  r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } }); // remap, free
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN } });
}

describe('migrate-copy-before-flush', () => {
  for (const side of ['guest', 'host'] as const) {
    test(`${side} side: caught at the copy by migration-flush-before-copy; passes without the fault`, () => {
      const bad = setup(['migrate-copy-before-flush'], ['migration-flush-before-copy']);
      raceTrace(bad, side);
      expect(bad.violation).toMatchObject({ property: 'migration-flush-before-copy', kind: 'copy-before-flush' });
      const good = setup([]);
      raceTrace(good, side);
      expect(good.violation).toBeNull();
      expect(good.finish()).toBeNull();
    });
  }

  for (const side of ['guest', 'host'] as const) {
    test(`${side} side: the write that reached the old page is lost: migration-preserves-contents and read-returns-last-write`, () => {
      const a = setup(['migrate-copy-before-flush'], ['migration-preserves-contents']);
      raceTrace(a, side);
      expect(a.violation).toMatchObject({ property: 'migration-preserves-contents', kind: 'content-lost' });
      const b = setup(['migrate-copy-before-flush'], ['read-returns-last-write']);
      raceTrace(b, side);
      expect(b.violation).toMatchObject({ property: 'read-returns-last-write', kind: 'wrong-read' });
    });
  }
});

describe('migrate-skips-invalidate', () => {
  for (const side of ['guest', 'host'] as const) {
    test(`${side} side: after the move something still reaches the source (migration-no-stale-mapping)`, () => {
      const r = setup(['migrate-skips-invalidate'], ['migration-no-stale-mapping']);
      const src = gfnOf(r);
      r.apply({ kind: 'compaction.migrate.begin', args: { side, guest: 0, gfn: src } });
      const m = [...compactionState(r.world).active.values()][0]!;
      for (let i = 0; i < 3; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
      expect(r.violation).toMatchObject({ property: 'migration-no-stale-mapping', kind: 'stale-translation' });
    });
  }
});

describe('host-side migration', () => {
  test('the EPT leaf is zapped at the unmap, faults wait, the backing moves at the end', () => {
    const r = setup([]);
    const g = r.world.guests[0]!;
    const gfn = gfnOf(r);
    const old = g.backing.get(gfn)!;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
    const m = [...compactionState(r.world).active.values()][0]!;
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(g.ept.lookup(r.world, gfn).kind).toBe('violation');
    // The vCPU's access faults and waits on the migration entry.
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(false);
    // The host may not reclaim or migrate the locked frame meanwhile.
    r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(false);
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(g.backing.get(gfn)).toBe(m.dst);
    expect(r.world.hostBuddy.isFree(old)).toBe(true);
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });
});

describe('host-side migration flushes', () => {
  test('without the injected faults a host migration flushes the EPT translations once, at the unmap; nothing is left pending for the end', () => {
    const r = setup([]);
    const gfn = gfnOf(r);
    const before = r.world.tlb.stats.inveptSingle;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
    const m = [...compactionState(r.world).active.values()][0]!;
    expect(m.flushPending).toBe(false);
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(r.world.tlb.stats.inveptSingle - before).toBe(1);
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
    expect(compactionState(r.world).finished.get(m.id)?.stage).toBe('done');
    expect(r.world.tlb.stats.inveptSingle - before).toBe(1);
    expect(r.violation).toBeNull();
  });
});

describe('what a single migration refuses to isolate', () => {
  test('a free guest page and a page mapped by a 2 MiB PMD (a THP) are not movable one page at a time: refused, nothing locked', () => {
    const errors: (string | undefined)[] = [];
    const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }], faults: [] };
    const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
    r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 4 * 512, pages: 512, write: true, exec: false, huge: true } });
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 4 * 512 + 3 } });
    const g = r.world.guests[0]!;
    const leaf = peekLeaf(r.world, g, g.processes.get(1)!, 4 * 512 + 3)!;
    expect(leaf.level).toBe(2);
    const free = [...Array(g.config.frames).keys()].find((x) => g.buddy.isFree(x))!;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: free } });
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: leaf.gfn } });
    expect(errors.slice(3)).toEqual(['busy', 'busy']);
    expect(compactionState(r.world).active.size).toBe(0);
    expect(r.violation).toBeNull();
  });
});

describe('remove_migration_pte: the write bit of the new PTE is the entry\'s', () => {
  test('a writable page comes back writable on the target; after mprotect(read-only) during the migration, read-only', () => {
    for (const readOnly of [false, true]) {
      const r = setup([]);
      const g = r.world.guests[0]!;
      r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: gfnOf(r) } });
      const m = [...compactionState(r.world).active.values()][0]!;
      r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
      if (readOnly) r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: VPN, pages: 4, write: false, exec: false } });
      r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
      r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
      expect(m.stage).toBe('done');
      const leaf = peekLeaf(r.world, g, g.processes.get(1)!, VPN)!;
      expect(leaf.gfn).toBe(m.dst);
      expect(leaf.entry.flags & (PTE_RW | PTE_USER)).toBe(readOnly ? PTE_USER : PTE_RW | PTE_USER);
      expect(r.violation).toBeNull();
    }
  });
});
