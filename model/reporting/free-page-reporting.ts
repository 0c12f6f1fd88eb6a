/**
 * Free page reporting, guest side (Linux mm/page_reporting.c, include/linux/page_reporting.h)
 * and the virtio-balloon device side of its reporting_vq (QEMU hw/virtio/virtio-balloon.c
 * virtio_balloon_handle_report).
 *
 * "The page reporting cycle consists of 4 stages, fill, report, drain, and idle" (page_reporting.c):
 *   IDLE -(a free of order >= page_reporting_order: __page_reporting_request)-> REQUESTED
 *   REQUESTED -(the delayed work runs, PAGE_REPORTING_DELAY later)-> ACTIVE
 *   ACTIVE -(pass done, nothing requested meanwhile)-> IDLE
 *   ACTIVE -(a free, or the budget ran out, during the pass)-> REQUESTED (work rescheduled)
 * A block's cycle: free -(isolate: __isolate_free_page)-> isolated, in the scatterlist
 *   -(report: the device is handed the list)-> in flight -(device acks)-> acked
 *   -(drain: __putback_isolated_page)-> free, marked Reported if still a free block of its order.
 *
 * Time: the delay is PAGE_REPORTING_DELAY = 2 s; the model's clock is the operation index
 * (assumption: one operation = one tick = one second), so the work is due two ticks after it
 * was scheduled. The settle phase lets time pass.
 */
import { MAX_PAGE_ORDER, PAGEBLOCK_ORDER } from '../constants';
import { MIGRATE_TYPES, type MigrateType } from '../buddy/migratetype';
import type { Guest } from '../guest/guest';
import { discardRange } from '../devices/discard';
import type { World } from '../world';
import { balloonOf, has, VIRTIO_BALLOON_F_PAGE_POISON, VIRTIO_BALLOON_F_REPORTING } from '../balloon/virtio-balloon';
import { hex } from '../../properties/violation';

/** include/linux/page_reporting.h PAGE_REPORTING_CAPACITY. */
export const PAGE_REPORTING_CAPACITY = 32;
/** mm/page_reporting.c PAGE_REPORTING_DELAY (2 * HZ), in model ticks (one per operation). */
export const PAGE_REPORTING_DELAY_TICKS = 2;
/** Lists per order scanned for each report (budget): DIV_ROUND_UP(nr_free, CAPACITY * 16). */
export const PAGE_REPORTING_BUDGET_DIVISOR = PAGE_REPORTING_CAPACITY * 16;
/** page_reporting_order default: pageblock_order (module parameter page_reporting_order). */
export const ORDER_OPTION = 'free-page-reporting.order';

export type ReportingState = 'idle' | 'requested' | 'active';

export interface ReportedBlock {
  readonly pfn: number;
  readonly order: number;
  /** Taken off the free lists (always, unless the injected bug skips it). */
  readonly isolated: boolean;
}

export interface FreePageReporting {
  readonly order: number;
  state: ReportingState;
  /** The delayed work is queued. */
  scheduled: boolean;
  dueAt: number;
  /** Position of the pass in progress, an index into passLists(order); null between passes. */
  cursor: number | null;
  budget: number | null;
  /** The scatterlist being filled. */
  sgl: ReportedBlock[];
  /** The report handed to the device, waiting for its ack. */
  inFlight: { blocks: ReportedBlock[]; acked: boolean } | null;
  /** Device side: blocks it acknowledged, "pfn:order" (for the reported-marks property). */
  readonly acked: Set<string>;
  /** Passes completed. */
  passes: number;
}

const states = new WeakMap<Guest, FreePageReporting>();

export function reportingOf(g: Guest): FreePageReporting | undefined {
  return states.get(g);
}

export function blockMark(g: Guest): string {
  return `free-page-reporting:g${g.id}`;
}
export function reportedMark(g: Guest): string {
  return `free-page-reported:g${g.id}`;
}

function transition(world: World, f: FreePageReporting, to: ReportingState): void {
  if (f.state !== to) world.transition('free-page-reporting', f.state, to);
  f.state = to;
}

/** __page_reporting_request. */
function request(world: World, f: FreePageReporting): void {
  // Linux reads the state first only to spare the atomic_xchg; here a request while requested
  // changes nothing either way (transition skips the same state, and only idle schedules).
  const was = f.state;
  transition(world, f, 'requested');
  if (was !== 'idle') return;
  // "Delay the start of work to allow a sizable queue to build."
  f.scheduled = true;
  f.dueAt = world.step + PAGE_REPORTING_DELAY_TICKS;
}

/** page_reporting_register: the device is there; "Begin initial flush of zones". */
export function registerReporting(world: World, g: Guest): FreePageReporting | null {
  const vb = balloonOf(g);
  if (!vb || !has(vb.features, VIRTIO_BALLOON_F_REPORTING)) return null;
  const order = world.option<number>(ORDER_OPTION, PAGEBLOCK_ORDER);
  const f: FreePageReporting = { order, state: 'idle', scheduled: false, dueAt: 0, cursor: null, budget: null, sgl: [], inFlight: null, acked: new Set(), passes: 0 };
  states.set(g, f);
  request(world, f);
  // page_reporting_notify_free from __free_one_page, with the order the block merged to.
  // The hook runs only after the buddy took the page back, so a free block contains it.
  g.freeHooks.push({ freed: (w, gg, gfn) => { if (gg.buddy.freeBlockContaining(gfn)!.order >= f.order) request(w, f); } });
  return f;
}

/** page_reporting_process_zone's entry condition: free pages above low + capacity << order. */
export function watermarkOk(g: Guest, f: FreePageReporting): boolean {
  return g.buddy.freePages() > g.buddy.watermarks().low + (PAGE_REPORTING_CAPACITY << f.order);
}

function isolate(world: World, g: Guest, pfn: number, order: number, mt: MigrateType): ReportedBlock {
  // Hazard: a block handed to the device must be off the free lists first
  // (__isolate_free_page); a block left there can be allocated and written while the host
  // discards it.
  if (world.fault('fpr-report-without-isolation')) return { pfn, order, isolated: false };
  // The caller read pfn off the free list of (order, mt) just now, never the isolate list.
  const r = g.buddy.allocAt(pfn, order, mt);
  if (typeof r !== 'number') throw new Error(`isolate: free block ${describeBlock({ pfn, order })} (${mt}) could not be taken: ${JSON.stringify(r)}`);
  for (let i = 0; i < 2 ** order; i++) g.setOwner(pfn + i, { kind: 'reporting', order });
  return { pfn, order, isolated: true };
}

function submit(world: World, g: Guest, f: FreePageReporting): void {
  f.inFlight = { blocks: f.sgl, acked: false };
  f.sgl = [];
  for (const b of f.inFlight.blocks) world.journal.mark(blockMark(g), b.pfn);
  world.journal.note(() => `g${g.id}: report ${f.inFlight!.blocks.length} blocks of order >= ${f.order}`);
  world.transition('free-page-reporting', 'isolated', 'in-flight');
}

/** page_reporting_drain: put the blocks back; mark those still free blocks of their order. */
function drain(world: World, g: Guest, f: FreePageReporting): void {
  const r = f.inFlight!;
  f.inFlight = null;
  for (const b of r.blocks) {
    world.journal.mark(blockMark(g), b.pfn);
    if (b.isolated) {
      for (let i = 0; i < 2 ** b.order; i++) g.clearOwner(b.pfn + i);
      g.buddy.putbackIsolated(b.pfn, b.order); // FPI_SKIP_REPORT_NOTIFY | FPI_TO_TAIL, no poisoning
    }
    let head = b.pfn;
    // Hazard: "If page was not comingled with another page we can consider the result to be
    // 'reported' ... otherwise we will need to report on the new larger page": marking the
    // block it merged into flags memory the host never saw.
    // (A block reported without isolation, under fpr-report-without-isolation, may be allocated by now.)
    if (world.fault('fpr-mark-without-order-check')) head = g.buddy.freeBlockContaining(b.pfn)?.pfn ?? b.pfn;
    else if (g.buddy.freeBlockAt(b.pfn)?.order !== b.order) continue;
    if (g.buddy.setReported(head)) {
      world.journal.mark(reportedMark(g), head);
      world.transition('free-page-reporting', 'in-flight', 'reported');
    }
  }
}

function endPass(world: World, f: FreePageReporting): void {
  f.cursor = null;
  f.budget = null;
  f.passes++;
  // "If the state has reverted back to requested then there may be additional pages to be
  // processed. We will defer for 2s to allow more pages to accumulate."
  if (f.state === 'active') {
    transition(world, f, 'idle');
    return;
  }
  // Hazard: the request that arrived during the pass is only remembered by this reschedule;
  // dropping it leaves the state REQUESTED with no work queued, so no later free restarts it.
  if (world.fault('fpr-no-reschedule')) return;
  f.scheduled = true;
  f.dueAt = world.step + PAGE_REPORTING_DELAY_TICKS;
}

export type WorkOutcome = 'idle' | 'not-due' | 'waiting' | 'reported' | 'done';

/** passLists by page_reporting_order, built once each (every work run walks them). */
const passListsOf = new Map<number, { order: number; mt: MigrateType }[]>();

/**
 * The free lists a pass visits, in turn: page_reporting_process_zone takes each order from
 * page_reporting_order up to MAX_PAGE_ORDER, and page_reporting_cycle each migrate type's list
 * but ISOLATE's ("We do not pull pages from the isolate free list").
 */
export function passLists(order: number): readonly { readonly order: number; readonly mt: MigrateType }[] {
  let l = passListsOf.get(order);
  if (!l) {
    l = [];
    for (let o = order; o <= MAX_PAGE_ORDER; o++) for (const mt of MIGRATE_TYPES) if (mt !== 'ISOLATE') l.push({ order: o, mt });
    passListsOf.set(order, l);
  }
  return l;
}

/**
 * One run of the reporting work (page_reporting_process), resumable: it stops whenever it hands
 * a report to the device (prdev->report waits for the ack) and continues from the same list
 * on the next run.
 */
export function reportingWork(world: World, g: Guest, f: FreePageReporting, ignoreDelay: boolean): WorkOutcome {
  if (f.inFlight) {
    if (!f.inFlight.acked) return 'waiting';
    drain(world, g, f);
  } else {
    // Between passes: a pass stops only to wait for its report's ack.
    if (!f.scheduled) return 'idle';
    if (!ignoreDelay && world.step < f.dueAt) return 'not-due';
    f.scheduled = false;
    transition(world, f, 'active');
    if (!watermarkOk(g, f)) {
      endPass(world, f);
      return 'done';
    }
    f.cursor = 0;
  }
  // Each list with a budget of its own (page_reporting_cycle). A run that hands a report over
  // returns with the cursor on the list it stopped in, and the next run goes on from there.
  // (A report in flight, or the pass just begun, means a pass in progress: the cursor is set.)
  const lists = passLists(f.order);
  for (; f.cursor! < lists.length; f.cursor!++, f.budget = null) {
    const { order, mt } = lists[f.cursor!]!;
    f.budget ??= Math.ceil(g.buddy.nrFree(order) / PAGE_REPORTING_BUDGET_DIVISOR);
    // The scatterlist's blocks are off the free lists (isolated) or, under
    // fpr-report-without-isolation, on lists this run has passed: none is listed here.
    for (const pfn of g.buddy.freeListBlocks(order, mt)) {
      if (g.buddy.isReported(pfn)) continue;
      if (f.budget < 0) {
        transition(world, f, 'requested');
        break;
      }
      if (f.sgl.length < PAGE_REPORTING_CAPACITY) {
        f.sgl.push(isolate(world, g, pfn, order, mt));
        world.transition('free-page-reporting', 'free', 'isolated');
        continue;
      }
      submit(world, g, f);
      f.budget--;
      return 'reported';
    }
  }
  // "report the leftover pages before going idle"
  if (f.sgl.length > 0) {
    submit(world, g, f);
    return 'reported';
  }
  endPass(world, f);
  return 'done';
}

/**
 * The device's side of one report: it may discard each block ("the device MAY modify the
 * contents of any page supplied in a report request before acknowledging"), except that with
 * PAGE_POISON and a non-zero poison_val it must leave them as they are (QEMU skips the discard
 * when poison_val is set), then acknowledges.
 */
export function deviceReport(world: World, g: Guest, f: FreePageReporting, discard: boolean): boolean {
  const r = f.inFlight;
  if (!r || r.acked) return false;
  const vb = balloonOf(g)!;
  const keep = has(vb.features, VIRTIO_BALLOON_F_PAGE_POISON) && vb.poisonVal !== 0;
  for (const b of r.blocks) {
    if (discard && !keep) discardRange(world, g, b.pfn, 2 ** b.order, 'free-page-reporting');
    f.acked.add(`${b.pfn}:${b.order}`);
  }
  r.acked = true;
  world.journal.note(() => `g${g.id}: device acked report of ${r.blocks.length} blocks${discard && !keep ? ' (discarded)' : ''}`);
  return true;
}

/** Settle: let time pass and the device answer until the reporting work goes idle, bounded. */
export function settleReporting(world: World, g: Guest, f: FreePageReporting): void {
  const bound = 4 * (g.config.frames >> f.order) + 16;
  for (let i = 0; i < bound; i++) {
    deviceReport(world, g, f, false); // acks the report in flight, if one waits
    const out = reportingWork(world, g, f, true);
    if (out === 'idle') break;
  }
}

export function describeBlock(b: { pfn: number; order: number }): string {
  return `gfn ${hex(b.pfn)} order ${b.order}`;
}
