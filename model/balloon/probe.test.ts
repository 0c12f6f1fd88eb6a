/**
 * virtballoon_probe and virtballoon_validate (drivers/virtio/virtio_balloon.c), per guest:
 * - the driver accepts every feature it knows (bits 0..5) of those offered;
 * - PAGE_POISON is dropped when the guest does not initialise free pages (neither
 *   page_poisoning nor init_on_free: "if (!want_init_on_free() && !page_poisoning_enabled_static())
 *   __virtio_clear_bit(vdev, VIRTIO_BALLOON_F_PAGE_POISON)");
 * - REPORTING is dropped when the guest initialises free pages but PAGE_POISON is not
 *   negotiated (fb69c2c896fc; spec: the driver "MUST NOT accept PAGE_REPORTING unless it also
 *   negotiates PAGE_POISON"), unless the injected fpr-ignores-guest-poison fault skips that;
 * - poison_val is written only with PAGE_POISON, as PAGE_POISON (0xaa) in every byte for a
 *   poisoning guest and 0 for init_on_free ("poison_val 0 stands for init_on_free");
 * - the stats queue exists only with STATS_VQ, primed with one buffer of the guest's figures
 *   (init_vqs: "Prime this virtqueue with one buffer").
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { PAGE_SHIFT } from '../constants';
import {
  balloonOf, VIRTIO_BALLOON_F_DEFLATE_ON_OOM, VIRTIO_BALLOON_F_PAGE_POISON, VIRTIO_BALLOON_F_REPORTING, VIRTIO_BALLOON_F_STATS_VQ, VIRTIO_BALLOON_FEATURES_ALL,
} from './virtio-balloon';

const POISON = 1 << VIRTIO_BALLOON_F_PAGE_POISON;
const REPORTING = 1 << VIRTIO_BALLOON_F_REPORTING;

interface Probe {
  readonly mode: 'off' | 'poison' | 'init-on-free';
  readonly offered: number;
  readonly faults?: readonly string[];
  readonly features: number;
  readonly poisonVal: number;
}

const CASES: readonly Probe[] = [
  // A guest that leaves free pages alone: no PAGE_POISON, reporting kept.
  { mode: 'off', offered: VIRTIO_BALLOON_FEATURES_ALL, features: VIRTIO_BALLOON_FEATURES_ALL & ~POISON, poisonVal: 0 },
  { mode: 'off', offered: VIRTIO_BALLOON_FEATURES_ALL & ~POISON, features: VIRTIO_BALLOON_FEATURES_ALL & ~POISON, poisonVal: 0 },
  // Poisoning guest with PAGE_POISON: poison_val = 0xaaaaaaaa.
  { mode: 'poison', offered: VIRTIO_BALLOON_FEATURES_ALL, features: VIRTIO_BALLOON_FEATURES_ALL, poisonVal: 0xaaaaaaaa },
  // Bits the driver does not know are not accepted.
  { mode: 'poison', offered: 0xff, features: VIRTIO_BALLOON_FEATURES_ALL, poisonVal: 0xaaaaaaaa },
  // init_on_free with PAGE_POISON: poison_val 0.
  { mode: 'init-on-free', offered: VIRTIO_BALLOON_FEATURES_ALL, features: VIRTIO_BALLOON_FEATURES_ALL, poisonVal: 0 },
  // A poisoning guest whose device does not offer PAGE_POISON: no poison_val, no reporting.
  { mode: 'poison', offered: VIRTIO_BALLOON_FEATURES_ALL & ~POISON, features: VIRTIO_BALLOON_FEATURES_ALL & ~POISON & ~REPORTING, poisonVal: 0 },
  { mode: 'init-on-free', offered: VIRTIO_BALLOON_FEATURES_ALL & ~POISON, features: VIRTIO_BALLOON_FEATURES_ALL & ~POISON & ~REPORTING, poisonVal: 0 },
  // ... unless the driver forgets fb69c2c896fc (the injected fault).
  { mode: 'poison', offered: VIRTIO_BALLOON_FEATURES_ALL & ~POISON, faults: ['fpr-ignores-guest-poison'], features: VIRTIO_BALLOON_FEATURES_ALL & ~POISON, poisonVal: 0 },
  // Nothing offered, nothing accepted.
  { mode: 'poison', offered: 0, features: 0, poisonVal: 0 },
];

test('probe negotiates the features and writes poison_val as virtballoon_validate and virtballoon_probe do, for each guest poisoning mode', () => {
  const got = CASES.map((c) => {
    const { r } = stepper(machine({ 'virtio-balloon.guest-poison': c.mode, 'virtio-balloon.features': c.offered }, c.faults ?? []));
    const vb = balloonOf(r.world.guests[0]!)!;
    return { ...c, features: vb.features, poisonVal: vb.poisonVal };
  });
  expect(got).toEqual(CASES);
});

test('the stats queue exists only with STATS_VQ; probe primes it with the guest figures at boot, unused and unseen', () => {
  const without = stepper(machine({ 'virtio-balloon.features': VIRTIO_BALLOON_FEATURES_ALL & ~(1 << VIRTIO_BALLOON_F_STATS_VQ) }));
  expect(balloonOf(without.r.world.guests[0]!)!.stats).toBeNull();
  expect(without.apply('vballoon.stats.request', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(without.apply('vballoon.stats.update', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });

  const { r, apply } = stepper(machine({ 'virtio-balloon.features': 1 << VIRTIO_BALLOON_F_STATS_VQ }));
  const g = r.world.guests[0]!;
  const s = balloonOf(g)!.stats!;
  expect(s.used).toBe(false);
  expect(s.seen).toBeNull();
  // Filled at boot, before the first operation.
  expect(s.filledAt).toBe(r.world.step);
  // Nothing allocated yet: the whole guest is free and nothing is ballooned.
  expect(s.buffer).toEqual({
    swapIn: 0, swapOut: 0, majflt: 0, minflt: 0, caches: 0,
    memfree: g.config.frames << PAGE_SHIFT,
    memtot: g.config.frames << PAGE_SHIFT,
    avail: (g.config.frames - g.buddy.watermarks().high) << PAGE_SHIFT,
  });
  // The driver refills only a buffer the device has used.
  expect(apply('vballoon.stats.update', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(apply('vballoon.stats.request', { guest: 0 })).toEqual({ ok: true });
  expect(s.seen).toEqual(s.buffer);
});

test('stats after inflating without DEFLATE_ON_OOM: memtot drops by the ballooned pages (adjust_managed_page_count), memfree by the pages taken', () => {
  const features = (1 << VIRTIO_BALLOON_F_STATS_VQ) | (1 << VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
  for (const [offered, managed] of [[1 << VIRTIO_BALLOON_F_STATS_VQ, 10], [features, 0]] as const) {
    const { r, apply } = stepper(machine({ 'virtio-balloon.features': offered }));
    const g = r.world.guests[0]!;
    const vb = balloonOf(g)!;
    apply('guest.spawn', { guest: 0 });
    apply('vballoon.host.target', { guest: 0, pages: 10 });
    expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 10 });
    expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }).ok).toBe(true);
    expect(vb.managedDelta).toBe(managed);
    const free = g.buddy.freePages();
    expect(free).toBeLessThan(g.config.frames - 10);
    expect(apply('vballoon.stats.request', { guest: 0 })).toEqual({ ok: true });
    expect(apply('vballoon.stats.update', { guest: 0 })).toEqual({ ok: true });
    expect(vb.stats!.buffer.memtot).toBe((g.config.frames - managed) << PAGE_SHIFT);
    expect(vb.stats!.buffer.memfree).toBe(free << PAGE_SHIFT);
    expect(vb.stats!.buffer.avail).toBe((free - g.buddy.watermarks().high) << PAGE_SHIFT);
    expect(vb.stats!.buffer.minflt).toBe(g.pgfault);
    expect(r.violation).toBeNull();
  }
});
