/**
 * The VMware balloon, both sides (Linux drivers/misc/vmw_balloon.c; the hypervisor's backdoor
 * commands). The host sets a target (GET_TARGET, in 4 KiB pages); the driver allocates pages
 * and asks the host to lock them (LOCK for one 4 KiB page, BATCHED_LOCK / BATCHED_2M_LOCK for a
 * batch page of up to 512 entries); the host answers per page and may refuse some; refused
 * pages are held aside (at most VMW_BALLOON_MAX_REFUSED = 16) so the allocator does not hand
 * them straight back, and released when the inflation round ends. Deflation unlocks pages and
 * frees them. 2 MiB pages are used only with batching ("vmw_balloon: do not use 2MB without
 * batching": the single LOCK command carries one 4 KiB PFN).
 *
 * A page's cycle (driver moves all edges; the host answers each LOCK/UNLOCK synchronously):
 *   guest -(vmballoon_alloc_page_list)-> batched -(LOCK ok)-> locked -(UNLOCK)-> guest
 *                                        batched -(LOCK refused)-> refused -(round ends)-> guest
 */
import { FRAMES_PER_2M } from '../constants';
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { driverAlloc } from '../devices/driver-alloc';
import { discardRange } from '../devices/discard';
import type { World } from '../world';

/** vmw_balloon.c enum vmwballoon_capabilities. */
export const VMW_BALLOON_BASIC_CMDS = 1 << 1;
export const VMW_BALLOON_BATCHED_CMDS = 1 << 2;
export const VMW_BALLOON_BATCHED_2M_CMDS = 1 << 3;
export const VMW_BALLOON_SIGNALLED_WAKEUP_CMDS = 1 << 4;
export const VMW_BALLOON_64_BIT_TARGET = 1 << 5;
/** VMW_BALLOON_CAPABILITIES: what the driver asks for. */
export const VMW_BALLOON_CAPABILITIES = VMW_BALLOON_BASIC_CMDS | VMW_BALLOON_BATCHED_CMDS | VMW_BALLOON_BATCHED_2M_CMDS | VMW_BALLOON_SIGNALLED_WAKEUP_CMDS | VMW_BALLOON_64_BIT_TARGET;
/** vmw_balloon.c enum vmballoon_cmd_type. */
export const VMW_BALLOON_CMD_LOCK = 2;
export const VMW_BALLOON_CMD_UNLOCK = 3;
export const VMW_BALLOON_CMD_BATCHED_LOCK = 6;
export const VMW_BALLOON_CMD_BATCHED_UNLOCK = 7;
export const VMW_BALLOON_CMD_BATCHED_2M_LOCK = 8;
export const VMW_BALLOON_CMD_BATCHED_2M_UNLOCK = 9;
/** VMW_BALLOON_ERROR_PPN_PINNED: the answer for a page the host will not lock. */
export const VMW_BALLOON_ERROR_PPN_PINNED = 5;
/** vmw_balloon.c VMW_BALLOON_MAX_REFUSED. */
export const VMW_BALLOON_MAX_REFUSED = 16;
/** VMW_BALLOON_BATCH_MAX_PAGES: PAGE_SIZE / sizeof(struct vmballoon_batch_entry) (8 bytes). */
export const VMW_BALLOON_BATCH_MAX_PAGES = 4096 / 8;
/** VMW_BALLOON_2M_ORDER = PMD_SHIFT - PAGE_SHIFT. */
export const VMW_BALLOON_2M_ORDER = 9;

export const CAPS_OPTION = 'vmware-balloon.caps';

export interface VmwPage {
  readonly head: number;
  readonly order: 0 | 9;
}

export interface VmwBalloon {
  readonly caps: number;
  /** vmballoon's max_page_size: 2 MiB only with BATCHED and BATCHED_2M. */
  readonly maxOrder: 0 | 9;
  readonly batched: boolean;
  /** Target in 4 KiB pages (GET_TARGET). */
  target: number;
  /** b->size: 4 KiB pages in the balloon, as the driver counts them. */
  size: number;
  /** Locked pages, in the order locked (deflation takes the newest). */
  readonly pages: VmwPage[];
  /** Allocated, waiting for the LOCK command. */
  batch: VmwPage[];
  /** Refused by the host, held aside until the round ends. */
  readonly refused: VmwPage[];
  /** Every gfn of a page in `pages`, `batch` or `refused` -> that page (the properties' index). */
  readonly where: Map<number, VmwPage>;
  /** Host side: 4 KiB gfns the hypervisor has locked for this guest. */
  readonly hostLocked: Set<number>;
  /** Why the last inflation stopped short, if it did. */
  stuck: string | null;
}

const balloons = new WeakMap<Guest, VmwBalloon>();

export function vmwOf(g: Guest): VmwBalloon | undefined {
  return balloons.get(g);
}

export function vmwMark(g: Guest): string {
  return `vmware-balloon:g${g.id}`;
}

/** vmballoon_send_start + the page-size rule of vmballoon_init / "do not use 2MB without batching". */
export function vmwProbe(world: World, g: Guest, offered: number): VmwBalloon | null {
  const caps = offered & VMW_BALLOON_CAPABILITIES;
  if ((caps & VMW_BALLOON_BASIC_CMDS) === 0) return null; // START fails without the basic commands
  const batched = (caps & VMW_BALLOON_BATCHED_CMDS) !== 0;
  // Hazard: 2 MiB pages need BATCHED_2M_LOCK, which exists only in the batched protocol; taking
  // them on the 2M capability alone sends a 2 MiB page through the single 4 KiB LOCK command.
  const twoM = (caps & VMW_BALLOON_BATCHED_2M_CMDS) !== 0 && (batched || world.fault('vmw-2m-without-batching'));
  const b: VmwBalloon = { caps, maxOrder: twoM ? 9 : 0, batched, target: 0, size: 0, pages: [], batch: [], refused: [], where: new Map(), hostLocked: new Set(), stuck: null };
  balloons.set(g, b);
  return b;
}

function own(world: World, g: Guest, b: VmwBalloon, p: VmwPage): void {
  for (let i = 0; i < 2 ** p.order; i++) {
    g.setOwner(p.head + i, { kind: 'balloon', device: 'vmware-balloon' });
    b.where.set(p.head + i, p);
  }
  world.journal.mark(vmwMark(g), p.head);
}

function freePage(world: World, g: Guest, b: VmwBalloon, p: VmwPage): void {
  for (let i = 0; i < 2 ** p.order; i++) {
    g.clearOwner(p.head + i);
    b.where.delete(p.head + i);
  }
  world.journal.mark(vmwMark(g), p.head);
  guestFree(world, g, p.head, p.order);
}

/** vmballoon_alloc_page_list: a batch (or one page without batching) towards the target. */
export function vmwAlloc(world: World, g: Guest, b: VmwBalloon, small: boolean): number {
  const missing = b.target - b.size;
  if (missing <= 0 || b.batch.length > 0) return 0;
  const order: 0 | 9 = b.maxOrder === 9 && !small && missing >= FRAMES_PER_2M ? 9 : 0;
  const want = b.batched ? Math.min(VMW_BALLOON_BATCH_MAX_PAGES, Math.ceil(missing / 2 ** order)) : 1;
  for (let i = 0; i < want; i++) {
    const head = driverAlloc(world, g, order, 'MOVABLE');
    if (head === null) break;
    const p: VmwPage = { head, order };
    own(world, g, b, p);
    b.batch.push(p);
  }
  b.stuck = b.batch.length === 0 ? `no free ${order === 9 ? '2 MiB' : '4 KiB'} page` : null;
  if (b.batch.length > 0) world.transition('vmware-balloon', 'guest', 'batched');
  return b.batch.length;
}

/**
 * The 4 KiB frames one LOCK/UNLOCK names for a page: a batch entry covers its page
 * (BATCHED_LOCK for a 4 KiB page, BATCHED_2M_LOCK for a 2 MiB one), while the single-page LOCK
 * and UNLOCK commands (VMW_BALLOON_CMD_LOCK/UNLOCK) carry one 4 KiB PFN whatever the page.
 */
function hostFrames(b: VmwBalloon, p: VmwPage): number {
  return b.batched ? 2 ** p.order : 1;
}

/** The hypervisor's side of one LOCK command for one page; returns the status. */
function hostLock(b: VmwBalloon, p: VmwPage, refuse: boolean): number {
  if (refuse) return VMW_BALLOON_ERROR_PPN_PINNED;
  for (let i = 0; i < hostFrames(b, p); i++) b.hostLocked.add(p.head + i);
  return 0;
}

/**
 * vmballoon_lock: send the batch, take each page's answer: locked pages join the balloon,
 * refused ones are held aside. The round ends (refused pages released) when the target is
 * reached or VMW_BALLOON_MAX_REFUSED pages were refused.
 */
export function vmwLock(world: World, g: Guest, b: VmwBalloon, refuseMask: number): number {
  const batch = b.batch;
  b.batch = [];
  let locked = 0;
  batch.forEach((p, i) => {
    const status = hostLock(b, p, ((refuseMask >>> (i % 32)) & 1) === 1);
    if (status === 0) {
      b.pages.push(p);
      b.size += 2 ** p.order;
      locked++;
      world.transition('vmware-balloon', 'batched', 'locked');
    } else {
      b.refused.push(p);
      world.transition('vmware-balloon', 'batched', 'refused');
    }
    world.journal.mark(vmwMark(g), p.head);
  });
  if (b.size >= b.target || b.refused.length >= VMW_BALLOON_MAX_REFUSED) releaseRefused(world, g, b);
  return locked;
}

/** vmballoon_release_refused_pages. */
export function releaseRefused(world: World, g: Guest, b: VmwBalloon): void {
  for (const p of b.refused.splice(0)) {
    freePage(world, g, b, p);
    world.transition('vmware-balloon', 'refused', 'guest');
  }
}

/** vmballoon_deflate: unlock up to a batch of the newest pages while above the target, and free them. */
export function vmwDeflate(world: World, g: Guest, b: VmwBalloon): number {
  let n = 0;
  const max = b.batched ? VMW_BALLOON_BATCH_MAX_PAGES : 1;
  // The balloon holds size pages' worth: above the target, there is a page to take.
  while (n < max && b.size > b.target) {
    const p = b.pages.pop()!;
    for (let k = 0; k < hostFrames(b, p); k++) b.hostLocked.delete(p.head + k);
    b.size -= 2 ** p.order;
    freePage(world, g, b, p);
    world.transition('vmware-balloon', 'locked', 'guest');
    n++;
  }
  return n;
}

/** The hypervisor reclaims the memory behind a page it locked. */
export function vmwHostDiscard(world: World, g: Guest, b: VmwBalloon, p: VmwPage): number {
  const frames = 2 ** p.order;
  const locked = [...b.hostLocked].filter((f) => f >= p.head && f < p.head + frames);
  if (locked.length === frames) return discardRange(world, g, p.head, frames, 'vmware-balloon');
  // Only what the host locked may go (a 2 MiB host page only whole: discardRange skips it).
  return locked.reduce((done, f) => done + discardRange(world, g, f, 1, 'vmware-balloon'), 0);
}

/** Settle: lock what is batched, then inflate or deflate to the target, bounded. */
export function vmwSettle(world: World, g: Guest, b: VmwBalloon): void {
  vmwLock(world, g, b, 0);
  const rounds = Math.ceil(g.config.frames / (b.batched ? VMW_BALLOON_BATCH_MAX_PAGES : 1)) + 4;
  for (let i = 0; i < rounds && b.size !== b.target; i++) {
    if (b.size < b.target) {
      if (vmwAlloc(world, g, b, false) === 0 && vmwAlloc(world, g, b, true) === 0) break;
      vmwLock(world, g, b, 0);
    } else if (vmwDeflate(world, g, b) === 0) break;
  }
  releaseRefused(world, g, b);
}
