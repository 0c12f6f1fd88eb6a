/**
 * The host out of frames, met by the paths other than a guest's first touch (host-oom.test.ts
 * covers those): each host allocation that fails refuses with host-oom, or falls back where
 * the kernel does, and leaves the world as it was, the properties still holding.
 *
 * - a migration target (mm/migrate.c alloc_migration_target returning NULL: -ENOMEM),
 * - a new EPT table when the data frame was the last one (kvm_mmu_topup_memory_cache fails),
 * - the host page cache on a guest writeback (the write goes through to the medium),
 * - the private copy of a KSM page (mm/ksm.c break_ksm / do_wp_page: VM_FAULT_OOM),
 * - the shared page-cache page and the private copy behind a DAX window,
 * - a frontswap store (tmem has no frame: the store is refused and the page goes to swap),
 * - host khugepaged's 2 MiB block (collapse_huge_page: SCAN_ALLOC_HUGE_PAGE_FAIL, after
 *   direct compaction found none),
 * - the EPT table of a DAX window's first mapping, after the shared page or the private copy.
 */
import type { Runner } from '../../fuzz/run';
import { machine, stepper, type Stepper, exhaustHost } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { compactionState } from '../compaction/state';
import { diskState } from '../pagecache/state';
import { blockOf, diskOf } from '../pagecache/layout';
import { daxWorld, sharedKey, windowGfn } from '../dax/shared-cache';
import { ksmState } from '../ksm/ksm';

const B = 2 ** 20;
const DAX_VPN = 1 << 23;
function runner(options: Record<string, string | number | boolean> = {}, hugePages = false): Stepper {
  const s = stepper(machine(options, [], 1, hugePages));
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: B, pages: 4, write: true, exec: false, huge: false });
  for (let i = 0; i < 4; i++) s.apply('guest.write', { guest: 0, pid: 1, vpn: B + i });
  return s;
}

function gfnAt(r: Runner, vpn: number): number {
  const g = r.world.guests[0]!;
  return peekLeaf(r.world, g, g.processes.get(1)!, vpn)!.gfn;
}

test('a migration needs a target frame: both the stepwise host migration and host.migrate refuse host-oom and leave the frame where it was', () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  const gfn = gfnAt(r, B);
  const hfn = g.backing.get(gfn);
  exhaustHost(r);
  expect(apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn })).toEqual({ ok: false, error: 'host-oom' });
  expect(compactionState(r.world).active.size).toBe(0);
  expect(compactionState(r.world).hostLocked.size).toBe(0);
  expect(apply('host.migrate', { guest: 0, gfn })).toEqual({ ok: false, error: 'host-oom' });
  expect(g.backing.get(gfn)).toBe(hfn);
  expect(apply('guest.read', { guest: 0, pid: 1, vpn: B }).ok).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('an EPT violation whose data frame is the last free one cannot get its EPT table: host-oom, the gfn gets no EPT leaf and the allocation is undone', () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  exhaustHost(r, 1);
  // A 2 MiB guest block the EPT has never mapped: its first page needs a new level-1 table.
  const before = new Set(g.backing.keys());
  const free = g.buddy.freePages();
  expect(apply('guest.kalloc', { guest: 0, order: 9, mt: 'UNMOVABLE' })).toEqual({ ok: false, error: 'host-oom' });
  expect(r.world.hostBuddy.freePages()).toBe(0);
  expect(g.buddy.freePages()).toBe(free);
  // The host faulted the frame in for its own mapping (hva_to_pfn), but the EPT has no leaf.
  const added = [...g.backing.keys()].filter((x) => !before.has(x));
  expect(added).toHaveLength(1);
  expect(g.ept.lookup(r.world, added[0]!).kind).toBe('violation');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a guest writeback to a writeback-cached disk with the host out of frames goes through to the medium, uncached', () => {
  const { r, apply } = runner();
  expect(apply('file.write', { guest: 0, file: 0, index: 0 }).ok).toBe(true);
  exhaustHost(r);
  expect(apply('file.writeback', { guest: 0, file: 0, index: 0 }).ok).toBe(true);
  expect(apply('io.complete', { guest: 0 }).ok).toBe(true);
  const d = diskState(r.world, 0, diskOf(0));
  expect(d.mode).toBe('writeback');
  expect(d.hostCache.size).toBe(0);
  expect(d.medium.get(blockOf(0, 0))?.kind).toBe('data');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('breaking a KSM page needs a private frame: a write to it and MADV_UNMERGEABLE both refuse host-oom, and the page stays merged', () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  for (let i = 0; i < 2; i++) apply('ksm.fill', { guest: 0, pid: 1, vpn: B + i, pattern: 0 });
  const [a, b] = [gfnAt(r, B), gfnAt(r, B + 1)];
  const range = { guest: 0, gfn: Math.min(a, b), pages: Math.abs(a - b) + 1 };
  apply('ksm.madvise', { ...range, mergeable: true });
  expect(apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: 2 });
  const merged = g.backing.get(a);
  expect(g.backing.get(b)).toBe(merged);
  exhaustHost(r);
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: B })).toEqual({ ok: false, error: 'host-oom' });
  expect(apply('ksm.madvise', { ...range, mergeable: false })).toEqual({ ok: false, error: 'host-oom' });
  expect([g.backing.get(a), g.backing.get(b)]).toEqual([merged, merged]);
  expect(ksmState(r.world).nodes.size).toBe(1);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a DAX window with the host out of frames: the first read of a file page cannot get its shared page (host-oom), a write without the writable grant cannot get its private copy (host-oom)', () => {
  const { r, apply } = runner({ 'shared-page-cache.grants': 'ro', 'cleancache.enabled': false, 'frontswap.enabled': false });
  const g = r.world.guests[0]!;
  apply('dax.mmap', { guest: 0, pid: 1, file: 0, vpn: DAX_VPN, write: true });
  expect(apply('guest.read', { guest: 0, pid: 1, vpn: DAX_VPN + 1 }).ok).toBe(true);
  const shared = g.backing.get(windowGfn(g, 0, 1));
  exhaustHost(r);
  expect(apply('guest.read', { guest: 0, pid: 1, vpn: DAX_VPN })).toEqual({ ok: false, error: 'host-oom' });
  expect(daxWorld(r.world).cache.has(sharedKey(0, 0))).toBe(false);
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: DAX_VPN + 1 })).toEqual({ ok: false, error: 'host-oom' });
  expect(g.backing.get(windowGfn(g, 0, 1))).toBe(shared);
  expect(r.world.frames.owner(shared!)?.kind).toBe('shared-page-cache');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a frontswap store with the host out of frames is refused (the page would go to the swap device) and a load then finds nothing', () => {
  const { r, apply } = runner();
  exhaustHost(r);
  const stored = apply('frontswap.store', { guest: 0, offset: 0, refused: false });
  expect(stored.ok).toBe(true);
  expect(stored.value).toBeLessThan(0);
  expect(apply('frontswap.load', { guest: 0, offset: 0 }).value).toBeLessThan(0);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('host khugepaged finds no free 2 MiB block even after compacting: the collapse is refused and the unit stays backed by 4 KiB frames', () => {
  const { r, apply } = runner({}, true);
  const g = r.world.guests[0]!;
  const gfn = gfnAt(r, B);
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  apply('thp.host.split', { guest: 0, gfn });
  expect(g.hugeBacked.has(unit)).toBe(false);
  apply('thp.host.scan', { guest: 0, gfn });
  exhaustHost(r);
  const hfn = g.backing.get(gfn);
  expect(apply('thp.host.collapse', { guest: 0 })).toEqual({ ok: false, error: 'host-oom' });
  expect(g.hugeBacked.has(unit)).toBe(false);
  expect(g.backing.get(gfn)).toBe(hfn);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

/**
 * A DAX window whose EPT leaf table does not exist yet (the window's first mapping in this
 * guest) with the host out of frames: KVM's fault path cannot top up its page-table cache
 * (kvm_mmu_topup_memory_cache: -ENOMEM), so the fault refuses host-oom after the page itself
 * was found or made: the window gfn has its host page but no EPT leaf.
 */
function daxRunner(guests: number): Stepper {
  const s = stepper(machine({ 'shared-page-cache.grants': 'ro', 'cleancache.enabled': false, 'frontswap.enabled': false }, [], guests));
  const { apply } = s;
  for (let guest = 0; guest < guests; guest++) {
    apply('guest.spawn', { guest });
    apply('dax.mmap', { guest, pid: 1, file: 0, vpn: DAX_VPN, write: true });
    // An anonymous page right after the DAX VMA, under the same PTE table: the guest's own page
    // tables for the DAX VMA exist (and are host-backed) before the host runs out.
    apply('guest.mmap', { guest, pid: 1, vpn: DAX_VPN + 8, pages: 8, write: true, exec: false, huge: false });
    expect(apply('guest.write', { guest, pid: 1, vpn: DAX_VPN + 8 }).ok).toBe(true);
  }
  return s;
}

test('a DAX read of a page another guest cached, with no host frame for the window\'s EPT table: host-oom, the window gfn is bound to the shared page but has no EPT leaf', () => {
  const { r, apply } = daxRunner(2);
  const g0 = r.world.guests[0]!;
  const g1 = r.world.guests[1]!;
  expect(apply('guest.read', { guest: 1, pid: 1, vpn: DAX_VPN }).ok).toBe(true);
  const shared = g1.backing.get(windowGfn(g1, 0, 0))!;
  expect(daxWorld(r.world).cache.has(sharedKey(0, 0))).toBe(true);
  exhaustHost(r);
  expect(apply('guest.read', { guest: 0, pid: 1, vpn: DAX_VPN })).toEqual({ ok: false, error: 'host-oom' });
  // The host side of the mapping (QEMU's mapping of the page-cache page) is made; only the EPT leaf is missing.
  expect(g0.backing.get(windowGfn(g0, 0, 0))).toBe(shared);
  expect(g0.ept.lookup(r.world, windowGfn(g0, 0, 0)).kind).not.toBe('leaf');
  expect(r.world.frames.owner(shared)?.kind).toBe('shared-page-cache');
  expect(apply('guest.read', { guest: 1, pid: 1, vpn: DAX_VPN }).ok).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a first DAX write without the writable grant, with frames for the shared page and the private copy but none for the window\'s EPT table: host-oom after the copy', () => {
  const { r, apply } = daxRunner(1);
  const g = r.world.guests[0]!;
  exhaustHost(r, 2);
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: DAX_VPN })).toEqual({ ok: false, error: 'host-oom' });
  expect(r.world.hostBuddy.freePages()).toBe(0);
  expect(g.ept.lookup(r.world, windowGfn(g, 0, 0)).kind).not.toBe('leaf');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
