/**
 * Operations of virtio-mem: the host's resize (requested_size), and the driver's requests:
 * PLUG (and online), the two halves of offlining and UNPLUG, UNPLUG_ALL, STATE.
 */
import type { Guest } from '../guest/guest';
import { int, type Args, type OperationDef } from '../ops/operation';
import { type OpResult } from '../result';
import type { World } from '../world';
import { DEVICE_BLOCKS_MAX } from './device';
import { plug, resize, stateRequest, unplugAll, unplugBegin, unplugFinish } from './driver';
import { GUEST, guestOf } from '../ops/lookup';

const BLOCK = int(0, DEVICE_BLOCKS_MAX - 1);

function withGuest(f: (w: World, g: Guest, a: Args) => OpResult): (w: World, a: Args) => OpResult {
  return (w, a) => {
    const g = guestOf(w, a);
    return 'ok' in g ? g : f(w, g, a);
  };
}

export const virtioMemOperations: readonly OperationDef[] = [
  { name: 'virtio-mem.resize', mechanism: 'virtio-mem', args: { guest: GUEST, blocks: int(0, DEVICE_BLOCKS_MAX) }, apply: withGuest((w, g, a) => resize(w, g, a.blocks as number)) },
  { name: 'virtio-mem.plug', mechanism: 'virtio-mem', args: { guest: GUEST, block: BLOCK }, apply: withGuest((w, g, a) => plug(w, g, a.block as number)) },
  { name: 'virtio-mem.unplug.begin', mechanism: 'virtio-mem', args: { guest: GUEST, block: BLOCK }, apply: withGuest((w, g, a) => unplugBegin(w, g, a.block as number)) },
  { name: 'virtio-mem.unplug.finish', mechanism: 'virtio-mem', args: { guest: GUEST, block: BLOCK }, apply: withGuest((w, g, a) => unplugFinish(w, g, a.block as number)) },
  { name: 'virtio-mem.unplug-all', mechanism: 'virtio-mem', args: { guest: GUEST }, apply: withGuest((w, g) => unplugAll(w, g)) },
  { name: 'virtio-mem.state', mechanism: 'virtio-mem', args: { guest: GUEST, block: BLOCK, count: int(1, DEVICE_BLOCKS_MAX) }, apply: withGuest((w, g, a) => stateRequest(w, g, a.block as number, a.count as number)) },
];
