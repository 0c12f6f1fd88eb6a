/**
 * virtio-balloon, both sides (VIRTIO 1.2+ "Traditional Memory Balloon Device"; Linux
 * drivers/virtio/virtio_balloon.c, include/uapi/linux/virtio_balloon.h; QEMU
 * hw/virtio/virtio-balloon.c). The driver and the device are separate operations, so a step of
 * one side interleaves with steps of the other and with everything else the guest does.
 *
 * A page's cycle (driver moves every edge but the acks, which the device moves):
 *   guest -(fill_balloon)-> inflating -(device acks inflateq)-> ballooned
 *         -(leak_balloon)-> deflating -(device acks deflateq, then release_pages_balloon)-> guest
 * Without MUST_TELL_HOST the driver may release a deflating page before the ack (the spec's
 * "deflation advice is merely a courtesy"); Linux never does, the model lets the driver choose.
 *
 * Config: num_pages (target, written by the host at any step), actual (written by the driver,
 * update_balloon_size). vb->num_pages (`count`) counts the pages on the balloon list plus those
 * isolated for migration (mm/balloon_compaction.c); pages leave it when leak_balloon dequeues
 * them.
 */
import { FRAMES_PER_2M, PAGE_SHIFT } from '../constants';
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { driverAlloc } from '../devices/driver-alloc';
import { discardHostPage } from '../devices/discard';
import { guestInitialisesFreePages, PAGE_POISON_VAL32, poisonMode } from '../devices/page-poison';
import type { World } from '../world';

/** include/uapi/linux/virtio_balloon.h feature bits. */
export const VIRTIO_BALLOON_F_MUST_TELL_HOST = 0;
export const VIRTIO_BALLOON_F_STATS_VQ = 1;
export const VIRTIO_BALLOON_F_DEFLATE_ON_OOM = 2;
export const VIRTIO_BALLOON_F_FREE_PAGE_HINT = 3;
export const VIRTIO_BALLOON_F_PAGE_POISON = 4;
export const VIRTIO_BALLOON_F_REPORTING = 5;
export const VIRTIO_BALLOON_FEATURES_ALL = 0x3f;
/** virtio_balloon.c: VIRTIO_BALLOON_ARRAY_PFNS_MAX, PFNs per inflate/deflate request. */
export const VIRTIO_BALLOON_ARRAY_PFNS_MAX = 256;
/** include/uapi/linux/virtio_balloon.h: PFNs are in 4 KiB units whatever the page size. */
export const VIRTIO_BALLOON_PFN_SHIFT = 12;
/** virtio_balloon.c: OOM_VBALLOON_DEFAULT_PAGES (module parameter oom_pages). */
export const VIRTIO_BALLOON_OOM_NR_PAGES = 256;
/** virtio_balloon.c: VIRTIO_BALLOON_OOM_NOTIFY_PRIORITY. */
export const VIRTIO_BALLOON_OOM_NOTIFY_PRIORITY = 80;

// BUILD_BUG_ON(PAGE_SHIFT < VIRTIO_BALLOON_PFN_SHIFT) in virtio_balloon.c.
if (PAGE_SHIFT < VIRTIO_BALLOON_PFN_SHIFT) throw new Error('virtio-balloon: PAGE_SHIFT < VIRTIO_BALLOON_PFN_SHIFT');

export const FEATURES_OPTION = 'virtio-balloon.features';
export const PRESENT_OPTION = 'virtio-balloon.present';

export function has(features: number, bit: number): boolean {
  return (features & (1 << bit)) !== 0;
}

/** Page states (see the cycle above). */
export type BalloonPageState = 'inflating' | 'ballooned' | 'deflating';

export interface VqRequest {
  readonly id: number;
  readonly queue: 'inflate' | 'deflate';
  readonly pfns: readonly number[];
  acked: boolean;
  /** Deflate only: the pages went back to the guest allocator. */
  released: boolean;
  /** Context at queue time, for balloon-deflate-rules. */
  readonly step: number;
  readonly numPagesAt: number;
  readonly countAfter: number;
  /** Deflate only: PFNs whose inflate the device had not acknowledged yet. */
  readonly unackedInflate: readonly number[];
  readonly viaOom: boolean;
  /** Set by balloon-compaction for a migration's deflate request (the migration frees the old page itself); its inflate is an ordinary one. */
  readonly migration: boolean;
}

/** VIRTIO_BALLOON_S_* figures of one stats buffer (bytes, or counts for the faults). */
export interface BalloonStats {
  readonly swapIn: number;
  readonly swapOut: number;
  readonly majflt: number;
  readonly minflt: number;
  readonly memfree: number;
  readonly memtot: number;
  readonly avail: number;
  readonly caches: number;
}

export interface StatsVq {
  /** The one buffer the driver keeps available (spec: at most one at all times). */
  buffer: BalloonStats;
  /** The device used it and the driver has not refilled it yet. */
  used: boolean;
  filledAt: number;
  /** What the device consumed last. */
  seen: BalloonStats | null;
}

export interface VirtioBalloon {
  readonly features: number;
  readonly poisonVal: number;
  /** Config num_pages: the host's target. */
  numPages: number;
  /** Config actual: written by the driver. */
  actual: number;
  /** vb->num_pages: pages on the list plus pages isolated for migration. */
  count: number;
  readonly pages: Map<number, BalloonPageState>;
  /** vb_dev_info->pages; enqueue at the end, balloon_page_dequeue takes from the end. */
  readonly list: number[];
  /** Isolated for migration (vb_dev_info->isolated_pages). */
  readonly isolated: Set<number>;
  readonly requests: VqRequest[];
  /** Every request ever queued, by id - 1 (the properties look up this step's). */
  readonly history: VqRequest[];
  /** Deflating page -> its request. */
  readonly deflatingIn: Map<number, VqRequest>;
  nextRequest: number;
  /** Why the balloon could not reach its target ("Out of puff!"), if it could not. */
  outOfPuff: { readonly step: number; readonly missing: number } | null;
  /** QEMU PartiallyBalloonedPage: 2 MiB host unit -> its sub-pages in the balloon. */
  readonly partial: Map<number, Set<number>>;
  /** adjust_managed_page_count total (pages taken from totalram_pages). */
  managedDelta: number;
  readonly stats: StatsVq | null;
}

const balloons = new WeakMap<Guest, VirtioBalloon>();

export function balloonOf(g: Guest): VirtioBalloon | undefined {
  return balloons.get(g);
}

/** Journal mark key per guest: ids are gfns whose balloon state changed. */
export function pageMark(g: Guest): string {
  return `virtio-balloon:g${g.id}`;
}
/** Journal mark key: ids are request ids queued this step (guest in the key). */
export function requestMark(g: Guest): string {
  return `virtio-balloon-req:g${g.id}`;
}
export const STATS_MARK = 'virtio-balloon-stats';

/**
 * Feature negotiation: the driver accepts every feature it knows, then virtballoon_validate
 * drops PAGE_POISON when the guest does not initialise free pages, and drops REPORTING when it
 * does but PAGE_POISON was not offered (fb69c2c896fc: the spec's "If the driver is expecting
 * the pages to retain some initialized value, it MUST NOT accept PAGE_REPORTING unless it also
 * negotiates PAGE_POISON").
 */
export function negotiate(world: World, offered: number, g: Guest): number {
  let f = offered & VIRTIO_BALLOON_FEATURES_ALL;
  if (!guestInitialisesFreePages(g)) f &= ~(1 << VIRTIO_BALLOON_F_PAGE_POISON);
  // Hazard: without this the host may discard reported pages whose poison the guest checks
  // on allocation (fb69c2c896fc, "virtio-balloon: Disable free page reporting if page poison
  // reporting is not enabled").
  else if (!has(f, VIRTIO_BALLOON_F_PAGE_POISON) && !world.fault('fpr-ignores-guest-poison')) f &= ~(1 << VIRTIO_BALLOON_F_REPORTING);
  return f;
}

/** update_balloon_stats: the figures as the driver collects them (si_meminfo, vm events). */
export function collectStats(g: Guest, vb: VirtioBalloon): BalloonStats {
  const free = g.buddy.freePages();
  const high = g.buddy.watermarks().high;
  return {
    swapIn: 0,
    swapOut: 0,
    majflt: 0,
    minflt: g.pgfault,
    memfree: free << PAGE_SHIFT,
    memtot: (g.config.frames - vb.managedDelta) << PAGE_SHIFT,
    avail: Math.max(0, free - high) << PAGE_SHIFT,
    caches: 0,
  };
}

/** virtballoon_probe for one guest: negotiate, poison_val, prime the stats queue. */
export function probe(world: World, g: Guest): VirtioBalloon {
  const features = negotiate(world, world.option<number>(FEATURES_OPTION, VIRTIO_BALLOON_FEATURES_ALL), g);
  const vb: VirtioBalloon = {
    features,
    // virtballoon_probe: poison_val 0 stands for init_on_free, else memset(PAGE_POISON).
    poisonVal: has(features, VIRTIO_BALLOON_F_PAGE_POISON) && poisonMode(g) === 'poison' ? PAGE_POISON_VAL32 : 0,
    numPages: 0,
    actual: 0,
    count: 0,
    pages: new Map(),
    list: [],
    isolated: new Set(),
    requests: [],
    history: [],
    deflatingIn: new Map(),
    nextRequest: 1,
    outOfPuff: null,
    partial: new Map(),
    managedDelta: 0,
    stats: null,
  };
  if (has(features, VIRTIO_BALLOON_F_STATS_VQ)) {
    // init_vqs: "Prime this virtqueue with one buffer so the hypervisor can use it to signal us later."
    (vb as { stats: StatsVq | null }).stats = { buffer: collectStats(g, vb), used: false, filledAt: world.step, seen: null };
  }
  balloons.set(g, vb);
  return vb;
}

function setState(world: World, g: Guest, vb: VirtioBalloon, gfn: number, s: BalloonPageState | undefined, from: string): void {
  if (s === undefined) vb.pages.delete(gfn);
  else vb.pages.set(gfn, s);
  world.journal.mark(pageMark(g), gfn);
  world.journal.gfn(g.id, gfn);
  world.transition('virtio-balloon', from, s ?? 'guest');
}

/**
 * The driver waits in tell_host under balloon_lock: nothing new while a request is unfinished.
 * `requests` holds only unfinished ones (retire drops an acknowledged inflate, and an
 * acknowledged deflate once released or when it is a migration's).
 */
export function driverBusy(vb: VirtioBalloon): boolean {
  return vb.requests.length > 0;
}

/**
 * Whether leak_balloon must wait: it takes balloon_lock, which fill_balloon holds until its
 * inflate is acknowledged. Hazard: a driver that deflates without waiting can name pages the
 * device has not acknowledged yet (spec: "The driver MUST NOT request deflation of pages in the
 * balloon before the device has acknowledged the inflate request").
 */
export function leakMustWait(world: World, vb: VirtioBalloon): boolean {
  if (!driverBusy(vb)) return false;
  if (!world.fault('vballoon-deflate-before-inflate-ack')) return true;
  // Only the inflate wait is dropped: an unfinished deflate still holds balloon_lock.
  return vb.requests.some((r) => r.queue === 'deflate');
}

/** towards_target: how many pages the balloon still has to take (negative: give back). */
export function towardsTarget(vb: VirtioBalloon): number {
  return vb.numPages - vb.count;
}

/** Queue a request: it waits in `requests` for the device and stays in `history` at index id - 1 (the properties look it up by id). */
export function queueRequest(world: World, g: Guest, vb: VirtioBalloon, q: 'inflate' | 'deflate', pfns: number[], extra: { unackedInflate?: number[]; viaOom?: boolean; migration?: boolean }): VqRequest {
  const r: VqRequest = {
    id: vb.nextRequest++, queue: q, pfns, acked: false, released: false, step: world.step,
    numPagesAt: vb.numPages, countAfter: vb.count, unackedInflate: extra.unackedInflate ?? [], viaOom: extra.viaOom ?? false, migration: extra.migration ?? false,
  };
  vb.requests.push(r);
  vb.history.push(r);
  world.journal.mark(requestMark(g), r.id);
  world.journal.note(() => `g${g.id}: virtio-balloon ${q} request #${r.id} (${pfns.length} PFNs)`);
  return r;
}

/** Add one allocated page to the balloon list as inflating (balloon_page_enqueue). */
export function enqueuePage(world: World, g: Guest, vb: VirtioBalloon, gfn: number): void {
  g.setOwner(gfn, { kind: 'balloon', device: 'virtio-balloon' });
  vb.list.push(gfn);
  setState(world, g, vb, gfn, 'inflating', 'guest');
}

/**
 * fill_balloon: allocate up to min(target - count, 256) pages, put them on the list and queue
 * one inflate request. Stops at the first failed allocation ("Out of puff! Can't get %u pages").
 */
export function fill(world: World, g: Guest, vb: VirtioBalloon): number {
  const want = Math.min(towardsTarget(vb), VIRTIO_BALLOON_ARRAY_PFNS_MAX);
  const pfns: number[] = [];
  for (let i = 0; i < want; i++) {
    const gfn = driverAlloc(world, g, 0, 'MOVABLE');
    if (gfn === null) break;
    enqueuePage(world, g, vb, gfn);
    vb.count++;
    // adjust_managed_page_count(page, -1) unless DEFLATE_ON_OOM.
    if (!has(vb.features, VIRTIO_BALLOON_F_DEFLATE_ON_OOM)) vb.managedDelta++;
    pfns.push(gfn);
  }
  vb.outOfPuff = pfns.length < want ? { step: world.step, missing: want - pfns.length } : null;
  if (pfns.length > 0) queueRequest(world, g, vb, 'inflate', pfns, {});
  return pfns.length;
}

/**
 * leak_balloon: dequeue up to min(n, 256) pages the device acknowledged (no more than the list
 * holds, which is at most count), and queue one deflate request. The pages go back to the guest only in `release` (after the ack when
 * MUST_TELL_HOST: "we *have* to do it in this order").
 */
export function leak(world: World, g: Guest, vb: VirtioBalloon, n: number, viaOom: boolean): VqRequest | null {
  const want = Math.min(n, VIRTIO_BALLOON_ARRAY_PFNS_MAX);
  const pfns: number[] = [];
  const unacked: number[] = [];
  for (let i = vb.list.length - 1; i >= 0 && pfns.length < want; i--) {
    const gfn = vb.list[i]!;
    const s = vb.pages.get(gfn);
    // Hazard: a page whose inflate the device has not acknowledged must not be deflated (spec:
    // "The driver MUST NOT request deflation of pages in the balloon before the device has
    // acknowledged the inflate request"); Linux ensures it by holding balloon_lock across
    // tell_host.
    if (s !== 'ballooned' && !(s === 'inflating' && world.fault('vballoon-deflate-before-inflate-ack'))) continue;
    if (s === 'inflating') unacked.push(gfn);
    vb.list.splice(i, 1);
    pfns.push(gfn);
  }
  if (pfns.length === 0) return null;
  vb.count -= pfns.length;
  for (const gfn of pfns) setState(world, g, vb, gfn, 'deflating', vb.pages.get(gfn)!);
  const r = queueRequest(world, g, vb, 'deflate', pfns, { unackedInflate: unacked, viaOom });
  for (const gfn of pfns) vb.deflatingIn.set(gfn, r);
  return r;
}

/**
 * May the device change this page's contents now, on its own (spec, device normative, Device
 * Operation)? An inflating page only while its inflate request is processed (deviceAck), so
 * never here; with MUST_TELL_HOST a ballooned page, and a deflating one until its deflate is
 * acknowledged (deflatingIn holds exactly the deflating pages).
 */
export function deviceMayModify(vb: VirtioBalloon, gfn: number): boolean {
  if (!has(vb.features, VIRTIO_BALLOON_F_MUST_TELL_HOST)) return false;
  if (vb.pages.get(gfn) === 'ballooned') return true;
  return vb.deflatingIn.get(gfn)?.acked === false;
}

/**
 * The device discards a page it may modify (QEMU balloon_inflate_page): a 4 KiB-backed page at
 * once; a sub-page of a 2 MiB host page only once all 512 sub-pages are in the balloon
 * (PartiallyBalloonedPage, QEMU 483f13524bb2).
 */
export function deviceDiscard(world: World, g: Guest, vb: VirtioBalloon, gfn: number, processing?: ReadonlySet<number>): number {
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  if (!g.hugeBacked.has(unit)) return discardHostPage(world, g, gfn, 'virtio-balloon');
  // Hazard: discarding the whole host huge page for one inflated 4 KiB sub-page throws away
  // the other 511 sub-pages, which the guest still uses (QEMU before 483f13524bb2).
  if (world.fault('vballoon-discard-whole-host-page')) return discardHostPage(world, g, gfn, 'virtio-balloon');
  let set = vb.partial.get(unit);
  if (!set) vb.partial.set(unit, (set = new Set()));
  set.add(gfn);
  if (set.size < FRAMES_PER_2M) return 0;
  // The whole host page goes only if the device may still modify every sub-page now: each is
  // in the request being processed, or in the balloon with MUST_TELL_HOST and not deflated. (A
  // page of the processed request deflated before this ack, under the injected
  // vballoon-deflate-before-inflate-ack, is skipped and never joins `partial`: its unit stays
  // short of 512 here.)
  const base = unit * FRAMES_PER_2M;
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    const x = base + i;
    if (!(processing?.has(x) || deviceMayModify(vb, x))) return 0;
  }
  vb.partial.delete(unit);
  return discardHostPage(world, g, base, 'virtio-balloon');
}

/** The device uses the oldest descriptor of a queue: the acknowledgement. */
export function deviceAck(world: World, g: Guest, vb: VirtioBalloon, q: 'inflate' | 'deflate', discard: boolean): VqRequest | null {
  const r = vb.requests.find((x) => x.queue === q && !x.acked);
  if (!r) return null;
  if (q === 'inflate') {
    const processing = new Set(r.pfns);
    for (const gfn of r.pfns) {
      if (vb.pages.get(gfn) !== 'inflating') continue;
      // "The device MAY modify the contents of a page in the balloon after detecting its
      // physical number in an inflate request and before acknowledging the inflate request."
      if (discard) deviceDiscard(world, g, vb, gfn, processing);
      setState(world, g, vb, gfn, 'ballooned', 'inflating');
    }
  } else {
    // QEMU balloon_deflate_page: the page leaves the partial tracking.
    for (const gfn of r.pfns) vb.partial.get(Math.floor(gfn / FRAMES_PER_2M))?.delete(gfn);
    world.transition('virtio-balloon', 'deflating', 'deflate-acked');
  }
  r.acked = true;
  world.journal.mark(requestMark(g), r.id);
  retire(vb);
  return r;
}

function retire(vb: VirtioBalloon): void {
  for (let i = vb.requests.length - 1; i >= 0; i--) {
    const r = vb.requests[i]!;
    if (r.acked && (r.queue === 'inflate' || r.released || r.migration)) vb.requests.splice(i, 1);
  }
}

/**
 * release_pages_balloon for one deflate request not yet released: the pages go back to the
 * guest allocator. Each is still deflating in r (only this release or a migration's finish ends
 * that, and a migration's request is never released here).
 */
export function release(world: World, g: Guest, vb: VirtioBalloon, r: VqRequest): number {
  for (const gfn of r.pfns) {
    vb.deflatingIn.delete(gfn);
    setState(world, g, vb, gfn, undefined, 'deflating');
    g.clearOwner(gfn);
    if (!has(vb.features, VIRTIO_BALLOON_F_DEFLATE_ON_OOM)) vb.managedDelta--;
    guestFree(world, g, gfn, 0);
  }
  r.released = true;
  world.journal.mark(requestMark(g), r.id);
  retire(vb);
  return r.pfns.length;
}

/** The deflate request the driver may release now, if any. */
export function releasable(world: World, vb: VirtioBalloon): VqRequest | undefined {
  const mustTell = has(vb.features, VIRTIO_BALLOON_F_MUST_TELL_HOST);
  // Hazard: with MUST_TELL_HOST the pages may be reused only after the device acknowledged the
  // deflate request (leak_balloon: tell_host, then release_pages_balloon).
  const early = !mustTell || world.fault('vballoon-release-before-ack');
  return vb.requests.find((r) => r.queue === 'deflate' && !r.released && !r.migration && (r.acked || early));
}

/** update_balloon_size: actual = vb->num_pages. */
export function updateActual(world: World, g: Guest, vb: VirtioBalloon): void {
  vb.actual = vb.count;
  world.journal.mark(requestMark(g), 0);
}

/**
 * virtio_balloon_oom_notify (registered only with DEFLATE_ON_OOM, priority 80): leak up to
 * 256 pages, wait for the device (its ack is taken inline: the notifier blocks in tell_host),
 * release them and update actual. Returns the pages freed. When the balloon work holds
 * balloon_lock (a request in flight) the model's notifier frees nothing rather than block.
 */
export function oomNotify(world: World, g: Guest): number {
  const vb = balloons.get(g);
  if (!vb || driverBusy(vb)) return 0;
  const r = leak(world, g, vb, VIRTIO_BALLOON_OOM_NR_PAGES, true);
  if (!r) return 0;
  deviceAck(world, g, vb, 'deflate', false);
  const freed = release(world, g, vb, r);
  updateActual(world, g, vb);
  world.journal.note(() => `g${g.id}: virtio-balloon OOM notifier freed ${freed} pages`);
  return freed;
}

/** Register the OOM notifier as virtballoon_probe does. */
export function registerOom(world: World, g: Guest, vb: VirtioBalloon): void {
  // Hazard: the notifier deflates regardless of num_pages; the spec allows that only with
  // DEFLATE_ON_OOM ("If VIRTIO_BALLOON_F_DEFLATE_ON_OOM has not been negotiated, the driver
  // MUST NOT use pages from the balloon ...").
  if (has(vb.features, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) || world.fault('vballoon-oom-ignores-feature')) g.oomNotifiers.push(oomNotify);
}

/** stats_handle_request: pop the used buffer, collect, add it back. */
export function statsUpdate(world: World, g: Guest, vb: VirtioBalloon): boolean {
  const s = vb.stats;
  if (!s || !s.used) return false;
  // Hazard: "Before making an output buffer available in the statsq, the driver MUST initialize
  // it": re-adding the old figures reports a state that no longer holds.
  if (!world.fault('vballoon-stats-stale-buffer')) s.buffer = collectStats(g, vb);
  s.used = false;
  s.filledAt = world.step;
  world.journal.mark(STATS_MARK, g.id);
  return true;
}

/** The device uses the stats buffer (consumes its figures, retains it to ask again). */
export function statsRequest(world: World, g: Guest, vb: VirtioBalloon): boolean {
  const s = vb.stats;
  if (!s || s.used) return false;
  s.seen = s.buffer;
  s.used = true;
  world.journal.note(() => `g${g.id}: virtio-balloon device consumed stats (free ${s.buffer.memfree})`);
  return true;
}

/** Bound on balloon work iterations in the settle phase, per guest. */
export function settleIterations(g: Guest): number {
  return Math.ceil(g.config.frames / VIRTIO_BALLOON_ARRAY_PFNS_MAX) + 4;
}

/**
 * The settle phase for one guest: finish what is in flight, then run update_balloon_size_func
 * until the target is reached or the balloon is out of puff (bounded).
 */
export function settleGuest(world: World, g: Guest, vb: VirtioBalloon): void {
  // The device takes every queued request, then the driver releases every deflated page:
  // nothing is left in flight (driverBusy is false) after one pass.
  while (deviceAck(world, g, vb, 'inflate', false));
  while (deviceAck(world, g, vb, 'deflate', false));
  for (let r = releasable(world, vb); r; r = releasable(world, vb)) release(world, g, vb, r);
  updateActual(world, g, vb);
  const rounds = settleIterations(g);
  for (let i = 0; i < rounds; i++) {
    const diff = towardsTarget(vb);
    if (diff === 0) break;
    let leaked = false;
    if (diff > 0) {
      if (fill(world, g, vb) === 0) break;
      deviceAck(world, g, vb, 'inflate', false);
    } else {
      const r = leak(world, g, vb, -diff, false);
      if (!r) break;
      deviceAck(world, g, vb, 'deflate', false);
      release(world, g, vb, r);
      leaked = true;
    }
    // Hazard: "The driver MUST update actual after changing the number of pages in the
    // balloon"; skipping it after a leak leaves the host believing the balloon is larger.
    if (!(leaked && world.fault('vballoon-leak-skips-actual-update'))) updateActual(world, g, vb);
    // Hazard: update_balloon_size_func re-queues itself while diff != 0 ("if (diff)
    // queue_work(...)"); without that the balloon stops short of its target.
    if (world.fault('vballoon-work-not-requeued')) break;
  }
  world.journal.note(() => `g${g.id}: virtio-balloon settled at ${vb.count}/${vb.numPages} (actual ${vb.actual})`);
}
