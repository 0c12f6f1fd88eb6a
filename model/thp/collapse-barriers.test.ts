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
import { deviceOf } from '../virtio-mem/device';

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

/** A runner recording each step's outcome with its detail. */
function recording(options: ModelConfig['options']): { r: Runner; out: string[] } {
  const out: string[] = [];
  const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
  const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults: [], options }, { check: 'incremental', onStep: (_s, _op, res) => out.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  return { r, out };
}

test('a unit holding a reported free block is not collapsed by host khugepaged (PG_reported memory stays given back)', () => {
  const { r, out } = recording({ 'free-page-reporting.order': 5 });
  const g = r.world.guests[0]!;
  for (let i = 0; i < 50 && !out.includes('invalid: g0: no reporting work queued'); i++) {
    r.apply({ kind: 'fpr.work', args: { guest: 0 } });
    r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
  }
  const reported = [...g.buddy.freeBlocksAll()].find((b) => g.buddy.isReported(b.pfn) && g.owners.get(b.pfn) === undefined);
  expect(reported).toBeDefined();
  const gfn = reported!.pfn;
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  out.length = 0;
  r.apply({ kind: 'thp.host.scan', args: { guest: 0, gfn } });
  r.apply({ kind: 'thp.host.collapse', args: { guest: 0 } });
  expect(out.join('\n')).toContain('a reported free block');
  expect(g.hugeBacked.has(unit)).toBe(false);
  expect(g.buddy.isReported(gfn)).toBe(true);
  expect(r.violation).toBeNull();
});

test('a unit of a virtio-mem block being offlined is not collapsed by host khugepaged', () => {
  const { r, out } = recording({ 'virtio-mem.blocks': 4 });
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'compaction.fragment', args: { guest: 0, pid: 1, vpn: 2 ** 24, pages: 1024 } });
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  expect(d.state[0]).toBe('offlining');
  const gfn = [...g.backing.keys()].find((x) => x >= d.base && x < d.base + 512)!;
  expect(gfn).toBeDefined();
  out.length = 0;
  r.apply({ kind: 'thp.host.scan', args: { guest: 0, gfn } });
  r.apply({ kind: 'thp.host.collapse', args: { guest: 0 } });
  expect(out.join('\n')).toContain('virtio-mem block 0 is offlining');
  expect(g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))).toBe(false);
  expect(r.violation).toBeNull();
});
