/**
 * The guest's anonymous page fault (do_anonymous_page, do_huge_pmd_anonymous_page): the VMA
 * check (no VMA, write to a read-only VMA, exec in an NX VMA: SIGSEGV), one pgfault counted
 * per fault handled, every frame of the new page cleared by the guest, and a page the host
 * cannot back given back whole.
 */
import { exhaustHost, machine, stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { vmaAllows } from './fault';
import { Process } from './process';

test('vmaAllows: no VMA, a write to a read-only VMA and an exec in an NX VMA are SIGSEGV; what the protection allows passes', () => {
  const p = new Process(1, 0);
  p.addVma({ start: 10, end: 20, prot: { write: false, exec: false }, huge: false });
  p.addVma({ start: 20, end: 30, prot: { write: true, exec: true }, huge: false });
  expect(vmaAllows(p, 9, 'read')?.error).toBe('segv');
  expect(vmaAllows(p, 10, 'read')).toBeNull();
  expect(vmaAllows(p, 10, 'write')?.error).toBe('segv');
  expect(vmaAllows(p, 10, 'exec')?.error).toBe('segv');
  expect(vmaAllows(p, 20, 'write')).toBeNull();
  expect(vmaAllows(p, 29, 'exec')).toBeNull();
  expect(vmaAllows(p, 30, 'read')?.error).toBe('segv');
});

test('a 4 KiB fault clears one frame and counts one pgfault; a 2 MiB one clears 512 frames and counts one', () => {
  const s = stepper({ ...machine({}), guests: [{ frames: 4096, guestLevels: 4, eptLevels: 4, hugePages: true }] });
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 }).ok).toBe(true);
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 1024, pages: 4, write: true, exec: false, huge: false }).ok).toBe(true);
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 2048, pages: 512, write: true, exec: false, huge: true }).ok).toBe(true);
  // The first fault allocates page tables (cleared too): count from after it.
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 1024 }).ok).toBe(true);
  let z = g.zeroings;
  let f = g.pgfault;
  const mapped = (size: string) => s.world.transitions.get('nested-mmu')?.get(`unmapped->mapped-${size}`) ?? 0;
  expect([mapped('4k'), mapped('2m')]).toEqual([1, 0]);
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 1025 }).ok).toBe(true);
  expect([g.zeroings - z, g.pgfault - f]).toEqual([1, 1]);
  // A second access to a present page takes no fault.
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: 1025 }).ok).toBe(true);
  expect([g.zeroings - z, g.pgfault - f]).toEqual([1, 1]);
  // The huge VMA's first fault needs a new L1-level slot only (its L2 table exists): 512 clears.
  z = g.zeroings;
  f = g.pgfault;
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 2048 + 5 }).ok).toBe(true);
  expect(peekLeaf(s.world, g, g.processes.get(1)!, 2048 + 5)?.level).toBe(2);
  expect([g.zeroings - z, g.pgfault - f]).toEqual([512, 1]);
  // Each fault handled counts as the mapping of its size.
  expect([mapped('4k'), mapped('2m')]).toEqual([2, 1]);
  // A fault refused by the VMA check is not counted.
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 4096 })).toEqual({ ok: false, error: 'segv' });
  expect(g.pgfault - f).toBe(1);
  expect(s.r.violation).toBeNull();
});

test('a fault the host cannot back: refused, the guest frame freed and unowned, nothing mapped', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 }).ok).toBe(true);
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 2048, pages: 8, write: true, exec: false, huge: false }).ok).toBe(true);
  // Tables first (a fault on the first page), so that only the data page is left to back.
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 2048 }).ok).toBe(true);
  exhaustHost(s.r);
  const free = g.buddy.freePages();
  const owners = g.owners.size;
  const zeroings = g.zeroings;
  const r = s.apply('guest.write', { guest: 0, pid: 1, vpn: 2048 + 1 });
  expect(r).toEqual({ ok: false, error: 'host-oom' });
  expect(g.buddy.freePages()).toBe(free);
  expect(g.owners.size).toBe(owners);
  expect(g.zeroings).toBe(zeroings);
  expect(peekLeaf(s.world, g, g.processes.get(1)!, 2048 + 1)).toBeNull();
  expect(s.r.violation).toBeNull();
});

test('no free 2 MiB block: a huge VMA\'s fault falls back to a 4 KiB page; no free page at all: refused as guest-oom', () => {
  const s = stepper({ ...machine({}), guests: [{ frames: 4096, guestLevels: 4, eptLevels: 4, hugePages: true }] });
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 }).ok).toBe(true);
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 2048, pages: 512, write: true, exec: false, huge: true }).ok).toBe(true);
  // Every free page taken, then every other one of the first 64 given back: 32 free pages, no
  // two of them buddies, so no 2 MiB block; the slow path (reclaim, compaction) off.
  g.pressureHooks.length = 0;
  const taken: number[] = [];
  const take = (): boolean => {
    const x = g.buddy.alloc(0, 'MOVABLE');
    if (typeof x !== 'number') return false;
    g.setOwner(x, { kind: 'kernel', alloc: 10_000 + x });
    taken.push(x);
    return true;
  };
  while (take());
  for (let i = 0; i < 64; i += 2) {
    g.clearOwner(taken[i]!);
    g.buddy.free(taken[i]!, 0);
  }
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 2048 + 7 })).toMatchObject({ ok: true });
  expect(peekLeaf(s.world, g, g.processes.get(1)!, 2048 + 7)?.level).toBe(1);
  while (take());
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 2048 + 8 })).toEqual({ ok: false, error: 'guest-oom' });
  expect(peekLeaf(s.world, g, g.processes.get(1)!, 2048 + 8)).toBeNull();
  expect(s.r.violation).toBeNull();
});
