/**
 * Deterministic scenarios for the device faults (model/mechanisms/*.ts name this file as their
 * `scenario`): each trace breaks the fault's property with the fault injected and passes,
 * settle and teardown included, without it. Campaigns find the same faults at random (see the
 * 60-second campaign figures in the issue); fuzz/faults.test.ts keeps its fixed random budget
 * for one device fault of the reporting, compaction and memctl mechanisms, since 60 runs per
 * fault for all nineteen would add about 90 s to npm test.
 */
import type { ModelConfig } from '../config';
import { Runner, runTrace } from '../../fuzz/run';
import type { Operation } from '../../fuzz/contract';

const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };

function config(faults: string[], options: Record<string, number | boolean | string>, huge = false): ModelConfig {
  return { hostFrames: 2 ** 14, guests: [{ ...guest, hugePages: huge }, guest], faults, options };
}

const o = (kind: string, args: Operation['args']): Operation => ({ kind, args });

interface Scenario {
  readonly fault: string;
  readonly property: string;
  readonly kind: string;
  readonly options: Record<string, number | boolean | string>;
  readonly ops: Operation[];
  /** Guest 0 backed by 2 MiB host pages. */
  readonly huge?: boolean;
}

const balloonUp = [o('vballoon.host.target', { guest: 0, pages: 10 }), o('vballoon.fill', { guest: 0 }), o('vballoon.ack', { guest: 0, queue: 'inflate', discard: true })];
/**
 * Two order-5 kernel blocks, buddies; the upper one freed before a report, the lower one during
 * it. An order-6 block stays allocated below them, so the block they merge into starts at gfn
 * 64: neither 0 nor the reported block's head (a mark on either could pass for the merged one).
 */
const reportRace = [
  o('guest.kalloc', { guest: 0, order: 6, mt: 'MOVABLE' }),
  o('guest.kalloc', { guest: 0, order: 5, mt: 'MOVABLE' }), o('guest.kalloc', { guest: 0, order: 5, mt: 'MOVABLE' }), o('guest.kfree', { guest: 0, alloc: 3 }),
  o('fpr.work', { guest: 0 }), o('guest.kfree', { guest: 0, alloc: 2 }), o('fpr.device.report', { guest: 0, discard: true }), o('fpr.work', { guest: 0 }),
];
const reporting = { 'free-page-reporting.order': 5 };

const scenarios: Scenario[] = [
  {
    fault: 'vballoon-release-before-ack', property: 'balloon-page-use', kind: 'used-before-deflate-ack', options: {},
    ops: [...balloonUp, o('vballoon.host.target', { guest: 0, pages: 0 }), o('vballoon.leak', { guest: 0 }), o('vballoon.release', { guest: 0 })],
  },
  {
    fault: 'vballoon-oom-ignores-feature', property: 'balloon-deflate-rules', kind: 'deflate-below-target', options: { 'virtio-balloon.features': 0x3b },
    ops: [...balloonUp, o('vballoon.oom', { guest: 0 })],
  },
  {
    fault: 'vballoon-leak-skips-actual-update', property: 'balloon-actual', kind: 'actual-stale', options: {},
    ops: [...balloonUp, o('vballoon.update', { guest: 0 }), o('vballoon.host.target', { guest: 0, pages: 0 })],
  },
  {
    fault: 'vballoon-work-not-requeued', property: 'balloon-converges', kind: 'target-not-reached', options: {},
    ops: [o('vballoon.host.target', { guest: 0, pages: 600 })],
  },
  {
    fault: 'vballoon-stats-stale-buffer', property: 'balloon-stats-truth', kind: 'stale-statistic', options: {},
    ops: [o('vballoon.stats.request', { guest: 0 }), o('guest.kalloc', { guest: 0, order: 3, mt: 'MOVABLE' }), o('vballoon.stats.update', { guest: 0 })],
  },
  {
    fault: 'vballoon-discard-whole-host-page', property: 'device-discards-only-donated', kind: 'discarded-live-page', options: {}, huge: true,
    ops: [o('guest.kalloc', { guest: 0, order: 0, mt: 'MOVABLE' }), o('guest.kwrite', { guest: 0, alloc: 1 }), ...balloonUp, o('guest.kread', { guest: 0, alloc: 1 })],
  },
  {
    fault: 'vmw-2m-without-batching', property: 'vmw-balloon-accounting', kind: 'size-mismatch', options: { 'vmware-balloon.caps': 0x2 | 0x8 },
    ops: [o('vmw.host.target', { guest: 0, pages: 512 }), o('vmw.inflate', { guest: 0, small: false }), o('vmw.lock', { guest: 0, refuse: 0 })],
  },
  { fault: 'fpr-mark-without-order-check', property: 'reported-marks', kind: 'mark-unreported', options: reporting, ops: reportRace },
  { fault: 'fpr-no-reschedule', property: 'reporting-returns-idle', kind: 'reporting-stuck', options: reporting, ops: reportRace },
  {
    fault: 'memctl-no-bounds-check', property: 'memctl-confined', kind: 'touched-other-guest', options: { 'memctl.enabled': true },
    ops: [o('memctl.write', { guest: 0, gfn: 4095 }), o('memctl.request', { guest: 0, func: 'DONTNEED', gfn: 4095, pages: 2 })],
  },
  {
    fault: 'memctl-pageout-ignores-mlock', property: 'memctl-mlock-respected', kind: 'mlocked-paged-out', options: { 'memctl.enabled': true },
    ops: [o('memctl.request', { guest: 0, func: 'MLOCK', gfn: 3072, pages: 1 }), o('memctl.request', { guest: 0, func: 'PAGEOUT', gfn: 3072, pages: 1 })],
  },
  {
    fault: 'vballoon-deflate-before-inflate-ack', property: 'balloon-deflate-rules', kind: 'deflate-before-inflate-ack', options: {},
    ops: [o('vballoon.host.target', { guest: 0, pages: 10 }), o('vballoon.fill', { guest: 0 }), o('vballoon.host.target', { guest: 0, pages: 0 }), o('vballoon.leak', { guest: 0 })],
  },
  {
    fault: 'fph-device-modifies-after-done', property: 'hinting-device-rules', kind: 'modified-after-done', options: {},
    ops: [
      o('fph.host.start', { guest: 0 }), o('fph.driver.config', { guest: 0 }), o('fph.driver.hint', { guest: 0 }), o('fph.device.process', { guest: 0 }),
      o('fph.device.process', { guest: 0 }), o('fph.host.done', { guest: 0 }), o('fph.device.discard', { guest: 0, gfn: 0 }),
    ],
  },
  {
    fault: 'fpr-ignores-guest-poison', property: 'free-page-poison-intact', kind: 'poison-overwritten',
    options: { 'virtio-balloon.guest-poison': 'poison', 'virtio-balloon.features': 0x2f, 'free-page-reporting.order': 5 },
    ops: [
      o('guest.kalloc', { guest: 0, order: 10, mt: 'MOVABLE' }), o('guest.kfree', { guest: 0, alloc: 1 }), o('fpr.work', { guest: 0 }),
      o('fpr.device.report', { guest: 0, discard: true }), o('fpr.work', { guest: 0 }),
      ...[0, 1, 2, 3].map(() => o('guest.kalloc', { guest: 0, order: 10, mt: 'MOVABLE' })),
    ],
  },
  {
    fault: 'memctl-host-skips-zeroing', property: 'memctl-zeroed-once', kind: 'never-zeroed', options: { 'memctl.enabled': true },
    ops: [o('memctl.write', { guest: 0, gfn: 4095 }), o('memctl.request', { guest: 0, func: 'DONTNEED', gfn: 3072, pages: 1024 }), o('memctl.read', { guest: 0, gfn: 4095 })],
  },
  {
    // A written (RWX-mapped) page made read-only: the zap must remove the writable leaf, so the
    // later write is refused; without it the write completes through the stale leaf.
    fault: 'memctl-mprotect-skips-notifier', property: 'memctl-protection-respected', kind: 'stale-ept-leaf', options: { 'memctl.enabled': true },
    ops: [
      o('memctl.write', { guest: 0, gfn: 3072 }), o('memctl.request', { guest: 0, func: 'MPROTECT_R', gfn: 3072, pages: 1 }), o('memctl.read', { guest: 0, gfn: 3072 }),
      o('memctl.write', { guest: 0, gfn: 3072 }), o('memctl.request', { guest: 0, func: 'MPROTECT_RW', gfn: 3072, pages: 1 }), o('memctl.write', { guest: 0, gfn: 3072 }),
    ],
  },
];

describe('device fault scenarios', () => {
  for (const s of scenarios) {
    it(`${s.fault} breaks ${s.property}`, () => {
      const r = runTrace(config([s.fault], s.options, s.huge), s.ops, { check: 'incremental' });
      expect(r.violation && [r.violation.property, r.violation.kind]).toEqual([s.property, s.kind]);
    });
    it(`${s.fault}: the incremental and the full check agree at every step`, () => {
      const inc = new Runner(config([s.fault], s.options, s.huge), { check: 'incremental' });
      const full = new Runner(config([s.fault], s.options, s.huge), { check: 'full' });
      for (const op of s.ops) {
        const a = [...new Set(inc.apply(op).map((v) => `${v.property}|${v.kind}`))].sort();
        const b = [...new Set(full.apply(op).map((v) => `${v.property}|${v.kind}`))].sort();
        expect({ step: inc.step, found: a }).toEqual({ step: full.step, found: b });
        if (a.length > 0) return;
      }
      const fa = inc.finish();
      const fb = full.finish();
      expect(fa && `${fa.property}|${fa.kind}`).toEqual(fb && `${fb.property}|${fb.kind}`);
    });
    it(`the same trace passes without ${s.fault}`, () => {
      const r = runTrace(config([], s.options, s.huge), s.ops, { check: 'incremental' });
      expect(r.violation).toBeNull();
      expect(r.outcomes.filter((x) => x).length).toBeGreaterThanOrEqual(s.ops.length / 2);
    });
  }
});
