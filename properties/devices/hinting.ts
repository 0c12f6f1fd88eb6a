/**
 * hinting-device-rules (VIRTIO balloon "Free Page Hinting", device normative): the device
 * changes a hinted page only
 * - before free_page_hint_cmd_id is set to DONE ("The device MUST NOT modify the content of a
 *   previously hinted page after free_page_hint_cmd_id is set to VIRTIO_BALLOON_CMD_ID_DONE"),
 * - for hints given under the current command id ("The device MUST ignore pages that are
 *   provided with a command ID that does not match"),
 * - if the guest has not written the page since the hint.
 */
import { hintingOf, hintMark, VIRTIO_BALLOON_CMD_ID_DONE } from '../../model/reporting/free-page-hinting';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'hinting-device-rules';

function check({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const g of w.guests) {
    const h = hintingOf(g);
    if (!h || !j.marks.has(hintMark(g))) continue;
    for (let i = h.modifications.length - 1; i >= 0 && h.modifications[i]!.step === w.step; i--) {
      const m = h.modifications[i]!;
      const subject = `g${g.id} gfn ${hex(m.gfn)}`;
      if (m.cmdIdAt === VIRTIO_BALLOON_CMD_ID_DONE)
        r.report({ property: NAME, kind: 'modified-after-done', subject, message: 'the device changed a hinted page after DONE', expected: 'no change after DONE', actual: 'discarded' });
      else if (m.cmdIdAt !== m.hintId)
        r.report({ property: NAME, kind: 'stale-hint-used', subject, message: 'the device acted on a hint given under another command id', expected: `command id ${m.cmdIdAt}`, actual: `hinted under ${m.hintId}` });
      else if (!m.unchangedSinceHint)
        r.report({ property: NAME, kind: 'modified-dirty-page', subject, message: 'the device changed a page the guest wrote after hinting it', expected: 'unchanged since the hint', actual: 'written since' });
    }
  }
}

export const hintingDeviceRules: Property = {
  name: NAME,
  mechanism: 'free-page-hinting',
  kind: 'safety',
  description: 'the device changes hinted pages only before DONE, under the current command id, and while unwritten',
  checkStep: check,
  checkAll: check,
};
