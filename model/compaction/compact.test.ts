/**
 * Compaction of a guest zone and of the host zone: after a fragmenting workload a run frees a
 * block of the order (with every moved page still reading what it held), the allocator's slow
 * path compacts on a failed high-order allocation, the scanners' success test ignores isolated
 * memory (a free block nobody may allocate), the free scanner must start high (the scenario of
 * compaction-free-scanner-starts-low), and the feasibility condition of
 * compaction-finds-block is right on hand-made zones.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { PAGEBLOCK_FRAMES, PTE_USER } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { feasibleBlock } from '../../properties/compaction/finds-block';
import { compactionState, type PageblockGhost } from './state';
import { directCompaction } from './compact';
import { operationNamed } from '../registry';
import { blockAvailable, pageblockBlocks } from './zone';

const FRAG_VPN = 2 ** 24;

function config(faults: string[], hugePages = false): ModelConfig {
  return { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages }], faults };
}

/** A process that wrote a few pages, then a workload leaving one-page holes across the zone. */
function fragmented(faults: string[], properties?: string[]): Runner {
  const r = new Runner(config(faults), { check: 'incremental', properties: properties ? new Set(properties) : undefined });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: 1024, pages: 8, write: true, exec: false, huge: false } });
  for (let i = 0; i < 8; i++) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: 1024 + i } });
  // Passes until no pageblock is left whole (each refills the last one's holes first).
  const g = r.world.guests[0]!;
  for (let i = 0; i < 8 && blockAvailable(g.buddy, 9); i++)
    r.apply({ kind: 'compaction.fragment', args: { guest: 0, pid: 1, vpn: FRAG_VPN + i * 4096, pages: Math.min(1024, g.buddy.freePages()) } });
  return r;
}

describe('compaction runs', () => {
  test('after fragmentation, a run for order 9 frees a pageblock and moves pages without changing what they read', () => {
    const r = fragmented([]);
    const g = r.world.guests[0]!;
    expect(blockAvailable(g.buddy, 10)).toBe(false);
    r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: false } });
    const run = [...compactionState(r.world).runs.values()].pop()!;
    expect(run.outcome).toBe('success');
    expect(run.migrated).toBeGreaterThan(0);
    expect(blockAvailable(g.buddy, 9)).toBe(true);
    for (let i = 0; i < 8; i++) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: 1024 + i } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('a direct run stops as soon as a block of the order is free (__compact_finished); a proactive run on the same zone walks on until the scanners meet', () => {
    const direct = fragmented([]);
    direct.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: false } });
    const proactive = fragmented([]);
    proactive.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: true } });
    const d = [...compactionState(direct.world).runs.values()].pop()!;
    const p = [...compactionState(proactive.world).runs.values()].pop()!;
    expect([d.outcome, p.outcome]).toEqual(['success', 'success']);
    expect(d.migrated).toBeGreaterThan(0);
    expect(d.migrated).toBeLessThan(p.migrated);
    expect(direct.violation).toBeNull();
    expect(proactive.violation).toBeNull();
  });

  test('the allocator slow path compacts: an order-9 kernel allocation succeeds in a fragmented zone', () => {
    const r = fragmented([]);
    const g = r.world.guests[0]!;
    r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 9, mt: 'MOVABLE' } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    expect([...compactionState(r.world).runs.values()].some((x) => x.outcome === 'success' && x.guest === g.id)).toBe(true);
    expect(r.violation).toBeNull();
  });

  test('host compaction moves 4 KiB backing frames (EPT entries follow)', () => {
    const r = fragmented([]);
    r.apply({ kind: 'host.kalloc', args: { order: 0, mt: 'MOVABLE' } });
    r.apply({ kind: 'compaction.run', args: { side: 'host', guest: 0, order: 10, proactive: true } });
    const run = [...compactionState(r.world).runs.values()].pop()!;
    expect(run.side).toBe('host');
    expect(run.migrated).toBeGreaterThan(0);
    for (let i = 0; i < 8; i++) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: 1024 + i } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });
});

/**
 * A free pageblock isolated (as offlining does) must not make compaction think the request is
 * satisfiable (__compact_finished looks at the lists the request may use, never ISOLATE).
 */
function isolatedScenario(faults: string[]): Runner {
  const r = new Runner(config(faults), { check: 'incremental', properties: new Set(['compaction-finds-block']) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  const g = r.world.guests[0]!;
  const wholes = (): number[] => {
    const out: number[] = [];
    for (let pb = 0; pb < g.config.frames; pb += PAGEBLOCK_FRAMES) {
      const blocks = pageblockBlocks(g.buddy, pb);
      if (blocks.length === 1 && blocks[0]!.free) out.push(pb);
    }
    return out;
  };
  // Fragment until two whole free pageblocks are left; isolate one (as offlining does) and
  // give the kernel every other block of order 8 or more.
  for (let i = 0; i < 8 && wholes().length > 2; i++) r.apply({ kind: 'compaction.fragment', args: { guest: 0, pid: 1, vpn: FRAG_VPN + i * 4096, pages: 1024 } });
  const w = wholes();
  r.apply({ kind: 'guest.isolate', args: { guest: 0, pageblock: w[w.length - 1]! / PAGEBLOCK_FRAMES } });
  for (let o = 10; o >= 8; o--) for (let i = 0; i < 4 && blockAvailable(g.buddy, 8); i++) r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: o, mt: 'UNMOVABLE' } });
  expect(blockAvailable(g.buddy, 8)).toBe(false);
  r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 8, proactive: false } });
  return r;
}

describe('isolated free memory', () => {
  test('the only free block of the order is isolated: compaction still frees a usable one', () => {
    const r = isolatedScenario([]);
    expect(r.violation).toBeNull();
    expect([...compactionState(r.world).runs.values()].pop()!.outcome).toBe('success');
  });
});

describe('compaction-free-scanner-starts-low', () => {
  test('targets inside the pageblock being emptied: the run gives up (compaction-finds-block)', () => {
    const r = fragmented(['compaction-free-scanner-starts-low'], ['compaction-finds-block']);
    r.apply({ kind: 'compaction.run', args: { side: 'guest', guest: 0, order: 9, proactive: false } });
    expect(r.violation).toMatchObject({ property: 'compaction-finds-block', kind: 'gave-up' });
  });
});

describe('the feasibility condition of compaction-finds-block', () => {
  const pb = (i: number, free: number, movable: number, other: number[] = [], target = true): PageblockGhost => ({
    pfn: i * PAGEBLOCK_FRAMES, free, movable, other, isolated: false, usable: true, target,
  });

  test('a block of free and movable pages with enough targets above is feasible', () => {
    expect(feasibleBlock({ base: 0, pageblocks: [pb(0, 256, 256), pb(1, 300, 212)] }, 9)).toBe(0);
  });

  test('not enough free targets above: infeasible', () => {
    expect(feasibleBlock({ base: 0, pageblocks: [pb(0, 256, 256), pb(1, 100, 200, Array.from({ length: 212 }, (_, i) => i))] }, 9)).toBeNull();
  });

  test('an unmovable page in every candidate block: infeasible for order 9, feasible for a small order', () => {
    const z = { base: 0, pageblocks: [pb(0, 255, 256, [7]), pb(1, 400, 0, Array.from({ length: 112 }, (_, i) => 400 + i))] };
    expect(feasibleBlock(z, 9)).toBeNull();
    expect(feasibleBlock(z, 3)).toBe(8);
  });

  test('order 10 needs an aligned pair of clean pageblocks; isolated ones never count', () => {
    const z = { base: 0, pageblocks: [pb(0, 512, 0), pb(1, 256, 256), pb(2, 512, 0, [], false), pb(3, 300, 0, Array.from({ length: 212 }, (_, i) => i))] };
    expect(feasibleBlock(z, 10)).toBe(0);
    const iso = { ...z, pageblocks: [{ ...z.pageblocks[0]!, isolated: true }, ...z.pageblocks.slice(1)] };
    expect(feasibleBlock(iso, 10)).toBeNull();
  });
});

test('directCompaction: nothing for order 0 (no run at all); in a fragmented zone the pages of the block it freed; the run operation answers 1 for a success, 0 otherwise', () => {
  const r = fragmented([]);
  const g = r.world.guests[0]!;
  const s = compactionState(r.world);
  const next = s.nextId;
  expect(directCompaction(r.world, g, 0)).toBe(0);
  expect(s.nextId).toBe(next);
  expect(directCompaction(r.world, g, 9)).toBe(512);
  const run = operationNamed('compaction.run')!;
  // A block of order 9 is free now: a direct run is not needed (0), a proactive one succeeds (1).
  expect(run.apply(r.world, { side: 'guest', guest: 0, order: 9, proactive: false })).toEqual({ ok: true, value: 0 });
  expect(run.apply(r.world, { side: 'guest', guest: 0, order: 9, proactive: true })).toEqual({ ok: true, value: 1 });
});

test('compaction.fragment touches every page of its range across a PTE table boundary, zeroing each into a user, no-execute PTE, then gives every other page back; a range already mapped is refused', () => {
  const r = new Runner(config([]), { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const start = FRAG_VPN + 500;
  const zeroings = g.zeroings;
  const tables = g.tables.size;
  const fragment = operationNamed('compaction.fragment')!;
  expect(fragment.apply(r.world, { guest: 0, pid: 1, vpn: start, pages: 30 })).toEqual({ ok: true, value: 30 });
  // One zeroing per page, and one per page-table page the range needed.
  expect(g.zeroings - zeroings).toBe(30 + g.tables.size - tables);
  expect(g.tables.size - tables).toBeGreaterThanOrEqual(2);
  for (let off = 0; off < 30; off++) {
    const leaf = peekLeaf(r.world, g, p, start + off);
    if (off % 2 === 1) expect(leaf).toBeNull();
    else {
      expect(leaf).toMatchObject({ level: 1, writable: true, nx: true });
      expect(leaf!.entry.flags & PTE_USER).toBe(PTE_USER);
    }
  }
  expect(fragment.apply(r.world, { guest: 0, pid: 1, vpn: start, pages: 4 })).toMatchObject({ ok: false });
  expect(operationNamed('compaction.migrate.begin')!.apply(r.world, { side: 'guest', guest: 0, gfn: g.config.frames })).toMatchObject({ ok: false, error: 'out-of-range' });
});
