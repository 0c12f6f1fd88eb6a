/**
 * Why a single migration refuses to isolate a page (isolate_migratepages_block's tests on the
 * guest side, the host's own tests for a backing frame): the refusal is 'busy' and its detail
 * names the reason, one case at a time; nothing is locked by a refused begin.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { compactionState } from './state';

const VPN = 2048;

function setup(hugePages = false): Stepper {
  const s = stepper(machine({}, [], 1, hugePages));
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 4, write: true, exec: false, huge: false });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: VPN });
  return s;
}

function gfnOf(s: Stepper, vpn = VPN): number {
  const g = s.world.guests[0]!;
  return peekLeaf(s.world, g, g.processes.get(1)!, vpn)!.gfn;
}

/** The detail of the refusal of beginning a migration of (side, gfn). */
function refusal(s: Stepper, side: 'guest' | 'host', gfn: number): string {
  const before = compactionState(s.world).active.size;
  expect(s.apply('compaction.migrate.begin', { side, guest: 0, gfn })).toEqual({ ok: false, error: 'busy' });
  expect(compactionState(s.world).active.size).toBe(before);
  const r = s.results[s.results.length - 1]!;
  return r.ok ? '' : r.detail;
}

test('guest side: a free page, a page table, a kernel page and a page already being migrated, each with its reason', () => {
  const s = setup();
  const g = s.world.guests[0]!;
  const free = [...Array(g.config.frames).keys()].find((x) => g.buddy.isFree(x))!;
  expect(refusal(s, 'guest', free)).toMatch(/not movable: not an order-0 allocation$/);
  const table = [...g.tables.keys()][0]!;
  expect(refusal(s, 'guest', table)).toMatch(/not movable: owner is page-table$/);
  const id = s.apply('guest.kalloc', { guest: 0, order: 0, mt: 'UNMOVABLE' }).value!;
  const k = g.kernelAllocs.get(id)!.gfn;
  expect(g.owners.get(k)).toMatchObject({ kind: 'kernel' });
  expect(refusal(s, 'guest', k)).toMatch(/not movable: owner is kernel$/);
  // An allocated page nobody owns (taken from the buddy directly).
  const bare = g.buddy.alloc(0, 'MOVABLE') as number;
  expect(g.owners.get(bare)).toBeUndefined();
  expect(refusal(s, 'guest', bare)).toMatch(/not movable: owner is none$/);
  const src = gfnOf(s);
  expect(s.apply('compaction.migrate.begin', { side: 'guest', guest: 0, gfn: src }).ok).toBe(true);
  expect(refusal(s, 'guest', src)).toMatch(/not movable: locked by a migration in flight$/);
  expect(s.r.violation).toBeNull();
});

test('host side: an unbacked gfn, a gfn under reclaim and a frame already being migrated, each with its reason', () => {
  const s = setup();
  const g = s.world.guests[0]!;
  const unbacked = [...Array(g.config.frames).keys()].find((x) => !g.backing.has(x))!;
  expect(refusal(s, 'host', unbacked)).toMatch(/: not backed$/);
  const gfn = gfnOf(s);
  expect(s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn }).ok).toBe(true);
  expect(refusal(s, 'host', gfn)).toMatch(/: locked by a migration in flight$/);
  s.apply('guest.write', { guest: 0, pid: 1, vpn: VPN + 1 });
  const other = gfnOf(s, VPN + 1);
  expect(s.apply('host.reclaim.begin', { guest: 0, gfn: other }).ok).toBe(true);
  expect(refusal(s, 'host', other)).toMatch(/: under reclaim$/);
  // The gfn just past the reclaimed range is not under reclaim: it may be migrated.
  const r = g.pendingReclaim!;
  expect(r.gfn).toBe(other);
  const next = r.gfn + r.frames;
  for (let v = VPN + 2; v < VPN + 4; v++) s.apply('guest.write', { guest: 0, pid: 1, vpn: v });
  expect(g.backing.has(next)).toBe(true);
  expect(s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: next }).ok).toBe(true);
  expect(s.r.violation).toBeNull();
});

test('guest side: a page of a THP (an order-9 allocation) is not migrated one page at a time', () => {
  const s = setup(true);
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 4096, pages: 512, write: true, exec: false, huge: true }).ok).toBe(true);
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 4096 + 3 }).ok).toBe(true);
  const g = s.world.guests[0]!;
  expect(peekLeaf(s.world, g, g.processes.get(1)!, 4096 + 3)!.level).toBe(2);
  // Its head (the allocation's first page) and a page inside it.
  for (const off of [0, 3]) expect(refusal(s, 'guest', gfnOf(s, 4096 + off))).toMatch(/not movable: not an order-0 allocation$/);
});

test('host side with 2 MiB host backing: a frame of a 2 MiB backing unit is not migrated one page at a time', () => {
  const s = setup(true);
  const g = s.world.guests[0]!;
  const gfn = gfnOf(s);
  expect(g.hugeBacked.has(Math.floor(gfn / 512))).toBe(true);
  expect(refusal(s, 'host', gfn)).toMatch(/: part of a 2 MiB backing unit$/);
  expect(s.r.violation).toBeNull();
});
