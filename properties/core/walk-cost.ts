/**
 * walk-cost (domain.md section 1): a nested walk costs one reference per guest entry read plus
 * an EPT walk for each guest table and for the final guest-physical address:
 * (g+1)(h+1)-1 with uniform levels (24 for 4/4, 29 for 4/5, 35 for 5/5), fewer where a huge
 * leaf ends a walk early. The expected figure is computed here from the levels actually
 * walked and each gfn's host page size, independently of the walker's own count.
 */
import { FRAMES_PER_2M } from '../../model/constants';
import type { Guest } from '../../model/guest/guest';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'walk-cost';

/** EPT references to translate gfn: one per level, one fewer under a 2 MiB host page. */
function hostRefs(g: Guest, gfn: number): number {
  return g.config.eptLevels - (g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M)) ? 1 : 0);
}

function check({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const wk of j.walks) {
    const g = w.guests[wk.guest]!;
    let expected = 0;
    for (let i = 0; i < wk.guestLevelsWalked; i++) expected += hostRefs(g, wk.gfns[i]!) + 1;
    expected += hostRefs(g, wk.finalGfn);
    if (wk.refs !== expected)
      r.report({ property: NAME, kind: 'wrong-reference-count', subject: `g${wk.guest} pid ${wk.pid} va ${hex(wk.vpn * 4096)}`, message: `a ${wk.guestLevelsWalked}-level guest walk over ${g.config.eptLevels}-level EPT`, expected: `${expected} references`, actual: `${wk.refs} references` });
  }
}

export const walkCost: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: 'a nested walk costs (g+1)(h+1)-1 references for the levels actually walked',
  checkStep: check,
  checkAll: check,
};
