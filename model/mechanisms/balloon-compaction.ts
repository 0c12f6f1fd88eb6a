/**
 * balloon-compaction (issue 3): migration of ballooned pages (model/balloon/balloon-compaction.ts).
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import type { OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import { balloonOf, deviceAck } from '../balloon/virtio-balloon';
import { finish, isolate, migrate, migrationsOf, putback, settleCompaction } from '../balloon/balloon-compaction';
import { GFN, GUEST, withDevice } from './device-args';
import { hex } from '../../properties/violation';

const M = 'balloon-compaction';

const operations: readonly OperationDef[] = [
  {
    name: 'bcomp.isolate', mechanism: M, args: { guest: GUEST, gfn: GFN },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      return isolate(w, x.g, x.d, a.gfn as number) ? ok() : refuse('invalid', `g${x.g.id} gfn ${hex(a.gfn as number)} is not an isolatable balloon page`);
    },
  },
  {
    name: 'bcomp.putback', mechanism: M, args: { guest: GUEST, gfn: GFN },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      return putback(w, x.g, x.d, a.gfn as number) ? ok() : refuse('invalid', `g${x.g.id} gfn ${hex(a.gfn as number)} is not isolated`);
    },
  },
  {
    name: 'bcomp.migrate', mechanism: M, args: { guest: GUEST, gfn: GFN },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      const m = migrate(w, x.g, x.d, a.gfn as number);
      if (typeof m === 'object') return ok(m.new);
      return m === 'busy' ? refuse('busy', `g${x.g.id}: balloon_lock held (-EAGAIN)`) : m === 'no-page' ? refuse('guest-oom', `g${x.g.id}: no migration target`) : refuse('invalid', `g${x.g.id} gfn ${hex(a.gfn as number)} is not isolated`);
    },
  },
  {
    name: 'bcomp.finish', mechanism: M, args: { guest: GUEST, gfn: GFN },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      const m = migrationsOf(x.g).find((y) => y.old === a.gfn);
      if (!m) return refuse('invalid', `g${x.g.id}: no migration of gfn ${hex(a.gfn as number)}`);
      return finish(w, x.g, x.d, m) ? ok() : refuse('busy', `g${x.g.id}: migration of gfn ${hex(m.old)} waits for the device`);
    },
  },
];

const faults: readonly FaultDef[] = [
  {
    name: 'bcomp-isolate-keeps-on-list', mechanism: M, breaks: ['balloon-count'],
    reproduces: 'Minchan Kim, 2015 (mm/balloon_compaction: balloon_page_dequeue walked the balloon page list without pages_lock while compaction isolated a page): a page under migration stayed reachable from the list walk, counted on the list and as isolated',
  },
];

export const balloonCompactionMechanism: MechanismModel = {
  name: 'balloon-compaction',
  operations,
  faults,
  transitions: { [M]: ['ballooned->isolated', 'isolated->ballooned', 'isolated->migrating', 'migrating->done'] },
  settle(w) {
    for (const g of w.guests) {
      const vb = balloonOf(g);
      if (vb) settleCompaction(w, g, vb, (q) => { while (deviceAck(w, g, vb, q, false)); });
    }
  },
};
