/**
 * hostMigrationEntryAt: a host fault (hva_to_pfn's GUP) on a gfn whose primary mapping holds a
 * migration entry waits (mm/migrate.c migration_entry_wait) while the host-side migration is
 * between its unmap and its end; before the unmap and after the end it goes through, and
 * neither another gfn nor the same gfn of another guest waits.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';

const VPN = 2048;

test('host.fault.begin on the migrating gfn: refused (retry) while unmapped and copied, through when only locked and once the migration is done; other gfns and the other guest are not held', () => {
  const s = stepper(machine({}, [], 2));
  s.apply('guest.spawn', { guest: 0 });
  s.apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 4, write: true, exec: false, huge: false });
  s.apply('guest.write', { guest: 0, pid: 1, vpn: VPN });
  s.apply('guest.spawn', { guest: 1 });
  const g = s.world.guests[0]!;
  const gfn = peekLeaf(s.world, g, g.processes.get(1)!, VPN)!.gfn;
  // The same gfn in guest 1, and another gfn of guest 0, are not mapped in the EPT.
  expect(s.world.guests[1]!.ept.lookup(s.world, gfn).kind).not.toBe('leaf');
  const other = [...Array(g.config.frames).keys()].find((x) => !g.backing.has(x))!;
  const id = s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn }).value!;
  expect(s.apply('compaction.migrate.step', { id }).ok).toBe(true); // unmapped: the EPT leaf is zapped
  expect(g.ept.lookup(s.world, gfn).kind).not.toBe('leaf');
  expect(s.apply('host.fault.begin', { guest: 0, gfn })).toEqual({ ok: false, error: 'retry' });
  const r = s.results[s.results.length - 1]!;
  expect(r.ok ? '' : r.detail).toMatch(/under host migration$/);
  expect(s.apply('compaction.migrate.step', { id }).ok).toBe(true); // copied
  expect(s.apply('host.fault.begin', { guest: 0, gfn })).toEqual({ ok: false, error: 'retry' });
  // Another gfn of the same guest, and guest 1, fault as usual meanwhile.
  expect(s.apply('host.fault.begin', { guest: 1, gfn }).ok).toBe(true);
  expect(s.apply('host.fault.finish', { guest: 1 }).ok).toBe(true);
  expect(s.apply('host.fault.begin', { guest: 0, gfn: other }).ok).toBe(true);
  expect(s.apply('host.fault.finish', { guest: 0 }).ok).toBe(true);
  expect(s.apply('compaction.migrate.step', { id }).ok).toBe(true); // done
  // A second host migration of the gfn, only locked: the primary mapping is intact, the fault
  // goes through (and maps the frame the migration will move).
  const id2 = s.apply('compaction.migrate.begin', { side: 'host', guest: 0, gfn }).value!;
  expect(g.ept.lookup(s.world, gfn).kind).not.toBe('leaf');
  expect(s.apply('host.fault.begin', { guest: 0, gfn }).ok).toBe(true);
  expect(s.apply('host.fault.finish', { guest: 0 }).ok).toBe(true);
  expect(g.ept.lookup(s.world, gfn).kind).toBe('leaf');
  for (let i = 0; i < 3; i++) expect(s.apply('compaction.migrate.step', { id: id2 }).ok).toBe(true);
  expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  expect(s.r.violation).toBeNull();
});
