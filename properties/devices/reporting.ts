/**
 * Free page reporting (mm/page_reporting.c; VIRTIO balloon "Free Page Reporting"):
 * - reporting-isolation: a block is off the free lists, and owned by nobody but the report,
 *   from the moment it is put in a report until it is put back ("The driver MUST NOT use the
 *   reported pages until the device has acknowledged the reporting request").
 * - reported-marks: PG_reported sits only on free blocks of order >= page_reporting_order that
 *   the device acknowledged with exactly that order.
 * - reporting-returns-idle (liveness): once frees stop, the work returns to IDLE with nothing
 *   isolated, queued or in flight.
 */
import { MAX_PAGE_ORDER } from '../../model/constants';
import { describeGuestOwner, type Guest } from '../../model/guest/guest';
import { blockMark, reportedMark, reportingOf, type ReportedBlock } from '../../model/reporting/free-page-reporting';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

function blocksOf(g: Guest): ReportedBlock[] {
  const f = reportingOf(g);
  return f ? [...f.sgl, ...(f.inFlight?.blocks ?? [])] : [];
}

function checkBlock(g: Guest, b: ReportedBlock, r: Reporter): void {
  const subject = `g${g.id} block gfn ${hex(b.pfn)} order ${b.order}`;
  const a = g.buddy.allocatedAt(b.pfn);
  if (g.buddy.isFree(b.pfn) || a?.order !== b.order) {
    r.report({ property: 'reporting-isolation', kind: 'reported-block-not-isolated', subject, message: 'a block being reported is still on the free lists', expected: 'isolated from the buddy', actual: g.buddy.isFree(b.pfn) ? 'free' : `allocated order ${a?.order}` });
    return;
  }
  for (const i of [0, 2 ** b.order - 1]) checkFrame(g, b, b.pfn + i, r);
}

function checkFrame(g: Guest, b: ReportedBlock, gfn: number, r: Reporter): void {
  const o = g.owners.get(gfn);
  if (o?.kind !== 'reporting')
    r.report({ property: 'reporting-isolation', kind: 'reported-block-used', subject: `g${g.id} gfn ${hex(gfn)} (block ${hex(b.pfn)} order ${b.order})`, message: 'a page of a block being reported belongs to someone else', expected: 'reported block', actual: describeGuestOwner(o) });
}

/** The in-flight block containing gfn, looked up by aligned heads (O(MAX_PAGE_ORDER)). */
function blockAt(byHead: Map<number, ReportedBlock>, gfn: number): ReportedBlock | undefined {
  for (let o = 0; o <= MAX_PAGE_ORDER; o++) {
    const b = byHead.get(gfn - (gfn % 2 ** o));
    if (b && b.order === o) return b;
  }
  return undefined;
}

export const reportingIsolation: Property = {
  name: 'reporting-isolation',
  mechanism: 'free-page-reporting',
  kind: 'safety',
  description: 'no block is allocated, freed or used while it is being reported',
  checkStep({ world: w, journal: j }, r) {
    for (const g of w.guests) {
      const f = reportingOf(g);
      if (!f) continue;
      const byHead = new Map(blocksOf(g).map((b) => [b.pfn, b]));
      if (byHead.size === 0) continue;
      for (const pfn of j.marks.get(blockMark(g)) ?? []) {
        const b = byHead.get(pfn);
        if (b) checkBlock(g, b, r);
      }
      for (const gfn of j.gfns.get(g.id) ?? []) {
        const b = blockAt(byHead, gfn);
        if (!b) continue;
        if (!b.isolated || g.buddy.isFree(gfn)) checkBlock(g, b, r);
        else checkFrame(g, b, gfn, r);
      }
    }
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) for (const b of blocksOf(g)) checkBlock(g, b, r);
  },
};

function checkMark(g: Guest, head: number, r: Reporter): void {
  const f = reportingOf(g);
  const subject = `g${g.id} gfn ${hex(head)}`;
  const fb = g.buddy.freeBlockAt(head);
  if (!fb) {
    if (g.buddy.isReported(head)) r.report({ property: 'reported-marks', kind: 'mark-not-free', subject, message: 'PG_reported on a page that heads no free block', expected: 'a free block head', actual: 'not free' });
    return;
  }
  if (!g.buddy.isReported(head)) return;
  if (!f || fb.order < f.order)
    r.report({ property: 'reported-marks', kind: 'mark-below-order', subject, message: 'PG_reported below page_reporting_order', expected: `order >= ${f?.order ?? 'reporting'}`, actual: `order ${fb.order}` });
  else if (!f.acked.has(`${head}:${fb.order}`))
    r.report({ property: 'reported-marks', kind: 'mark-unreported', subject, message: 'PG_reported on a free block the device never acknowledged at that order', expected: `a report of gfn ${hex(head)} order ${fb.order}`, actual: 'flagged without one' });
}

export const reportedMarks: Property = {
  name: 'reported-marks',
  mechanism: 'free-page-reporting',
  kind: 'safety',
  description: 'Reported marks are only on free blocks of the reporting order or above that the device acknowledged',
  checkStep({ world: w, journal: j }, r) {
    for (const g of w.guests) for (const head of j.marks.get(reportedMark(g)) ?? []) checkMark(g, head, r);
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) for (const head of [...g.buddy.reportedAll()]) checkMark(g, head, r);
  },
};

export const reportingReturnsIdle: Property = {
  name: 'reporting-returns-idle',
  mechanism: 'free-page-reporting',
  kind: 'liveness',
  description: 'once frees stop, reporting returns to IDLE with nothing isolated or in flight',
  checkStep() {},
  checkAll() {},
  settled({ world: w }, r) {
    for (const g of w.guests) {
      const f = reportingOf(g);
      if (!f) continue;
      if (f.state !== 'idle' || f.scheduled || f.inFlight || f.sgl.length > 0 || f.cursor)
        r.report({ property: 'reporting-returns-idle', kind: 'reporting-stuck', subject: `g${g.id} page reporting`, message: 'page reporting did not return to IDLE', expected: 'IDLE, nothing queued or in flight', actual: `${f.state.toUpperCase()}${f.scheduled ? ', work queued' : ''}${f.inFlight ? ', report in flight' : ''}${f.sgl.length ? `, ${f.sgl.length} isolated` : ''}` });
    }
  },
};
