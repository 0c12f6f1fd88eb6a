/**
 * Free page hinting, both sides (VIRTIO "Free Page Hinting"; Linux drivers/virtio/
 * virtio_balloon.c virtio_balloon_report_free_page, get_free_page_and_send,
 * return_free_pages_to_mm; QEMU hw/virtio/virtio-balloon.c free page hint, used during live
 * migration to skip free pages).
 *
 * A round (the host moves the command id, the driver the rest):
 *   host writes free_page_hint_cmd_id = N >= 2 -> driver sends an output buffer with N (once)
 *   -> driver allocates MAX_PAGE_ORDER blocks and sends each as an input buffer under N
 *   -> driver sends STOP when it cannot allocate, or the host writes STOP (0)
 *   -> host writes DONE (1): the device forgets every hint; the driver frees every hinted block.
 * A hinted block's cycle: free -(driver allocates + hints)-> hinted -(DONE, or the shrinker
 * before DONE)-> free. The device may change a hinted page only while its command id is
 * current, the page is unchanged since the hint, and DONE has not been written.
 *
 * The device's dirty log (migration's bitmap) is modelled by content identity: every guest
 * write stores a fresh content object, so a page whose content object is the one seen at hint
 * time was not written since (a zero written over zero is indistinguishable and harmless: the
 * device's change leaves zero too).
 */
import { MAX_PAGE_ORDER } from '../constants';
import type { Content } from '../content';
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { peekGuestPhysical } from '../mmu/peek';
import { driverAlloc } from '../devices/driver-alloc';
import { discardHostPage } from '../devices/discard';
import type { World } from '../world';
import { balloonOf, has, VIRTIO_BALLOON_F_FREE_PAGE_HINT } from '../balloon/virtio-balloon';
import { FRAMES_PER_2M } from '../constants';

/** include/uapi/linux/virtio_balloon.h. */
export const VIRTIO_BALLOON_CMD_ID_STOP = 0;
export const VIRTIO_BALLOON_CMD_ID_DONE = 1;
/** virtio_balloon.c VIRTIO_BALLOON_HINT_BLOCK_ORDER = MAX_PAGE_ORDER. */
export const VIRTIO_BALLOON_HINT_BLOCK_ORDER = MAX_PAGE_ORDER;
export const HINT_BLOCK_FRAMES = 2 ** VIRTIO_BALLOON_HINT_BLOCK_ORDER;

/**
 * A buffer on free_page_vq. A page buffer carries the content objects of its pages when the
 * driver hinted them: the device's dirty log runs from there (a page written after the hint,
 * even before the device gets to the buffer, must not be dropped).
 */
export type HintBuffer = { readonly kind: 'cmd'; readonly id: number } | { readonly kind: 'page'; readonly head: number; readonly id: number; readonly seen: readonly Content[] };

/** What the device does with one page, with the facts that decide whether it was allowed. */
export interface DeviceModification {
  readonly gfn: number;
  readonly cmdIdAt: number;
  /** The command id the page was hinted under. */
  readonly hintId: number;
  /** The page's content is the one the device saw when it took the hint. */
  readonly unchangedSinceHint: boolean;
  readonly step: number;
}

export interface FreePageHinting {
  /** Config free_page_hint_cmd_id (host). */
  cmdId: number;
  /** Next fresh command id the host hands out (never reused). */
  nextId: number;
  /** Driver: the id it started hinting under (cmd_id_active), and whether it sent STOP for it. */
  active: number;
  stopped: boolean;
  /** Ids the driver sent an output buffer for. */
  readonly sentIds: number[];
  /** Driver-held hinted blocks: head -> id hinted under. */
  readonly blocks: Map<number, number>;
  /** free_page_vq: buffers the device has not used yet. */
  readonly vq: HintBuffer[];
  /** Device: hinted block head -> {id, content objects seen at hint time}. */
  readonly deviceHints: Map<number, { readonly id: number; readonly seen: readonly Content[] }>;
  /** Every page the device changed, with the facts (property hinting-device-rules). */
  readonly modifications: DeviceModification[];
}

const states = new WeakMap<Guest, FreePageHinting>();

export function hintingOf(g: Guest): FreePageHinting | undefined {
  return states.get(g);
}

export function hintMark(g: Guest): string {
  return `free-page-hinting:g${g.id}`;
}

export function registerHinting(g: Guest): FreePageHinting | null {
  const vb = balloonOf(g);
  if (!vb || !has(vb.features, VIRTIO_BALLOON_F_FREE_PAGE_HINT)) return null;
  const h: FreePageHinting = { cmdId: VIRTIO_BALLOON_CMD_ID_STOP, nextId: 2, active: 0, stopped: true, sentIds: [], blocks: new Map(), vq: [], deviceHints: new Map(), modifications: [] };
  states.set(g, h);
  return h;
}

/** Host: a new round ("The device MUST NOT reuse a command ID": ids are fresh). */
export function hostStart(world: World, h: FreePageHinting): number {
  h.cmdId = h.nextId++;
  world.transition('free-page-hinting', 'stopped', 'requested');
  return h.cmdId;
}

export function hostStop(world: World, h: FreePageHinting): void {
  h.cmdId = VIRTIO_BALLOON_CMD_ID_STOP;
  world.transition('free-page-hinting', 'requested', 'stopped');
}

/** Host: DONE; the device drops every hint and must not change hinted pages any more. */
export function hostDone(world: World, h: FreePageHinting): void {
  h.cmdId = VIRTIO_BALLOON_CMD_ID_DONE;
  // Hazard: "The device MUST NOT modify the content of a previously hinted page after
  // free_page_hint_cmd_id is set to VIRTIO_BALLOON_CMD_ID_DONE": a device that keeps its
  // hints past DONE may still drop pages the guest is about to reuse.
  if (!world.fault('fph-device-modifies-after-done')) h.deviceHints.clear();
  world.transition('free-page-hinting', 'requested', 'done');
}

/** Driver: virtballoon_changed -> DONE releases everything, a new id starts a round. */
export function driverConfig(world: World, g: Guest, h: FreePageHinting): 'released' | 'started' | 'nothing' {
  if (h.cmdId === VIRTIO_BALLOON_CMD_ID_DONE) {
    if (h.blocks.size === 0) return 'nothing';
    releaseBlocks(world, g, h, h.blocks.size);
    return 'released';
  }
  if (h.cmdId >= 2 && h.cmdId !== h.active) {
    // send_cmd_id_start: one output buffer per command id.
    h.active = h.cmdId;
    h.stopped = false;
    h.sentIds.push(h.cmdId);
    h.vq.push({ kind: 'cmd', id: h.cmdId });
    world.journal.mark(hintMark(g), -1);
    world.transition('free-page-hinting', 'requested', 'hinting');
    return 'started';
  }
  return 'nothing';
}

function sendStop(world: World, g: Guest, h: FreePageHinting): void {
  h.stopped = true;
  h.vq.push({ kind: 'cmd', id: VIRTIO_BALLOON_CMD_ID_STOP });
  world.journal.mark(hintMark(g), -1);
  world.transition('free-page-hinting', 'hinting', 'stopped');
}

/** Driver: get_free_page_and_send, or STOP when the id changed or no block is left. */
export function driverHint(world: World, g: Guest, h: FreePageHinting): 'hinted' | 'stopped' | 'idle' {
  // stopped starts true: before its first command id the driver has no round to hint in.
  if (h.stopped) return 'idle';
  if (h.cmdId !== h.active) {
    sendStop(world, g, h);
    return 'stopped';
  }
  const head = driverAlloc(world, g, VIRTIO_BALLOON_HINT_BLOCK_ORDER, 'MOVABLE');
  if (head === null) {
    // "If the driver is unable to supply pages, it MUST complete hinting by adding an output
    // buffer containing the command ID VIRTIO_BALLOON_CMD_ID_STOP."
    sendStop(world, g, h);
    return 'stopped';
  }
  for (let i = 0; i < HINT_BLOCK_FRAMES; i++) g.setOwner(head + i, { kind: 'hinting', order: VIRTIO_BALLOON_HINT_BLOCK_ORDER });
  h.blocks.set(head, h.active);
  const seen: Content[] = [];
  for (let i = 0; i < HINT_BLOCK_FRAMES; i++) seen.push(peekGuestPhysical(world, g, head + i));
  h.vq.push({ kind: 'page', head, id: h.active, seen });
  world.journal.mark(hintMark(g), head);
  world.transition('free-page-hinting', 'free', 'hinted');
  return 'hinted';
}

/** Driver: return_free_pages_to_mm (DONE, or the shrinker before DONE). */
export function releaseBlocks(world: World, g: Guest, h: FreePageHinting, n: number): number {
  let done = 0;
  for (const [head] of [...h.blocks]) {
    if (done >= n) break;
    h.blocks.delete(head);
    for (let i = 0; i < HINT_BLOCK_FRAMES; i++) g.clearOwner(head + i);
    guestFree(world, g, head, VIRTIO_BALLOON_HINT_BLOCK_ORDER);
    world.journal.mark(hintMark(g), head);
    world.transition('free-page-hinting', 'hinted', 'free');
    done++;
  }
  return done;
}

/**
 * Device: use the oldest buffer of free_page_vq. Hints under a stale id are ignored.
 * QEMU also keeps a status (free_page_hint_status, START once it took the output buffer of the
 * current id); here the comparison with the current id decides alone, and needs no such state:
 * ids are fresh (hostStart) and the queue is in order, and the driver sends a page under an id
 * only after that id's output buffer, while the id was current. So a page whose id is still the
 * current one follows an output buffer the device took while that id was current, and a page
 * under any other id is stale. An output buffer (an id, or STOP) carries no page: nothing to keep.
 */
export function deviceProcess(_world: World, _g: Guest, h: FreePageHinting): boolean {
  const b = h.vq.shift();
  if (!b) return false;
  // "The device MUST ignore pages that are provided with a command ID that does not match the
  // current value in free_page_hint_cmd_id."
  if (b.kind === 'page' && b.id === h.cmdId) h.deviceHints.set(b.head, { id: b.id, seen: b.seen });
  return true;
}

/**
 * Device: skip a hinted block (migration does not copy it: the destination reads zero).
 * The device changes only pages still as they were at hint time; a 2 MiB host page only whole.
 */
export function deviceDiscard(world: World, g: Guest, h: FreePageHinting, head: number): number {
  const hint = h.deviceHints.get(head);
  if (!hint) return 0;
  let done = 0;
  for (let i = 0; i < HINT_BLOCK_FRAMES; ) {
    const gfn = head + i;
    const unit = Math.floor(gfn / FRAMES_PER_2M);
    const span = g.hugeBacked.has(unit) ? FRAMES_PER_2M : 1;
    if (hint.seen.slice(i, i + span).every((before, k) => peekGuestPhysical(world, g, gfn + k) === before)) {
      for (let k = 0; k < span; k++) h.modifications.push({ gfn: gfn + k, cmdIdAt: h.cmdId, hintId: hint.id, unchangedSinceHint: true, step: world.step });
      world.journal.mark(hintMark(g), gfn);
      done += discardHostPage(world, g, gfn, 'free-page-hinting');
    }
    i += span;
  }
  h.deviceHints.delete(head);
  return done;
}

/** Settle: the host ends the round (DONE), the device returns its queue unused, the driver frees. */
export function settleHinting(world: World, g: Guest, h: FreePageHinting): void {
  if (h.cmdId !== VIRTIO_BALLOON_CMD_ID_DONE) hostDone(world, h);
  // Once DONE is written the device hints nothing more: QEMU's get_free_page_hints hands every
  // buffer still on free_page_vq back unused (no qemu_guest_free_page_hint outside the START
  // status), so the queue empties without a hint taken.
  h.vq.length = 0;
  driverConfig(world, g, h);
}
