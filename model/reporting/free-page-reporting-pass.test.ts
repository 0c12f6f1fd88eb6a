/**
 * A reporting pass's entry and reach (mm/page_reporting.c):
 * - the delayed work runs PAGE_REPORTING_DELAY after the request, not a tick before;
 * - page_reporting_process_zone reports only while the zone's free pages stay above
 *   low_wmark + (PAGE_REPORTING_CAPACITY << page_reporting_order) (zone_watermark_ok: strictly
 *   above); at the mark exactly the pass ends without a report;
 * - a pass reaches every list from page_reporting_order up to MAX_PAGE_ORDER, every migrate
 *   type but ISOLATE: after the initial flush every such free block is Reported.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { MAX_PAGE_ORDER } from '../constants';
import { MIGRATE_TYPES } from '../buddy/migratetype';
import { PAGE_REPORTING_CAPACITY, PAGE_REPORTING_DELAY_TICKS, reportingOf, type FreePageReporting } from './free-page-reporting';

const ORDER = 5;
const G = { guest: 0 };

/** A guest whose initial flush is over: everything reported, the work idle. */
function flushed(): Stepper & { f: FreePageReporting } {
  const s = stepper(machine({ 'free-page-reporting.order': ORDER }));
  s.apply('guest.spawn', G);
  const f = reportingOf(s.world.guests[0]!)!;
  for (let i = 0; i < 200 && (f.scheduled || f.cursor || f.inFlight); i++) {
    s.apply('fpr.work', G);
    s.apply('fpr.device.report', { guest: 0, discard: true });
  }
  expect(f).toMatchObject({ state: 'idle', scheduled: false, cursor: null, inFlight: null });
  return { ...s, f };
}

test('after the initial flush every free block of page_reporting_order and above is Reported, up to MAX_PAGE_ORDER, on every list but ISOLATE', () => {
  const { world, f, r } = flushed();
  const g = world.guests[0]!;
  const seen = new Map<number, number>();
  for (let o = f.order; o <= MAX_PAGE_ORDER; o++)
    for (const mt of MIGRATE_TYPES) {
      if (mt === 'ISOLATE') continue;
      for (const pfn of g.buddy.freeListBlocks(o, mt)) {
        expect([o, mt, pfn, g.buddy.isReported(pfn)]).toEqual([o, mt, pfn, true]);
        seen.set(o, (seen.get(o) ?? 0) + 1);
      }
    }
  expect(seen.get(MAX_PAGE_ORDER)).toBeGreaterThan(0);
  // Below page_reporting_order nothing is reported.
  for (let o = 0; o < f.order; o++) for (const mt of MIGRATE_TYPES) for (const pfn of g.buddy.freeListBlocks(o, mt)) expect(g.buddy.isReported(pfn)).toBe(false);
  expect(r.violation).toBeNull();
});

test('the work runs PAGE_REPORTING_DELAY after the request; at the low watermark plus one full report exactly it ends the pass without reporting, an order-5 block above it reports', () => {
  const s = flushed();
  const { f, r } = s;
  const g = s.world.guests[0]!;
  const mark = g.buddy.watermarks().low + (PAGE_REPORTING_CAPACITY << ORDER);
  // Allocate down to one order-ORDER block above the mark, then that block.
  for (let o = MAX_PAGE_ORDER; o >= 0; o--)
    while (g.buddy.freePages() - 2 ** o >= mark + 2 ** ORDER) expect(s.apply('guest.kalloc', { guest: 0, order: o, mt: 'MOVABLE' }).ok).toBe(true);
  expect(g.buddy.freePages()).toBe(mark + 2 ** ORDER);
  const block = s.apply('guest.kalloc', { guest: 0, order: ORDER, mt: 'MOVABLE' });
  expect(block.ok).toBe(true);
  expect(g.buddy.freePages()).toBe(mark);
  expect(f.state).toBe('idle');

  // Freed, the block requests the work; taken again, the zone is back at the mark when it runs.
  s.apply('guest.kfree', { guest: 0, alloc: block.value! });
  expect(f).toMatchObject({ state: 'requested', scheduled: true, dueAt: r.step - 1 + PAGE_REPORTING_DELAY_TICKS });
  const again = s.apply('guest.kalloc', { guest: 0, order: ORDER, mt: 'MOVABLE' });
  expect(g.buddy.freePages()).toBe(mark);
  const passes = f.passes;
  expect(s.apply('fpr.work', G)).toEqual({ ok: true });
  expect(f).toMatchObject({ state: 'idle', scheduled: false, cursor: null, inFlight: null, passes: passes + 1 });

  // Freed again: one tick after the request the work is not due, two ticks after it reports.
  s.apply('guest.kfree', { guest: 0, alloc: again.value! });
  expect(g.buddy.freePages()).toBe(mark + 2 ** ORDER);
  expect(s.apply('fpr.work', G)).toEqual({ ok: false, error: 'busy' });
  expect(f.cursor).toBeNull();
  expect(s.apply('fpr.work', G)).toEqual({ ok: true });
  expect(f.inFlight?.blocks.length).toBeGreaterThan(0);
  expect(r.violation).toBeNull();
});

test('"We do not pull pages from the isolate free list": a free pageblock isolated before the flush is not reported, the others are', () => {
  const s = stepper(machine({ 'free-page-reporting.order': ORDER }));
  s.apply('guest.spawn', G);
  const g = s.world.guests[0]!;
  const f = reportingOf(g)!;
  // The last pageblock of the guest, free at spawn, isolated before the work first runs.
  const pageblock = g.config.frames / 2 ** 9 - 1;
  expect(s.apply('guest.isolate', { guest: 0, pageblock })).toEqual({ ok: true });
  const isolated = g.buddy.freeListBlocks(9, 'ISOLATE');
  expect(isolated).toEqual([pageblock * 2 ** 9]);
  for (let i = 0; i < 200 && (f.scheduled || f.cursor || f.inFlight); i++) {
    s.apply('fpr.work', G);
    s.apply('fpr.device.report', { guest: 0, discard: true });
  }
  expect(f).toMatchObject({ state: 'idle', inFlight: null });
  expect(g.buddy.isReported(isolated[0]!)).toBe(false);
  expect(g.buddy.freeListBlocks(9, 'ISOLATE')).toEqual(isolated);
  expect(g.buddy.freeListBlocks(MAX_PAGE_ORDER, 'MOVABLE').filter((pfn) => g.buddy.isReported(pfn)).length).toBeGreaterThan(0);
  expect(s.r.violation).toBeNull();
});
