/**
 * A guest's fault-staleness test (virt/kvm/kvm_main.c mmu_invalidate_retry_gfn): a fault that
 * snapshotted the invalidation sequence must retry when the sequence moved since, or when an
 * invalidation in progress covers its gfn, [rangeStart, rangeEnd). What setBacking journals
 * for the incremental checkers: the frame a gfn leaves, and every translation below a
 * page-table page that moves.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { describeGuestOwner, type GuestFrameOwner } from './guest';

test('faultIsStale: the sequence moved, or the gfn lies in the range of an invalidation in progress (start in, end out)', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  const inv = g.invalidation;
  inv.seq = 5;
  inv.rangeStart = 10;
  inv.rangeEnd = 20;
  // No invalidation in progress: only the sequence counts.
  inv.inProgress = 0;
  expect(g.faultIsStale(10, 5)).toBe(false);
  expect(g.faultIsStale(10, 4)).toBe(true);
  expect(g.faultIsStale(10, 6)).toBe(true);
  // One in progress: the gfns of its range retry whatever the sequence, the others do not.
  inv.inProgress = 1;
  expect(g.faultIsStale(9, 5)).toBe(false);
  expect(g.faultIsStale(10, 5)).toBe(true);
  expect(g.faultIsStale(19, 5)).toBe(true);
  expect(g.faultIsStale(20, 5)).toBe(false);
  expect(g.faultIsStale(20, 4)).toBe(true);
});

test('describeGuestOwner names every owner kind with the fields that identify it (journal notes and violations print it)', () => {
  const cases: [GuestFrameOwner | undefined, string][] = [
    [undefined, 'free'],
    [{ kind: 'page-table', pid: 3, level: 2 }, 'pid 3 page table L2'],
    [{ kind: 'anon', pid: 4, vpn: 0x10 }, 'pid 4 va 0x10000'],
    [{ kind: 'kernel', alloc: 7 }, 'kernel alloc #7'],
    [{ kind: 'migrate-target', src: 0x2a }, 'migration target of gfn 0x2a'],
    [{ kind: 'zero-page', huge: true }, 'huge zero page'],
    [{ kind: 'zero-page', huge: false }, 'zero page'],
    [{ kind: 'virtio-mem', block: 5 }, 'virtio-mem block 5 (offline)'],
    [{ kind: 'balloon', device: 'vmware-balloon' }, 'vmware-balloon page'],
    [{ kind: 'reporting', order: 9 }, 'reported block (order 9)'],
    [{ kind: 'hinting', order: 10 }, 'hinted block (order 10)'],
    [{ kind: 'memctl', region: 2 }, 'memctl region #2'],
    [{ kind: 'page-cache', file: 6, index: 11 }, 'page cache file 6 page 11'],
    [{ kind: 'swap-cache', slot: 12 }, 'swap cache slot 12'],
    [{ kind: 'hog', id: 8 }, 'kernel hog #8'],
    [{ kind: 'cmm' }, 'cmm page'],
  ];
  for (const [o, text] of cases) expect(describeGuestOwner(o)).toBe(text);
});

test('setBacking: a frame losing its gfn is journalled as released, and a page-table page that moves journals every translation below it', () => {
  const s = stepper(machine({}));
  s.apply('guest.spawn', { guest: 0 });
  const vpn = 5 * 512 + 3;
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn, pages: 1, write: true, exec: false, huge: false });
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn })).toMatchObject({ ok: true });
  const w = s.world;
  const g = w.guests[0]!;
  const [pte, info] = [...g.tables].find(([, t]) => t.pid === 1 && t.level === 2)!;
  const old = g.backing.get(pte)!;
  w.journal.clear();
  g.setBacking(pte, old);
  expect(w.journal.released.size).toBe(0);
  expect(w.journal.ranges).toContainEqual({ guest: 0, pid: 1, vpnStart: info.vpnBase, vpnEnd: info.vpnBase + 512 ** 2 });
  w.journal.clear();
  g.setBacking(pte, old + 1);
  expect([...w.journal.released]).toEqual([old]);
  expect(w.journal.gfns.get(0)).toEqual(new Set([pte]));
  expect(w.journal.ranges).toEqual([{ guest: 0, pid: 1, vpnStart: info.vpnBase, vpnEnd: info.vpnBase + 512 ** 2 }]);
});
