/**
 * Free page reporting's work item as the driver sees it: nothing queued (the work refuses), a
 * report in flight and not yet acknowledged (the work waits), and a list holding more unreported
 * blocks than one scatter-gather list (PAGE_REPORTING_CAPACITY): the full list goes to the
 * device and the rest waits for the next run.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { PAGE_REPORTING_CAPACITY, reportingOf } from './free-page-reporting';

const ORDER = 5;

function runner(frames = 2 ** 12): { r: Runner; errors: (string | undefined)[] } {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = {
    hostFrames: 2 ** 14,
    guests: [{ frames, guestLevels: 4, eptLevels: 4, hugePages: false }],
    faults: [],
    options: { 'free-page-reporting.order': ORDER },
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
  const before = r.world.transitions.get('free-page-reporting')?.get('active->requested') ?? 0;
  drainAll(r, errors);
  expect(r.world.transitions.get('free-page-reporting')?.get('active->requested') ?? 0).toBeGreaterThan(before);
  for (const [, a] of allocs) if ((a.gfn / 2 ** ORDER) % 2 === 0) expect(g.buddy.isReported(a.gfn)).toBe(true);
  expect(f.inFlight).toBeNull();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
