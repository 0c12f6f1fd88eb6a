/**
 * The guest kernel's own accesses to a page whose host frame the host is migrating (between
 * its unmap and its remap): kwrite and kread go through the EPT like any access, take the
 * violation and wait for the host's migration entry (mm/migrate.c migration_entry_wait), so
 * they refuse with 'retry' and change nothing; once the host is done they complete.
 * And the host side's own test (hostMovable): a KSM page is not a private guest frame, so a
 * host migration of it is refused as busy (KSM pages move only through ksm_migrate_page).
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { compactionState } from '../compaction/state';
import { peekLeaf } from '../mmu/peek';

const B = 2 ** 20;

function runner(): Stepper {
  const s = stepper(machine({}));
  s.apply('guest.spawn', { guest: 0 });
  return s;
}

test('kwrite and kread of a kernel page whose frame the host is migrating refuse (retry) and change nothing; afterwards both complete', () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  const id = apply('guest.kalloc', { guest: 0, order: 0, mt: 'UNMOVABLE' }).value!;
  const v = apply('guest.kwrite', { guest: 0, alloc: id });
  expect(v.ok).toBe(true);
  const gfn = g.kernelAllocs.get(id)!.gfn;
  const before = r.world.frames.read(g.backing.get(gfn)!);
  expect(apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn }).ok).toBe(true);
  const m = [...compactionState(r.world).active.values()][0]!;
  apply('compaction.migrate.step', { id: m.id });
  expect(m.stage).toBe('unmapped');
  const version = r.world.version;
  expect(apply('guest.kwrite', { guest: 0, alloc: id })).toEqual({ ok: false, error: 'retry' });
  expect(apply('guest.kread', { guest: 0, alloc: id })).toEqual({ ok: false, error: 'retry' });
  expect(r.world.frames.read(m.src)).toEqual(before);
  expect(r.world.version).toBe(version + 1); // the refused kwrite drew its version, wrote nothing
  apply('compaction.migrate.step', { id: m.id });
  apply('compaction.migrate.step', { id: m.id });
  expect(m.stage).toBe('done');
  expect(apply('guest.kread', { guest: 0, alloc: id }).ok).toBe(true);
  expect(apply('guest.kwrite', { guest: 0, alloc: id }).ok).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a host migration of a KSM-merged frame is refused (busy): the frame is not a private guest frame', () => {
  const { r, apply } = runner();
  const g = r.world.guests[0]!;
  apply('guest.mmap', { guest: 0, pid: 1, vpn: B, pages: 2, write: true, exec: false, huge: false });
  for (let i = 0; i < 2; i++) apply('ksm.fill', { guest: 0, pid: 1, vpn: B + i, pattern: 0 });
  const p = g.processes.get(1)!;
  const [a, b] = [peekLeaf(r.world, g, p, B)!.gfn, peekLeaf(r.world, g, p, B + 1)!.gfn];
  apply('ksm.madvise', { guest: 0, gfn: Math.min(a, b), pages: Math.abs(a - b) + 1, mergeable: true });
  expect(apply('ksm.scan', { pages: 4096 })).toEqual({ ok: true, value: 2 });
  expect(r.world.frames.owner(g.backing.get(a)!)?.kind).toBe('ksm');
  expect(apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn: a })).toEqual({ ok: false, error: 'busy' });
  expect(compactionState(r.world).active.size).toBe(0);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
