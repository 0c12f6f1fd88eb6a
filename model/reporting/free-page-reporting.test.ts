/**
 * Free page reporting's work item as the driver sees it: nothing queued (the work refuses), a
 * report in flight and not yet acknowledged (the work waits), and a list holding more unreported
 * blocks than one scatter-gather list (PAGE_REPORTING_CAPACITY): the full list goes to the
 * device and the rest waits for the next run.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { hex } from '../../properties/violation';
import { POISON_OPTION } from '../devices/page-poison';
import { PAGE_REPORTING_CAPACITY, PAGE_REPORTING_DELAY_TICKS, reportingOf, reportingWork, settleReporting } from './free-page-reporting';

const ORDER = 5;

function runner(frames = 2 ** 12, faults: string[] = [], options: ModelConfig['options'] = {}): { r: Runner; errors: (string | undefined)[] } {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = {
    hostFrames: 2 ** 14,
    guests: [{ frames, guestLevels: 4, eptLevels: 4, hugePages: false }],
    faults,
    options: { 'free-page-reporting.order': ORDER, ...options },
  };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  errors.length = 0;
  return { r, errors };
}

/** Run the work and let the device acknowledge until the work has nothing queued. */
function drainAll(r: Runner, errors: (string | undefined)[]): void {
  for (let i = 0; i < 50; i++) {
    r.apply({ kind: 'fpr.work', args: { guest: 0 } });
    if (errors[errors.length - 1] === 'invalid') return;
    r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
  }
  throw new Error('reporting did not go idle');
}

test('the work refuses with nothing queued, and waits (busy) while its report is unacknowledged', () => {
  const { r, errors } = runner();
  const f = reportingOf(r.world.guests[0]!)!;
  drainAll(r, errors);
  expect(f.scheduled).toBe(false);
  expect(f.inFlight).toBeNull();
  errors.length = 0;
  r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(errors).toEqual(['invalid']);
  // One freed block queues work; the report goes out and the work waits for the ack.
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: ORDER, mt: 'MOVABLE' } });
  r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: 1 } });
  for (let i = 0; i < 5 && !f.inFlight; i++) r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(f.inFlight).not.toBeNull();
  errors.length = 0;
  r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(errors).toEqual(['busy']);
  expect(f.inFlight?.acked).toBe(false);
  r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
  r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(f.inFlight).toBeNull();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('more unreported blocks on one list than one report holds: the first report carries exactly PAGE_REPORTING_CAPACITY blocks, the rest wait', () => {
  const { r, errors } = runner();
  const g = r.world.guests[0]!;
  const f = reportingOf(g)!;
  drainAll(r, errors);
  // Order-5 blocks whose buddies stay allocated: freed, they cannot merge.
  const n = 2 * (PAGE_REPORTING_CAPACITY + 4);
  for (let i = 0; i < n; i++) r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: ORDER, mt: 'MOVABLE' } });
  const allocs = [...g.kernelAllocs.entries()].filter(([, a]) => a.order === ORDER);
  expect(allocs.length).toBe(n);
  let freed = 0;
  for (const [id, a] of allocs) if ((a.gfn / 2 ** ORDER) % 2 === 0) {
    r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: id } });
    freed++;
  }
  expect(freed).toBeGreaterThan(PAGE_REPORTING_CAPACITY);
  for (let i = 0; i < 5 && !f.inFlight; i++) r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(f.inFlight?.blocks.length).toBe(PAGE_REPORTING_CAPACITY);
  const unreported = [...g.buddy.freeListBlocks(ORDER, 'MOVABLE')].filter((pfn) => !g.buddy.isReported(pfn) && !f.inFlight!.blocks.some((b) => b.pfn === pfn));
  expect(unreported.length).toBeGreaterThan(0);
  drainAll(r, errors);
  for (const pfn of unreported) expect(g.buddy.isReported(pfn)).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("a pass that uses up its budget (DIV_ROUND_UP(nr_free, CAPACITY * 16) reports per order) stops with the state back at requested and reports the rest in a later pass", () => {
  const { r, errors } = runner(2 ** 13);
  const g = r.world.guests[0]!;
  const f = reportingOf(g)!;
  drainAll(r, errors);
  // More than two full reports of order-5 blocks whose buddies stay allocated; nr_free at
  // order 5 stays under CAPACITY * 16, so the budget is one report (and one over).
  const n = 2 * (2 * PAGE_REPORTING_CAPACITY + 4);
  for (let i = 0; i < n; i++) r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: ORDER, mt: 'MOVABLE' } });
  const allocs = [...g.kernelAllocs.entries()].filter(([, a]) => a.order === ORDER);
  expect(allocs.length).toBe(n);
  for (const [id, a] of allocs) if ((a.gfn / 2 ** ORDER) % 2 === 0) r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: id } });
  const requested = (): number => r.world.transitions.get('free-page-reporting')?.get('active->requested') ?? 0;
  const before = requested();
  // The budget is one report, and the pass stops only when it is below zero: two reports go
  // out before the state goes back to requested.
  let reports = 0;
  for (let i = 0; i < 20 && requested() === before; i++) {
    r.apply({ kind: 'fpr.work', args: { guest: 0 } });
    if (requested() > before) break;
    if (f.inFlight && !f.inFlight.acked) {
      reports++;
      r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
    }
  }
  expect([reports, requested()]).toEqual([2, before + 1]);
  drainAll(r, errors);
  for (const [, a] of allocs) if ((a.gfn / 2 ** ORDER) % 2 === 0) expect(g.buddy.isReported(a.gfn)).toBe(true);
  expect(f.inFlight).toBeNull();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

/** Kernel blocks of order ORDER: an order ORDER + 1 block first, then `n` more, by alloc id. */
function kernelBlocks(r: Runner, n: number): Map<number, number> {
  const g = r.world.guests[0]!;
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: ORDER + 1, mt: 'MOVABLE' } });
  for (let i = 0; i < n; i++) r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: ORDER, mt: 'MOVABLE' } });
  return new Map([...g.kernelAllocs.entries()].filter(([, a]) => a.order === ORDER).map(([id, a]) => [id, a.gfn]));
}

/**
 * After the initial flush, two buddies of order ORDER: the lower one freed and, with `report`,
 * handed to the device (the work runs until a report is in flight).
 */
function lowerHalfFreed(faults: string[] = [], options: ModelConfig['options'] = {}, report = true) {
  const { r, errors } = runner(2 ** 12, faults, options);
  const g = r.world.guests[0]!;
  const f = reportingOf(g)!;
  drainAll(r, errors);
  const [[lowId, low], [highId, high]] = [...kernelBlocks(r, 2).entries()].sort((a, b) => a[1] - b[1]);
  r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: lowId! } });
  for (let i = 0; report && i < 5 && !f.inFlight; i++) r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  return { r, errors, g, f, low: low!, high: high!, highId: highId! };
}

test('a block reported as the lower half of a pair whose upper half is freed during the report merges on putback and is not marked; the pass ends rescheduled PAGE_REPORTING_DELAY later, as the free asked', () => {
  const { r, errors, g, f, low, high, highId } = lowerHalfFreed();
  expect(high).toBe(low + 2 ** ORDER);
  expect(low % 2 ** (ORDER + 1)).toBe(0);
  expect(f.inFlight?.blocks).toContainEqual({ pfn: low, order: ORDER, isolated: true });
  r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: highId } });
  expect(f.state).toBe('requested');
  r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: false } });
  // Putback merges the pair into one block of order ORDER + 1 at the reported block's head:
  // half of it was never reported, so no mark. The pass ends there, and the free during it left
  // the state at requested: the work is queued again, PAGE_REPORTING_DELAY later.
  r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  const end = r.step - 1;
  expect(g.buddy.freeBlockAt(low)?.order).toBe(ORDER + 1);
  expect(g.buddy.isReported(low)).toBe(false);
  expect(f).toMatchObject({ state: 'requested', scheduled: true, dueAt: end + PAGE_REPORTING_DELAY_TICKS, inFlight: null });
  errors.length = 0;
  r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(errors).toEqual(['busy']);
  r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(errors).toEqual(['busy', undefined]);
  // The next pass reports the merged block, and marks it.
  expect(f.inFlight?.blocks).toContainEqual({ pfn: low, order: ORDER + 1, isolated: true });
  r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: false } });
  r.apply({ kind: 'fpr.work', args: { guest: 0 } });
  expect(g.buddy.isReported(low)).toBe(true);
  expect(f.state).toBe('idle');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('fpr-report-without-isolation breaks the isolation rule, and nothing else: a block allocated during its report keeps its new owner when the report drains', () => {
  const { r, g, f, low } = lowerHalfFreed(['fpr-report-without-isolation']);
  expect(f.inFlight?.blocks).toContainEqual({ pfn: low, order: ORDER, isolated: false });
  // Still on the free list, the block goes to the next allocation of its order.
  const broke: string[][] = [];
  const step = (kind: string, args: Record<string, number | boolean | string>): void => {
    broke.push([...new Set(r.apply({ kind, args }).map((v) => v.property))]);
  };
  step('guest.kalloc', { guest: 0, order: ORDER, mt: 'MOVABLE' });
  const taken = [...g.kernelAllocs.values()].at(-1)!;
  expect(taken.gfn).toBe(low);
  step('fpr.device.report', { guest: 0, discard: false });
  step('fpr.work', { guest: 0 });
  expect(broke).toEqual([['reporting-isolation'], [], []]);
  expect(g.owners.get(low)).toMatchObject({ kind: 'kernel' });
  expect(g.buddy.allocatedAt(low)?.order).toBe(ORDER);
});

test('a block the allocator refuses although its free list names it (the pageblock made ISOLATE behind the lists) is a model error: isolation throws, naming the block', () => {
  const { r, g, f, low } = lowerHalfFreed([], {}, false);
  g.buddy.testOnlyCorrupt({ kind: 'set-type', pfn: low, mt: 'ISOLATE' });
  expect(() => reportingWork(r.world, g, f, true)).toThrow(`isolate: free block gfn ${hex(low)} order ${ORDER} (MOVABLE) could not be taken: {"error":"isolated"`);
});

test('the device acknowledges only a report in flight, once: otherwise fpr.device.report is refused', () => {
  const { r, errors } = runner();
  drainAll(r, errors);
  errors.length = 0;
  r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
  expect(errors).toEqual(['invalid']);
  const s = lowerHalfFreed();
  expect(s.f.inFlight).not.toBeNull();
  s.errors.length = 0;
  s.r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
  s.r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
  expect(s.errors).toEqual([undefined, 'invalid']);
  expect(s.r.violation).toBeNull();
  expect(r.violation).toBeNull();
});

describe.each([
  // [guest poison mode, discard asked, pages discarded]
  ['off', true, true],
  ['off', false, false],
  // PAGE_POISON with a non-zero poison_val: QEMU keeps the pages whatever the report asks.
  ['poison', true, false],
  // init_on_free negotiates PAGE_POISON with a poison_val of 0: the pages may go.
  ['init-on-free', true, true],
])('a report acknowledged with guest poisoning %s and discard %s', (poison, discard, dropped) => {
  it(`${dropped ? 'discards' : 'keeps'} the reported pages`, () => {
    const { r, g, f, low: gfn } = lowerHalfFreed([], { [POISON_OPTION]: poison });
    expect(f.inFlight?.blocks.map((b) => b.pfn)).toContain(gfn);
    expect(g.backing.has(gfn)).toBe(true);
    r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard } });
    expect([g.backing.has(gfn), g.backing.has(gfn + 2 ** ORDER - 1)]).toEqual([!dropped, !dropped]);
    expect(r.violation).toBeNull();
  });
});

test('settle acknowledges without discarding and runs the work until it goes idle; a work requested again during every pass is given up after 4 * (frames >> order) + 16 runs', () => {
  const { r, errors } = runner();
  const g = r.world.guests[0]!;
  const f = reportingOf(g)!;
  drainAll(r, errors);
  // More than one report's worth of blocks that cannot merge: settle needs several runs.
  const blocks = kernelBlocks(r, 2 * (PAGE_REPORTING_CAPACITY + 4));
  const freed = [...blocks.entries()].filter(([, gfn]) => (gfn / 2 ** ORDER) % 2 === 0);
  for (const [id] of freed) r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: id } });
  expect(freed.length).toBeGreaterThan(PAGE_REPORTING_CAPACITY);
  settleReporting(r.world, g, f);
  expect(f).toMatchObject({ state: 'idle', scheduled: false, inFlight: null });
  for (const [, gfn] of freed) expect([gfn, g.buddy.isReported(gfn), g.backing.has(gfn)]).toEqual([gfn, true, true]);
  // A work that a free requests again during every pass never goes idle: settle stops at its bound.
  Object.defineProperty(f, 'state', { get: () => 'requested', set: () => undefined });
  f.scheduled = true;
  const passes = f.passes;
  settleReporting(r.world, g, f);
  expect(f.passes - passes).toBe(4 * (g.config.frames >> ORDER) + 16);
});

test('only a free that leaves a block of the reporting order or more requests the work (page_reporting_notify_free, called from __free_one_page at order >= page_reporting_order)', () => {
  const { r, errors } = runner();
  const g = r.world.guests[0]!;
  const f = reportingOf(g)!;
  drainAll(r, errors);
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 0, mt: 'MOVABLE' } });
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 0, mt: 'MOVABLE' } });
  const [[lowId, low], [highId, high]] = [...g.kernelAllocs.entries()].map(([id, a]) => [id, a.gfn] as const).sort((a, b) => a[1] - b[1]);
  expect(high).toBe(low + 1);
  expect(low % 2).toBe(0);
  expect(f).toMatchObject({ state: 'idle', scheduled: false });
  // The lower page alone: its buddy is in use, so it stays a block of order 0.
  r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: lowId } });
  expect(g.buddy.freeBlockAt(low)?.order).toBe(0);
  expect(f).toMatchObject({ state: 'idle', scheduled: false });
  // The upper page merges the pair back into a block of order ORDER or more.
  r.apply({ kind: 'guest.kfree', args: { guest: 0, alloc: highId } });
  expect(g.buddy.freeBlockContaining(low)!.order).toBeGreaterThanOrEqual(ORDER);
  expect(f).toMatchObject({ state: 'requested', scheduled: true });
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
