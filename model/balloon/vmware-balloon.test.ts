/**
 * The VMware balloon's operations refuse what the protocol does not allow: a second inflate
 * while a batch waits for LOCK, a deflate with nothing above the target, a host discard of a
 * page the balloon does not hold; after the LOCK the balloon's size is the host's count.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import { vmwOf } from './vmware-balloon';

test('inflate while a batch waits for LOCK is busy; deflate at target and discard of a foreign gfn are invalid; nothing changes', () => {
  const r = scenario(machine({ 'vmware-balloon.caps': 0x2 }), [
    op('vmw.host.target', { guest: 0, pages: 16 }),
    op('vmw.inflate', { guest: 0, small: true }),
    op('vmw.inflate', { guest: 0, small: true }),
    op('vmw.lock', { guest: 0, refuse: 0 }),
    op('vmw.deflate', { guest: 0 }),
    // A gfn next to the locked page, not one of the balloon's.
    (w) => op('vmw.host.discard', { guest: 0, gfn: vmwOf(w.guests[0]!)!.pages[0]!.head + 1 }),
  ]);
  expect(kinds(r)).toEqual([]);
  expect(r.results.map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'ok', 'busy', 'ok', 'invalid', 'invalid']);
  const b = vmwOf(r.world.guests[0]!)!;
  expect(b.size).toBe((r.results[1] as { value: number }).value);
  expect(b.pages).toHaveLength(1);
  expect(b.hostLocked.size).toBe(1);
});
