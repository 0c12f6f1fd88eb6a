/**
 * free-page-poison-intact (VIRTIO balloon "Page Poison" and "Free Page Reporting"; Linux
 * mm/page_poison.c check_poison_mem, fb69c2c896fc): a guest that poisons its free pages finds
 * the poison intact when it allocates them. A device may change a reported page only to
 * poison_val, and only when PAGE_POISON was negotiated; the driver must refuse reporting
 * otherwise ("If the driver is expecting the pages to retain some initialized value, it MUST
 * NOT accept VIRTIO_BALLOON_F_PAGE_REPORTING unless it also negotiates
 * VIRTIO_BALLOON_F_PAGE_POISON").
 */
import { describeContent } from '../../model/content';
import { POISON_MARK, poisonCorruptions, PAGE_POISON } from '../../model/devices/page-poison';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'free-page-poison-intact';

function check({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const gid of j.marks.get(POISON_MARK) ?? []) {
    for (const c of poisonCorruptions(w.guests[gid]!))
      if (c.step === w.step)
        r.report({ property: NAME, kind: 'poison-overwritten', subject: `g${gid} gfn ${hex(c.gfn)}`, message: 'pagealloc: memory corruption (a poisoned free page lost its poison)', expected: `poison(0x${PAGE_POISON.toString(16)})`, actual: describeContent(c.found) });
  }
}

export const freePagePoisonIntact: Property = {
  name: NAME,
  mechanism: 'free-page-reporting',
  kind: 'safety',
  description: 'a guest that poisons free pages finds the poison intact when it allocates them',
  checkStep: check,
  checkAll: check,
};
