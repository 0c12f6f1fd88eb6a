/**
 * balloon-deflate-rules (VIRTIO balloon, driver normative "Device Operation"), checked on every
 * deflate request when it is queued:
 * - "The driver MUST NOT request deflation of pages in the balloon before the device has
 *   acknowledged the inflate request."
 * - Without VIRTIO_BALLOON_F_DEFLATE_ON_OOM the driver must not take pages out of the balloon
 *   when that leaves it below num_pages. (The spec's sentence reads "MUST NOT use pages from the
 *   balloon when num_pages is less than or equal to the actual number of pages", which would
 *   forbid the very deflation the preceding MAY allows; the rule is read here as intended: the
 *   balloon may shrink without DEFLATE_ON_OOM only down to the device's target.)
 */
import { balloonOf, has, requestMark, VIRTIO_BALLOON_F_DEFLATE_ON_OOM } from '../../model/balloon/virtio-balloon';
import type { StepContext } from '../property';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'balloon-deflate-rules';

function check({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const g of w.guests) {
    const vb = balloonOf(g);
    const ids = j.marks.get(requestMark(g));
    if (!vb || !ids) continue;
    for (const id of ids) {
      const q = vb.history[id - 1];
      if (!q || q.queue !== 'deflate' || q.step !== w.step || q.migration) continue;
      const subject = `g${g.id} deflate request #${id}`;
      if (q.unackedInflate.length > 0)
        r.report({ property: NAME, kind: 'deflate-before-inflate-ack', subject, message: 'deflation requested for pages whose inflation the device has not acknowledged', expected: 'inflate acknowledged first', actual: `gfn ${hex(q.unackedInflate[0]!)} (+${q.unackedInflate.length - 1}) unacknowledged` });
      if (!has(vb.features, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) && q.countAfter < q.numPagesAt)
        r.report({ property: NAME, kind: 'deflate-below-target', subject, message: `pages taken from the balloon below num_pages without DEFLATE_ON_OOM${q.viaOom ? ' (OOM notifier)' : ''}`, expected: `balloon >= num_pages ${q.numPagesAt}`, actual: `${q.countAfter} pages left` });
    }
  }
}

export const balloonDeflateRules: Property = {
  name: NAME,
  mechanism: 'virtio-balloon',
  kind: 'safety',
  description: 'no deflate before the inflate ack; without DEFLATE_ON_OOM never below num_pages',
  checkStep: check,
  checkAll: check,
};
