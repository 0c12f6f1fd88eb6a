/**
 * Generators for virtio-mem (model/virtio-mem/ops.ts): requests against the blocks as they
 * are (unplugged ones to plug, online ones to offline, offlining ones to finish), with the
 * wrong ones now and then (a PLUG of a plugged block must get ERROR), and resizes.
 */
import { deviceOf, virtioMemState } from '../../model/virtio-mem/device';
import type { World } from '../../model/world';
import type { Operation } from '../contract';
import { pick, type Choice, type Gen } from './pick';

function withDevice(w: World, c: Choice) {
  const ids = [...virtioMemState(w).devices.keys()];
  const gid = pick(ids, c[1]);
  if (gid === undefined) return null;
  const g = w.guests[gid]!;
  return { g, d: deviceOf(w, g)! };
}

/** Finishing the offlining of some block, if a driver has one in progress. */
function offlining(w: World): Operation | null {
  for (const d of virtioMemState(w).devices.values()) {
    const b = d.state.indexOf('offlining');
    if (b >= 0) return { kind: 'virtio-mem.unplug.finish', args: { guest: d.guest, block: b } };
  }
  return null;
}

function blockIn(d: { state: string[]; blocks: number }, want: string, c: number): number {
  const xs = d.state.map((s, b) => (s === want ? b : -1)).filter((b) => b >= 0);
  return pick(xs, c) ?? c % d.blocks;
}

export const virtioMemGenerators: Record<string, Gen> = {
  'virtio-mem.resize': (w, c): Operation | null => {
    const x = withDevice(w, c);
    return x ? { kind: 'virtio-mem.resize', args: { guest: x.g.id, blocks: c[2] % (x.d.blocks + 1) } } : null;
  },
  'virtio-mem.plug': (w, c): Operation | null => {
    const x = withDevice(w, c);
    if (!x) return null;
    // Nothing to plug for: the host asks for more first (a plug beyond it must be NACKed, sometimes tried anyway).
    if (x.d.plugged >= x.d.requested && x.d.requested < x.d.blocks && c[3] % 4 !== 3) return { kind: 'virtio-mem.resize', args: { guest: x.g.id, blocks: x.d.requested + 1 + (c[2] % (x.d.blocks - x.d.requested)) } };
    return { kind: 'virtio-mem.plug', args: { guest: x.g.id, block: c[3] % 5 === 4 ? c[2] % x.d.blocks : blockIn(x.d, 'unplugged', c[2]) } };
  },
  'virtio-mem.unplug.begin': (w, c): Operation | null => {
    // The driver goes on with a block it is offlining (in any guest) half of the time.
    const off = offlining(w);
    if (off && c[3] % 2 === 0) return off;
    const x = withDevice(w, c);
    if (!x) return null;
    if (!x.d.state.includes('plugged')) return virtioMemGenerators['virtio-mem.plug']!(w, c);
    return { kind: 'virtio-mem.unplug.begin', args: { guest: x.g.id, block: blockIn(x.d, 'plugged', c[2]) } };
  },
  'virtio-mem.unplug.finish': (w, c): Operation | null => offlining(w) ?? virtioMemGenerators['virtio-mem.unplug.begin']!(w, c),
  'virtio-mem.unplug-all': (w, c): Operation | null => {
    const x = withDevice(w, c);
    return x ? { kind: 'virtio-mem.unplug-all', args: { guest: x.g.id } } : null;
  },
  'virtio-mem.state': (w, c): Operation | null => {
    const x = withDevice(w, c);
    if (!x) return null;
    const block = c[2] % x.d.blocks;
    return { kind: 'virtio-mem.state', args: { guest: x.g.id, block, count: 1 + (c[3] % (x.d.blocks - block)) } };
  },
};
