/**
 * hinting-device-rules (VIRTIO balloon "Free Page Hinting", device normative): the device
 * changes a hinted page only
 * - before free_page_hint_cmd_id is set to DONE ("The device MUST NOT modify the content of a
 *   previously hinted page after free_page_hint_cmd_id is set to VIRTIO_BALLOON_CMD_ID_DONE"),
 * - if the guest has not written the page since the hint ("If the content of a previously
 *   hinted page has not been modified by the guest since the device issued the
 *   free_page_hint_cmd_id associated with the hint, the device MAY modify the contents of the
 *   page": an older, still unwritten hint stays usable after a new command id).
 * and, on the driver side, one output buffer per command id.
 * Hints arriving under a stale command id are ignored when the device takes them
 * (model/reporting/free-page-hinting.ts deviceProcess), so they never reach this check.
 */
import { hintingOf, hintMark, VIRTIO_BALLOON_CMD_ID_DONE } from '../../model/reporting/free-page-hinting';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'hinting-device-rules';

function check({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const g of w.guests) {
    const h = hintingOf(g);
    if (!h || !j.marks.has(hintMark(g))) continue;
    // Driver side: "The driver MUST NOT provide more than one output buffer containing the
    // current command ID."
    if (new Set(h.sentIds).size !== h.sentIds.length)
      r.report({ property: NAME, kind: 'command-id-sent-twice', subject: `g${g.id} free_page_vq`, message: 'the driver sent a command id twice', expected: 'one output buffer per command id', actual: h.sentIds.join(', ') });
    for (let i = h.modifications.length - 1; i >= 0 && h.modifications[i]!.step === w.step; i--) {
      const m = h.modifications[i]!;
      const subject = `g${g.id} gfn ${hex(m.gfn)}`;
      if (m.cmdIdAt === VIRTIO_BALLOON_CMD_ID_DONE)
        r.report({ property: NAME, kind: 'modified-after-done', subject, message: 'the device changed a hinted page after DONE', expected: 'no change after DONE', actual: 'discarded' });
      else if (!m.unchangedSinceHint)
        r.report({ property: NAME, kind: 'modified-dirty-page', subject, message: 'the device changed a page the guest wrote after hinting it', expected: 'unchanged since the hint', actual: 'written since' });
    }
  }
}

export const hintingDeviceRules: Property = {
  name: NAME,
  mechanism: 'free-page-hinting',
  kind: 'safety',
  description: 'the device changes hinted pages only before DONE and while the guest has not written them since the hint',
  checkStep: check,
  checkAll: check,
};
