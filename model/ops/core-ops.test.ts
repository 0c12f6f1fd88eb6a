/**
 * Operations of model/ops that campaigns reach but no mechanism test looks at closely: host
 * kernel allocations by id, a split EPT fault finishing after another fault mapped the gfn,
 * INVEPT single-context against global, INVVPID, and MAP_POPULATE over a taken range.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';

test('host.kalloc numbers its allocations 1, 2, 3 and host.kfree frees each by its number, once', () => {
  const s = stepper(machine({}));
  const free = s.world.hostBuddy.freePages();
  expect([1, 2, 3].map(() => s.apply('host.kalloc', { order: 0, mt: 'MOVABLE' }))).toEqual([{ ok: true, value: 1 }, { ok: true, value: 2 }, { ok: true, value: 3 }]);
  expect(s.apply('host.kfree', { alloc: 2 })).toEqual({ ok: true });
  expect(s.apply('host.kfree', { alloc: 2 })).toEqual({ ok: false, error: 'no-such-allocation' });
  expect(s.apply('host.kfree', { alloc: 3 })).toEqual({ ok: true });
  expect(s.apply('host.kfree', { alloc: 1 })).toEqual({ ok: true });
  expect(s.world.hostBuddy.freePages()).toBe(free);
  expect(s.r.violation).toBeNull();
});

test('a split EPT fault that finds the gfn mapped meanwhile (another fault on it completed) finishes without mapping it twice', () => {
  const s = stepper(machine({ 'memctl.enabled': true }));
  const g = s.world.guests[0]!;
  const gfn = g.config.frames - 1; // in the memctl region: memctl.write touches it directly
  expect(s.apply('host.fault.begin', { guest: 0, gfn })).toEqual({ ok: true });
  expect(g.ept.lookup(s.world, gfn).kind).not.toBe('leaf');
  expect(s.apply('memctl.write', { guest: 0, gfn }).ok).toBe(true);
  expect(g.ept.lookup(s.world, gfn).kind).toBe('leaf');
  expect(s.apply('host.fault.finish', { guest: 0 })).toEqual({ ok: true });
  expect(s.apply('host.fault.finish', { guest: 0 })).toEqual({ ok: false, error: 'no-such-mapping' });
  expect(s.r.violation).toBeNull();
});

describe('TLB invalidation operations', () => {
  /** Two guests, each with a process whose page at vpn 16 is in the TLB. */
  const two = () => {
    const s = stepper(machine({}, [], 2));
    for (const guest of [0, 1]) {
      expect(s.apply('guest.spawn', { guest })).toEqual({ ok: true, value: 1 });
      expect(s.apply('guest.mmap', { guest, pid: 1, vpn: 16, pages: 1, write: true, exec: false, huge: false })).toEqual({ ok: true });
      expect(s.apply('guest.write', { guest, pid: 1, vpn: 16 }).ok).toBe(true);
    }
    const cached = (guest: number): boolean => {
      const g = s.world.guests[guest]!;
      return s.world.tlb.lookup(g.vpid, 1, g.ept.root, 16) !== undefined;
    };
    expect([cached(0), cached(1)]).toEqual([true, true]);
    return { s, cached };
  };

  test.each([
    ['INVEPT single-context drops the entries of that EPT only', 'tlb.invept', { guest: 0, global: false }, [false, true]],
    ['INVEPT global drops every guest\'s entries', 'tlb.invept', { guest: 0, global: true }, [false, false]],
    ['INVVPID drops the entries of that VPID only', 'tlb.invvpid', { guest: 1 }, [true, false]],
  ] as const)('%s', (_name, kind, args, left) => {
    const { s, cached } = two();
    expect(s.apply(kind, args)).toEqual({ ok: true });
    expect([cached(0), cached(1)]).toEqual(left);
    expect(s.r.violation).toBeNull();
  });
});

test('mm.populate over a range that holds a VMA is refused (mmap: overlap) and faults nothing in', () => {
  const s = stepper(machine({}));
  const g = s.world.guests[0]!;
  expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 20, pages: 1, write: true, exec: false, huge: false })).toEqual({ ok: true });
  const backed = g.backing.size;
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: 16, pages: 8 })).toEqual({ ok: false, error: 'overlap' });
  expect(g.backing.size).toBe(backed);
  expect(s.apply('mm.populate', { guest: 0, pid: 1, vpn: 24, pages: 8 })).toEqual({ ok: true, value: 8 });
  expect(s.r.violation).toBeNull();
});
