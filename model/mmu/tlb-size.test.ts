/**
 * A combined TLB entry covers the smaller of the guest and host pages (SDM vol. 3C 29.4.2):
 * a 2 MiB guest page whose host backing was swapped out and faulted back in 4 KiB frames
 * must give 4 KiB entries. With the tlb-entry-uses-guest-size fault the entry covers 2 MiB
 * and tlb-coherence catches it; without it, nothing is reported.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';

function scenario(faults: string[]) {
  const config: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }], faults };
  const r = new Runner(config, { check: 'incremental' });
  const vpn = 4 * 512;
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn, pages: 512, write: true, exec: false, huge: true } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn } });
  const g = r.world.guests[0]!;
  const gfn = [...g.owners].find(([, o]) => o.kind === 'anon' && o.vpn === vpn)![0];
  expect(g.hugeBacked.has(Math.floor(gfn / 512))).toBe(true);
  r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn } });
  r.apply({ kind: 'host.reclaim.end', args: { guest: 0 } });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn } });
  return r;
}

test('a 2 MiB guest page over 4 KiB host pages fills 4 KiB TLB entries', () => {
  const r = scenario([]);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('tlb-entry-uses-guest-size is caught by tlb-coherence', () => {
  const r = scenario(['tlb-entry-uses-guest-size']);
  expect(r.violation).toMatchObject({ property: 'tlb-coherence', kind: 'oversized-entry', step: 5 });
});
