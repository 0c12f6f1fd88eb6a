/**
 * Host khugepaged never fills in memory the guest gave back: a unit holding a balloon page is
 * not collapsed (the collapse would populate what the balloon discarded); the same unit
 * collapses once the page left the balloon. (The same barrier covers free blocks being
 * reported or reported: model/mechanisms/thp.ts.)
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { FRAMES_PER_2M } from '../constants';
import { resolveBacking } from '../host/ept-fault';

function runner(): Runner {
  const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
  const config: ModelConfig = { hostFrames: 2 ** 14, guests: [guest], faults: [], options: { 'virtio-balloon.present': true } };
  return new Runner(config, { check: 'incremental' });
}

/** A guest page the host has backed (the guest used it), in the balloon when `inflate`. */
function ballooned(inflate: boolean): { r: Runner; gfn: number } {
  const r = runner();
  const g = r.world.guests[0]!;
  r.apply({ kind: 'vballoon.host.target', args: { guest: 0, pages: 1 } });
  r.apply({ kind: 'vballoon.fill', args: { guest: 0 } });
  const gfn = [...g.owners.entries()].find(([, o]) => o.kind === 'balloon')![0];
  resolveBacking(r.world, g, gfn);
  expect(g.backing.has(gfn)).toBe(true);
  if (inflate) r.apply({ kind: 'vballoon.ack', args: { guest: 0, queue: 'inflate', discard: false } });
  else {
    // Give it back to the guest (the host lowers the target, the driver deflates).
    r.apply({ kind: 'vballoon.ack', args: { guest: 0, queue: 'inflate', discard: false } });
    r.apply({ kind: 'vballoon.host.target', args: { guest: 0, pages: 0 } });
    r.apply({ kind: 'vballoon.leak', args: { guest: 0 } });
    r.apply({ kind: 'vballoon.ack', args: { guest: 0, queue: 'deflate', discard: false } });
    r.apply({ kind: 'vballoon.release', args: { guest: 0 } });
    expect(g.owners.get(gfn)?.kind).not.toBe('balloon');
  }
  return { r, gfn };
}

test('a unit holding a balloon page is not collapsed by host khugepaged', () => {
  const { r, gfn } = ballooned(true);
  const g = r.world.guests[0]!;
  r.apply({ kind: 'thp.host.scan', args: { guest: 0, gfn } });
  r.apply({ kind: 'thp.host.collapse', args: { guest: 0 } });
  expect(g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))).toBe(false);
  expect(r.violation).toBeNull();
});

test('the same unit collapses once the page left the balloon', () => {
  const { r, gfn } = ballooned(false);
  const g = r.world.guests[0]!;
  r.apply({ kind: 'thp.host.scan', args: { guest: 0, gfn } });
  r.apply({ kind: 'thp.host.collapse', args: { guest: 0 } });
  expect(g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
