/**
 * virtio-balloon on a guest whose memory the host backs with 2 MiB pages. The balloon works in
 * 4 KiB pages, and QEMU discards a host huge page only when every 4 KiB sub-page of it is in
 * the balloon (hw/virtio/virtio-balloon.c balloon_inflate_page with PartiallyBalloonedPage,
 * 483f13524bb2: before it, one inflated sub-page discarded the whole huge page). Here a
 * 2 MiB unit is inflated in two requests of 256 pages: after the first the host page stays,
 * whole; after the second it goes back to the host in one piece.
 */
import type { Runner } from '../../fuzz/run';
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { balloonOf } from './virtio-balloon';

function inflateUnitHalf(options: Record<string, number>, discard = true): { r: Runner; apply: Stepper['apply']; base: number; unit: number; hfn: number } {
  const { r, apply } = stepper(machine(options, [], 1, true));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  // A guest kernel page block touched once (the host backs its unit with one 2 MiB page), then freed.
  expect(apply('guest.kalloc', { guest: 0, order: 9, mt: 'MOVABLE' })).toEqual({ ok: true, value: 1 });
  const base = g.kernelAllocs.get(1)!.gfn;
  const unit = base / FRAMES_PER_2M;
  expect(Number.isInteger(unit)).toBe(true);
  expect(apply('guest.kwrite', { guest: 0, alloc: 1 }).ok).toBe(true);
  expect(g.hugeBacked.has(unit)).toBe(true);
  const hfn = g.backing.get(base)!;
  expect(apply('guest.kfree', { guest: 0, alloc: 1 }).ok).toBe(true);
  apply('vballoon.host.target', { guest: 0, pages: FRAMES_PER_2M });
  const vb = balloonOf(g)!;
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 256 });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard }).ok).toBe(true);
  expect(vb.partial.get(unit)?.size).toBe(discard ? 256 : undefined);
  expect(g.hugeBacked.has(unit)).toBe(true);
  expect(g.backing.get(base)).toBe(hfn);
  return { r, apply, base, unit, hfn };
}

test('a 2 MiB host page is discarded only when all 512 of its sub-pages are ballooned: kept after 256, freed whole after 512', () => {
  const { r, apply, base, unit, hfn } = inflateUnitHalf({});
  const g = r.world.guests[0]!;
  const vb = balloonOf(g)!;
  const hostFree = r.world.hostBuddy.freePages();
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 256 });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: true }).ok).toBe(true);
  expect([...vb.list].sort((a, b) => a - b)).toEqual(Array.from({ length: FRAMES_PER_2M }, (_, i) => base + i));
  expect(vb.partial.has(unit)).toBe(false);
  expect(g.hugeBacked.has(unit)).toBe(false);
  for (let i = 0; i < FRAMES_PER_2M; i++) expect(g.backing.has(base + i)).toBe(false);
  expect(r.world.frames.owner(hfn)).toBeUndefined();
  expect(r.world.hostBuddy.freePages()).toBe(hostFree + FRAMES_PER_2M);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

// QEMU tracks a sub-page only when it discards it (balloon_inflate_page returns before the
// PartiallyBalloonedPage bitmap while discarding is off), so pages acknowledged without a
// discard never count towards the whole host page.
test('a unit whose first half was acknowledged without a discard keeps its host page when the second half is discarded', () => {
  const { r, apply, base, unit, hfn } = inflateUnitHalf({}, false);
  const g = r.world.guests[0]!;
  const vb = balloonOf(g)!;
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 256 });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: true }).ok).toBe(true);
  expect(vb.list.length).toBe(FRAMES_PER_2M);
  expect(vb.partial.get(unit)?.size).toBe(256);
  expect(g.hugeBacked.has(unit)).toBe(true);
  expect(g.backing.get(base)).toBe(hfn);
  expect(r.violation).toBeNull();
});

// Without VIRTIO_BALLOON_F_MUST_TELL_HOST the driver may reuse a ballooned page without
// telling the device (VIRTIO 1.2 5.5.6.1; the device side, 5.5.6.2, is deviceMayModify), so once an
// inflate is acknowledged the device may no longer change those pages: completing the unit
// with a second request does not let it discard the whole host page.
test('without MUST_TELL_HOST the host page stays when the unit completes: the first request\'s pages may not be changed after their ack', () => {
  const { r, apply, base, unit, hfn } = inflateUnitHalf({ 'virtio-balloon.features': 0 });
  const g = r.world.guests[0]!;
  const vb = balloonOf(g)!;
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 256 });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: true }).ok).toBe(true);
  expect(vb.partial.get(unit)?.size).toBe(FRAMES_PER_2M);
  expect(g.hugeBacked.has(unit)).toBe(true);
  expect(g.backing.get(base)).toBe(hfn);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a deflate acknowledgement takes its pages out of the partly ballooned unit (QEMU balloon_deflate_page)', () => {
  const { r, apply, unit } = inflateUnitHalf({});
  const vb = balloonOf(r.world.guests[0]!)!;
  apply('vballoon.host.target', { guest: 0, pages: 246 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 10 });
  const gone = [...vb.requests[0]!.pfns];
  // Until the device acknowledges the deflate, the pages still count towards the unit.
  expect(vb.partial.get(unit)?.size).toBe(256);
  expect(apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false }).ok).toBe(true);
  expect(vb.partial.get(unit)?.size).toBe(246);
  for (const gfn of gone) expect(vb.partial.get(unit)?.has(gfn)).toBe(false);
  expect(r.violation).toBeNull();
});

test('a migrated page leaves the partly ballooned unit when the device acknowledges the migration\'s deflate', () => {
  const { r, apply, unit } = inflateUnitHalf({});
  const vb = balloonOf(r.world.guests[0]!)!;
  const old = [...vb.partial.get(unit)!][0]!;
  expect(apply('bcomp.isolate', { guest: 0, gfn: old })).toEqual({ ok: true });
  expect(apply('bcomp.migrate', { guest: 0, gfn: old }).ok).toBe(true);
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }).ok).toBe(true);
  expect(vb.partial.get(unit)?.size).toBe(256);
  expect(apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false }).ok).toBe(true);
  expect(vb.partial.get(unit)?.size).toBe(255);
  expect(vb.partial.get(unit)?.has(old)).toBe(false);
  expect(apply('bcomp.finish', { guest: 0, gfn: old })).toEqual({ ok: true });
  expect(r.violation).toBeNull();
});
