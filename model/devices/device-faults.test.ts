/**
 * Deterministic scenarios for the device faults whose triggering sequence is too long for the
 * fixed 60-run budget of fuzz/faults.test.ts (campaigns find them at random): each trace breaks
 * the fault's property with the fault injected and passes, settle and teardown included,
 * without it.
 */
import type { ModelConfig } from '../config';
import { runTrace } from '../../fuzz/run';
import type { Operation } from '../../fuzz/contract';

const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };

function config(faults: string[], options: Record<string, number | boolean | string>): ModelConfig {
  return { hostFrames: 2 ** 14, guests: [guest, guest], faults, options };
}

const o = (kind: string, args: Operation['args']): Operation => ({ kind, args });

interface Scenario {
  readonly fault: string;
  readonly property: string;
  readonly kind: string;
  readonly options: Record<string, number | boolean | string>;
  readonly ops: Operation[];
}

const scenarios: Scenario[] = [
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
];

describe('device fault scenarios', () => {
  for (const s of scenarios) {
    it(`${s.fault} breaks ${s.property}`, () => {
      const r = runTrace(config([s.fault], s.options), s.ops, { check: 'incremental' });
      expect(r.violation && [r.violation.property, r.violation.kind]).toEqual([s.property, s.kind]);
    });
    it(`the same trace passes without ${s.fault}`, () => {
      const r = runTrace(config([], s.options), s.ops, { check: 'incremental' });
      expect(r.violation).toBeNull();
      expect(r.outcomes.filter((x) => x).length).toBeGreaterThan(s.ops.length / 2);
    });
  }
});
