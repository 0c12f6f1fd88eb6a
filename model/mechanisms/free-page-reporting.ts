/**
 * free-page-reporting (issue 3): mm/page_reporting.c and the balloon's reporting_vq
 * (model/reporting/free-page-reporting.ts).
 */
import { FEATURES_OPTION, PRESENT_OPTION, VIRTIO_BALLOON_FEATURES_ALL, VIRTIO_BALLOON_F_PAGE_POISON } from '../balloon/virtio-balloon';
import { POISON_OPTION } from '../devices/page-poison';
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { bool, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import { deviceReport, registerReporting, reportingOf, reportingWork, settleReporting } from '../reporting/free-page-reporting';
import { GUEST, withDevice } from './device-args';

const M = 'free-page-reporting';

const operations: readonly OperationDef[] = [
  {
    name: 'fpr.work', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, reportingOf, 'free page reporting');
      if ('ok' in x) return x;
      const out = reportingWork(w, x.g, x.d, false);
      if (out === 'idle') return refuse('invalid', `g${x.g.id}: no reporting work queued`);
      if (out === 'not-due') return refuse('busy', `g${x.g.id}: reporting delayed until tick ${x.d.dueAt}`);
      if (out === 'waiting') return refuse('busy', `g${x.g.id}: report in flight`);
      return ok();
    },
  },
  {
    name: 'fpr.device.report', mechanism: M, args: { guest: GUEST, discard: bool },
    apply: (w, a) => {
      const x = withDevice(w, a, reportingOf, 'free page reporting');
      if ('ok' in x) return x;
      return deviceReport(w, x.g, x.d, a.discard as boolean) ? ok() : refuse('invalid', `g${x.g.id}: no report in flight`);
    },
  },
];

const faults: readonly FaultDef[] = [
  {
    name: 'fpr-report-without-isolation', mechanism: M, breaks: ['reporting-isolation', 'device-discards-only-donated'],
    reproduces: 'mm/page_reporting.c page_reporting_cycle: a block is reported only after __isolate_free_page took it off the free lists ("The driver MUST NOT use the reported pages until the device has acknowledged"); left on the lists it can be allocated and written while the host discards it',
  },
  {
    name: 'fpr-ignores-guest-poison', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['free-page-poison-intact'],
    // The bug needs page_poisoning in the guest and a host that offers reporting without PAGE_POISON.
    machine: { [POISON_OPTION]: 'poison', [PRESENT_OPTION]: true, [FEATURES_OPTION]: VIRTIO_BALLOON_FEATURES_ALL & ~(1 << VIRTIO_BALLOON_F_PAGE_POISON) },
    reproduces: 'fb69c2c896fc (virtio-balloon: Disable free page reporting if page poison reporting is not enabled): the host discarded reported pages whose poison the guest still checked',
  },
  {
    name: 'fpr-mark-without-order-check', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['reported-marks'],
    reproduces: 'mm/page_reporting.c page_reporting_drain: "if (PageBuddy(page) && buddy_order(page) == order) __SetPageReported(page)"; a block that merged on putback must not be flagged, its other half was never reported',
  },
  {
    name: 'fpr-no-reschedule', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['reporting-returns-idle'],
    reproduces: 'mm/page_reporting.c page_reporting_process: "If the state has reverted back to requested ... We will defer for 2s"; without the reschedule the state stays REQUESTED with no work queued and reporting never runs again',
  },
];

export const freePageReportingMechanism: MechanismModel = {
  name: 'free-page-reporting',
  operations,
  faults,
  transitions: {
    [M]: ['idle->requested', 'requested->active', 'active->idle', 'active->requested', 'free->isolated', 'isolated->in-flight', 'in-flight->reported'],
  },
  init(w) {
    for (const g of w.guests) registerReporting(w, g);
  },
  settle(w) {
    for (const g of w.guests) {
      const f = reportingOf(g);
      if (f) settleReporting(w, g, f);
    }
  },
};
