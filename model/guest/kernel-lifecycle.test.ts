/**
 * The guest kernel's process exit and kernel allocations: exit unmaps every VMA and frees the
 * whole page-table tree (free_pgtables), leaves no translation of the process in the TLB, and
 * gives every frame back; kalloc hands out a cleared, kernel-owned block, kfree gives all of
 * it back, kwrite writes its first frame; an allocation the host cannot back is undone whole.
 */
import { exhaustHost, machine, stepper } from '../../fuzz/testing/scenario';
import { physRead } from './phys';

const BASE = 2048;

test('exit: every VMA unmapped, every table page of the process freed and unlinked, its TLB entries gone, all frames back', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  const free0 = g.buddy.freePages();
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 2 });
  // Two VMAs far apart: one L1 table each, under different L2 tables (and a 2 MiB-aligned huge one).
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: BASE, pages: 4, write: true, exec: false, huge: false }).ok).toBe(true);
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 512 * 512 + 7, pages: 2, write: true, exec: false, huge: false }).ok).toBe(true);
  for (const v of [BASE, BASE + 3, 512 * 512 + 7, 512 * 512 + 8]) expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: v }).ok).toBe(true);
  expect(s.apply('guest.mmap', { guest: 0, pid: 2, vpn: BASE, pages: 1, write: true, exec: false, huge: false }).ok).toBe(true);
  expect(s.apply('guest.write', { guest: 0, pid: 2, vpn: BASE }).ok).toBe(true);
  const mine = () => [...g.tables.values()].filter((t) => t.pid === 1).length;
  expect(mine()).toBe(6);
  expect(s.world.tlb.overlapping(g.vpid, 1, 0, 2 ** 36).length).toBeGreaterThan(0);
  const other = [...g.tables.entries()].filter(([, t]) => t.pid === 2).map(([gfn]) => gfn);
  const otherRefs = [...g.tableRefs.entries()].filter(([, ref]) => other.includes(ref.table));

  expect(s.apply('guest.exit', { guest: 0, pid: 1 })).toEqual({ ok: true });
  expect(g.processes.has(1)).toBe(false);
  expect(mine()).toBe(0);
  expect([...g.owners.values()].some((o) => 'pid' in o && o.pid === 1)).toBe(false);
  // No reference to a freed table stays behind; those of pid 2's tree are untouched.
  expect([...g.tableRefs.entries()]).toEqual(otherRefs);
  expect(s.world.tlb.overlapping(g.vpid, 1, 0, 2 ** 36)).toEqual([]);
  expect(s.world.tlb.overlapping(g.vpid, 2, BASE, BASE + 1).length).toBe(1);
  expect(g.buddy.freePages()).toBe(free0 - (g.tables.size + 1));
  expect(s.apply('guest.exit', { guest: 0, pid: 2 })).toEqual({ ok: true });
  expect(g.tables.size).toBe(0);
  expect(g.tableRefs.size).toBe(0);
  expect(g.buddy.freePages()).toBe(free0);
  expect(s.errors()).not.toContain('invalid');
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('kalloc: a cleared block owned by the kernel; kwrite writes its first frame; kfree frees it whole; unknown ids refused', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  const free0 = g.buddy.freePages();
  const a = s.apply('guest.kalloc', { guest: 0, order: 2, mt: 'UNMOVABLE' });
  expect(a).toEqual({ ok: true, value: 1 });
  expect(s.apply('guest.kalloc', { guest: 0, order: 2, mt: 'UNMOVABLE' })).toEqual({ ok: true, value: 2 });
  const { gfn, order } = g.kernelAllocs.get(1)!;
  expect(order).toBe(2);
  expect(g.buddy.freePages()).toBe(free0 - 8);
  // The second block is the first one's buddy: the frame just past the first is owned.
  expect(g.owners.get(gfn + 4)).toEqual({ kind: 'kernel', alloc: 2 });
  for (let i = 0; i < 4; i++) {
    expect(g.owners.get(gfn + i)).toEqual({ kind: 'kernel', alloc: 1 });
    expect(physRead(s.world, g, gfn + i)).toEqual({ kind: 'zero' });
  }
  const w = s.apply('guest.kwrite', { guest: 0, alloc: 1 });
  expect(w.ok).toBe(true);
  expect(physRead(s.world, g, gfn)).toEqual({ kind: 'data', writer: g.id, version: w.value });
  expect(physRead(s.world, g, gfn + 1)).toEqual({ kind: 'zero' });
  expect(s.apply('guest.kwrite', { guest: 0, alloc: 9 })).toEqual({ ok: false, error: 'no-such-allocation' });
  expect(s.apply('guest.kfree', { guest: 0, alloc: 9 })).toEqual({ ok: false, error: 'no-such-allocation' });
  const others = [...g.owners.entries()].filter(([f]) => f < gfn || f >= gfn + 4);
  expect(s.apply('guest.kfree', { guest: 0, alloc: 1 })).toEqual({ ok: true });
  for (let i = 0; i < 4; i++) expect(g.owners.has(gfn + i)).toBe(false);
  // Nothing outside the block changes owner, the frame just past it included.
  expect([...g.owners.entries()]).toEqual(others);
  expect(g.kernelAllocs.has(1)).toBe(false);
  expect(g.buddy.freePages()).toBe(free0 - 4);
  expect(s.apply('guest.kfree', { guest: 0, alloc: 1 })).toEqual({ ok: false, error: 'no-such-allocation' });
  expect(s.apply('guest.kwrite', { guest: 0, alloc: 1 })).toEqual({ ok: false, error: 'no-such-allocation' });
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('kalloc the host cannot back: refused, every frame of the block freed and unowned, the id not used up', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.kalloc', { guest: 0, order: 0, mt: 'MOVABLE' })).toEqual({ ok: true, value: 1 });
  exhaustHost(s.r);
  const free0 = g.buddy.freePages();
  const owners0 = g.owners.size;
  const r = s.apply('guest.kalloc', { guest: 0, order: 3, mt: 'MOVABLE' });
  expect(r.ok).toBe(false);
  expect(g.buddy.freePages()).toBe(free0);
  expect(g.owners.size).toBe(owners0);
  expect(g.kernelAllocs.size).toBe(1);
  expect(g.nextAlloc).toBe(2);
  expect(s.r.violation).toBeNull();
});

test('exit frees the table pages leaves first, the root (CR3) last, each one page', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: BASE, pages: 1, write: true, exec: false, huge: false }).ok).toBe(true);
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: BASE }).ok).toBe(true);
  const levels = new Map([...g.tables.entries()].map(([gfn, t]) => [gfn, t.level]));
  expect([...levels.values()].sort()).toEqual([1, 2, 3, 4]);
  const freed: [number, number][] = [];
  g.freeHooks.push({ freed: (_w, _g, gfn, order) => void freed.push([gfn, order]) });
  expect(s.apply('guest.exit', { guest: 0, pid: 1 })).toEqual({ ok: true });
  const tables = freed.filter(([gfn]) => levels.has(gfn));
  expect(tables.map(([gfn, order]) => [levels.get(gfn), order])).toEqual([
    [1, 0],
    [2, 0],
    [3, 0],
    [4, 0],
  ]);
  expect(s.r.violation).toBeNull();
});

test('exit flushes the whole address space itself: even when munmap skips its flush (tlb-no-flush-on-unmap), no translation of the process is left', () => {
  const s = stepper(machine({}, ['tlb-no-flush-on-unmap']));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: BASE, pages: 2, write: true, exec: false, huge: false }).ok).toBe(true);
  for (const v of [BASE, BASE + 1]) expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: v }).ok).toBe(true);
  expect(s.world.tlb.overlapping(g.vpid, 1, BASE, BASE + 2).length).toBe(2);
  expect(s.apply('guest.exit', { guest: 0, pid: 1 })).toEqual({ ok: true });
  expect(s.world.tlb.overlapping(g.vpid, 1, 0, 2 ** 36)).toEqual([]);
  expect(s.r.violation).toBeNull();
});
