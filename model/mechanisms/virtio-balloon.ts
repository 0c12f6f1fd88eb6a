/**
 * virtio-balloon (issue 3): the driver and device of model/balloon/virtio-balloon.ts as
 * operations, its injected faults, and its part of the settle phase. Guest page poisoning
 * (model/devices/page-poison.ts) is set up here, before feature negotiation reads it.
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { bool, int, oneOf, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import { initPagePoison } from '../devices/page-poison';
import {
  balloonOf, deviceAck, deviceDiscard, deviceMayModify, driverBusy, fill, leak, leakMustWait, PRESENT_OPTION, probe, registerOom, release, releasable,
  settleGuest, statsRequest, statsUpdate, towardsTarget, updateActual,
} from '../balloon/virtio-balloon';
import { guestOf } from '../ops/lookup';
import { GFN, GUEST, withDevice } from './device-args';
import { hex } from '../../properties/violation';

const M = 'virtio-balloon';

const operations: readonly OperationDef[] = [
  {
    name: 'vballoon.host.target', mechanism: M, args: { guest: GUEST, pages: int(0, 2 ** 20) },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      x.d.numPages = a.pages as number;
      w.journal.note(() => `g${x.g.id}: host sets num_pages ${x.d.numPages}`);
      return ok();
    },
  },
  {
    name: 'vballoon.fill', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      if (driverBusy(x.d)) return refuse('busy', `g${x.g.id}: balloon request in flight`);
      if (towardsTarget(x.d) <= 0) return refuse('invalid', `g${x.g.id}: balloon at or above target`);
      const n = fill(w, x.g, x.d);
      return n > 0 ? ok(n) : refuse('guest-oom', `g${x.g.id}: Out of puff! Can't get ${Math.min(towardsTarget(x.d), 256)} pages`);
    },
  },
  {
    name: 'vballoon.leak', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      if (leakMustWait(w, x.d)) return refuse('busy', `g${x.g.id}: balloon request in flight`);
      const diff = towardsTarget(x.d);
      if (diff >= 0) return refuse('invalid', `g${x.g.id}: balloon not above target`);
      const r = leak(w, x.g, x.d, -diff, false);
      return r ? ok(r.pfns.length) : refuse('invalid', `g${x.g.id}: no acknowledged page to deflate`);
    },
  },
  {
    name: 'vballoon.ack', mechanism: M, args: { guest: GUEST, queue: oneOf('inflate', 'deflate'), discard: bool },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      const r = deviceAck(w, x.g, x.d, a.queue as 'inflate' | 'deflate', a.discard as boolean);
      return r ? ok(r.id) : refuse('invalid', `g${x.g.id}: ${String(a.queue)}q is empty`);
    },
  },
  {
    name: 'vballoon.discard', mechanism: M, args: { guest: GUEST, gfn: GFN },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      const gfn = a.gfn as number;
      if (!deviceMayModify(x.d, gfn)) return refuse('invalid', `g${x.g.id} gfn ${hex(gfn)}: the device may not modify it now`);
      return ok(deviceDiscard(w, x.g, x.d, gfn));
    },
  },
  {
    name: 'vballoon.release', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      const r = releasable(w, x.d);
      return r ? ok(release(w, x.g, x.d, r)) : refuse('invalid', `g${x.g.id}: no deflate request may be released`);
    },
  },
  {
    name: 'vballoon.update', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      if (x.d.requests.some((r) => !r.acked)) return refuse('busy', `g${x.g.id}: waiting for the device`);
      updateActual(w, x.g, x.d);
      return ok(x.d.actual);
    },
  },
  {
    // out_of_memory -> blocking_notifier_call_chain(&oom_notify_list): every registered OOM
    // notifier of the guest, in order, before any kill (so the balloon's deflate-on-OOM can be
    // exercised without the OOM killer).
    name: 'vballoon.oom', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      let freed = 0;
      for (const n of g.oomNotifiers) freed += n(w, g);
      return ok(freed);
    },
  },
  {
    name: 'vballoon.stats.request', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      return statsRequest(w, x.g, x.d) ? ok() : refuse('invalid', `g${x.g.id}: no stats buffer available`);
    },
  },
  {
    name: 'vballoon.stats.update', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, balloonOf, 'virtio-balloon');
      if ('ok' in x) return x;
      return statsUpdate(w, x.g, x.d) ? ok() : refuse('invalid', `g${x.g.id}: no used stats buffer to refill`);
    },
  },
];

const faults: readonly FaultDef[] = [
  {
    name: 'vballoon-release-before-ack', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['balloon-page-use'],
    reproduces: 'virtio_balloon.c leak_balloon ("we *have* to do it in this order"): with MUST_TELL_HOST the pages were released before the device acknowledged the deflate (VIRTIO balloon: "the driver MUST NOT use pages from the balloon until the device has acknowledged the deflate request")',
  },
  {
    name: 'vballoon-deflate-before-inflate-ack', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['balloon-deflate-rules'],
    reproduces: 'VIRTIO balloon driver requirement "The driver MUST NOT request deflation of pages in the balloon before the device has acknowledged the inflate request" (Linux keeps it by holding balloon_lock across tell_host)',
  },
  {
    name: 'vballoon-oom-ignores-feature', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['balloon-deflate-rules'],
    reproduces: 'VIRTIO balloon: "If VIRTIO_BALLOON_F_DEFLATE_ON_OOM has not been negotiated, the driver MUST NOT use pages from the balloon" below num_pages; virtballoon_probe registers the OOM notifier only with the feature',
  },
  {
    name: 'vballoon-leak-skips-actual-update', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['balloon-actual'],
    reproduces: 'VIRTIO balloon: "The driver MUST update actual after changing the number of pages in the balloon" (update_balloon_size after leak_balloon)',
  },
  {
    name: 'vballoon-work-not-requeued', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['balloon-converges'],
    reproduces: 'virtio_balloon.c update_balloon_size_func re-queues itself while towards_target is non-zero ("if (diff) queue_work"); without it a target more than 256 pages away is never reached',
  },
  {
    name: 'vballoon-stats-stale-buffer', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['balloon-stats-truth'],
    reproduces: 'VIRTIO balloon statistics: "Before making an output buffer available in the statsq, the driver MUST initialize it" (stats_handle_request calls update_balloon_stats first)',
  },
  {
    name: 'vballoon-discard-whole-host-page', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['device-discards-only-donated', 'read-returns-last-write'],
    reproduces: 'QEMU 483f13524bb2 (virtio-balloon: Safely handle BALLOON_PAGE_SIZE < host page size): the whole host huge page was discarded when only one 4 KiB sub-page was inflated, corrupting live guest data',
  },
];

export const virtioBalloonMechanism: MechanismModel = {
  name: 'virtio-balloon',
  operations,
  faults,
  transitions: {
    [M]: ['guest->inflating', 'inflating->ballooned', 'ballooned->deflating', 'deflating->deflate-acked', 'deflating->guest'],
  },
  init(w) {
    initPagePoison(w);
    if (!w.option<boolean>(PRESENT_OPTION, true)) return;
    for (const g of w.guests) registerOom(w, g, probe(w, g));
  },
  settle(w) {
    for (const g of w.guests) {
      const vb = balloonOf(g);
      if (vb) settleGuest(w, g, vb);
    }
  },
};
