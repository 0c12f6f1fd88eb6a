/**
 * The core mechanism: nested MMU, TLB and buddy allocators (issue: foundation).
 */
import { coreFaults } from '../faults';
import { installResolved } from '../host/ept-fault';
import { reclaimEnd } from '../host/reclaim';
import type { MechanismModel } from '../mechanism';
import { coreOperations } from '../ops/core';
import { declaredTransitions } from '../transitions';
import type { World } from '../world';

/** Every protocol in flight is driven to its end: a reclaim ends, a raced fault finishes. */
function settle(w: World): void {
  for (const g of w.guests) {
    reclaimEnd(w, g); // with no reclaim in flight it refuses and changes nothing
    const f = g.pendingFault;
    if (f) {
      g.pendingFault = null;
      if (g.ept.lookup(w, f.gfn).kind !== 'leaf') installResolved(w, g, f.gfn, { hfn: f.hfn, frames: f.frames }, f.seq);
    }
  }
}

export const coreMechanism: MechanismModel = {
  name: 'core',
  operations: coreOperations,
  faults: coreFaults,
  transitions: declaredTransitions,
  settle,
};
