/**
 * A virtio-mem device (VIRTIO 1.2+ section 5.15 "Memory Device"; include/uapi/linux/virtio_mem.h;
 * QEMU hw/virtio/virtio-mem.c) and the guest driver that plugs and unplugs its blocks
 * (drivers/virtio/virtio_mem.c).
 *
 * The device manages the top `blocks` blocks of the guest-physical space (block_size 2 MiB:
 * QEMU's default, the THP size; one pageblock). Requests PLUG 0, UNPLUG 1, UNPLUG_ALL 2,
 * STATE 3; responses ACK 0, NACK 1, BUSY 2, ERROR 3; states PLUGGED 0, UNPLUGGED 1, MIXED 2.
 * usable_region_size is the whole region (assumption: QEMU grows it with requested_size; the
 * difference only limits which blocks may be plugged). The device offers
 * VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE (1): the driver may not read unplugged memory, and the
 * host backs none of it (a host fault there is refused).
 *
 * A block's cycle (device state, with the driver's part in brackets):
 *   unplugged -> plugged (PLUG acked; [the driver onlines it: its pages join the buddy])
 *   plugged -> offlining ([isolate the pageblock; EBUSY if an unmovable page is in it])
 *   offlining -> plugged ([EBUSY while migrating: unisolate, give up])
 *   offlining -> unplugged ([every movable page migrated out, the range taken from the buddy],
 *                           UNPLUG acked: the device discards the memory, the host frames go back)
 */
import { FRAMES_PER_2M } from '../constants';
import type { Content } from '../content';
import type { Guest } from '../guest/guest';
import type { World } from '../world';

/** include/uapi/linux/virtio_mem.h */
export const VIRTIO_MEM_REQ_PLUG = 0;
export const VIRTIO_MEM_REQ_UNPLUG = 1;
export const VIRTIO_MEM_REQ_UNPLUG_ALL = 2;
export const VIRTIO_MEM_REQ_STATE = 3;
export const VIRTIO_MEM_RESP_ACK = 0;
export const VIRTIO_MEM_RESP_NACK = 1;
export const VIRTIO_MEM_RESP_BUSY = 2;
export const VIRTIO_MEM_RESP_ERROR = 3;
export const VIRTIO_MEM_STATE_PLUGGED = 0;
export const VIRTIO_MEM_STATE_UNPLUGGED = 1;
export const VIRTIO_MEM_STATE_MIXED = 2;
export const VIRTIO_MEM_F_ACPI_PXM = 0;
export const VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE = 1;

/** block_size in 4 KiB frames (2 MiB). */
export const BLOCK_FRAMES = FRAMES_PER_2M;
/** Blocks a device may have (bounded; the swarm chooses 0..4). */
export const DEVICE_BLOCKS_MAX = 8;

export type BlockState = 'unplugged' | 'plugged' | 'offlining';

/** What the device saw when it acknowledged an UNPLUG (ghost, for the properties). */
export interface UnplugRecord {
  readonly id: number;
  readonly guest: number;
  readonly block: number;
  /** Guest owners in the block when the request arrived (kind per gfn, only those not 'virtio-mem'). */
  readonly inUse: readonly string[];
  /** Host frames that backed the block before the discard. */
  readonly frames: readonly number[];
  /** Contents the discard threw away, for the report. */
  readonly lost: readonly Content[];
}

/** A request and its response, as the device answered it. */
export interface Exchange {
  readonly id: number;
  readonly guest: number;
  readonly request: number;
  readonly block: number;
  readonly response: number;
  /** Device fields right after the response. */
  readonly plugged: number;
  readonly requested: number;
}

export interface Device {
  readonly guest: number;
  /** First gfn of the region (addr), blocks in it (region_size / block_size). */
  readonly base: number;
  readonly blocks: number;
  /** requested_size and plugged_size, in blocks. */
  requested: number;
  plugged: number;
  readonly state: BlockState[];
  /** The driver saw a configuration change it has not acted on (virtio_mem_config_changed). */
  configChanged: boolean;
}

export interface VirtioMemState {
  readonly devices: Map<number, Device>;
  nextId: number;
  readonly exchanges: Map<number, Exchange>;
  readonly unplugs: Map<number, UnplugRecord>;
}

const KEPT_MAX = 128;
const states = new WeakMap<World, VirtioMemState>();

export function virtioMemState(w: World): VirtioMemState {
  let s = states.get(w);
  if (!s) {
    s = { devices: new Map(), nextId: 1, exchanges: new Map(), unplugs: new Map() };
    states.set(w, s);
  }
  return s;
}

export function deviceOf(w: World, g: Guest): Device | undefined {
  return virtioMemState(w).devices.get(g.id);
}

export function blockBase(d: Device, block: number): number {
  return d.base + block * BLOCK_FRAMES;
}

/** The device block holding gfn, or -1. */
export function blockOf(d: Device, gfn: number): number {
  if (gfn < d.base || gfn >= d.base + d.blocks * BLOCK_FRAMES) return -1;
  return Math.floor((gfn - d.base) / BLOCK_FRAMES);
}

/** gfn lies in a block the device has unplugged. */
export function inUnpluggedBlock(w: World, g: Guest, gfn: number): boolean {
  const d = deviceOf(w, g);
  if (!d) return false;
  // Outside the region blockOf is -1, which has no state.
  return d.state[blockOf(d, gfn)] === 'unplugged';
}

export function recordExchange(w: World, d: Device, request: number, block: number, response: number): Exchange {
  const s = virtioMemState(w);
  const e: Exchange = { id: s.nextId++, guest: d.guest, request, block, response, plugged: d.plugged, requested: d.requested };
  s.exchanges.set(e.id, e);
  while (s.exchanges.size > KEPT_MAX) s.exchanges.delete(s.exchanges.keys().next().value as number);
  w.journal.mark('virtio-mem:exchange', e.id);
  return e;
}

export function recordUnplug(w: World, r: Omit<UnplugRecord, 'id'>): UnplugRecord {
  const s = virtioMemState(w);
  const full: UnplugRecord = { ...r, id: s.nextId++ };
  s.unplugs.set(full.id, full);
  while (s.unplugs.size > KEPT_MAX) s.unplugs.delete(s.unplugs.keys().next().value as number);
  w.journal.mark('virtio-mem:unplug', full.id);
  return full;
}
