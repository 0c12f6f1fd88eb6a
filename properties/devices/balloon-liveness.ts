/**
 * Liveness of the virtio balloon, after the fault-free settle phase:
 * - balloon-actual: "The driver MUST update actual after changing the number of pages in the
 *   balloon": actual equals the pages in the balloon.
 * - balloon-converges: with the guest able to supply pages the balloon reaches num_pages, or
 *   the model recorded why it cannot ("Out of puff!").
 */
import { balloonOf } from '../../model/balloon/virtio-balloon';
import type { Property } from '../property';

export const balloonActual: Property = {
  name: 'balloon-actual',
  mechanism: 'virtio-balloon',
  kind: 'liveness',
  description: 'after settling, the config field actual equals the pages in the balloon',
  checkStep() {},
  checkAll() {},
  settled({ world: w }, r) {
    for (const g of w.guests) {
      const vb = balloonOf(g);
      if (vb && vb.actual !== vb.count)
        r.report({ property: 'balloon-actual', kind: 'actual-stale', subject: `g${g.id} virtio-balloon`, message: 'actual does not reflect the balloon', expected: `actual ${vb.count}`, actual: `actual ${vb.actual}` });
    }
  },
};

export const balloonConverges: Property = {
  name: 'balloon-converges',
  mechanism: 'virtio-balloon',
  kind: 'liveness',
  description: 'after settling, the balloon holds num_pages pages, or is out of puff with a recorded reason',
  checkStep() {},
  checkAll() {},
  settled({ world: w }, r) {
    for (const g of w.guests) {
      const vb = balloonOf(g);
      if (!vb || vb.count === vb.numPages) continue;
      if (vb.count < vb.numPages && vb.outOfPuff) continue;
      r.report({ property: 'balloon-converges', kind: 'target-not-reached', subject: `g${g.id} virtio-balloon`, message: 'the balloon stopped short of its target with no reason recorded', expected: `${vb.numPages} pages (or out of puff)`, actual: `${vb.count} pages` });
    }
  },
};
