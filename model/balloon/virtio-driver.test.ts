/**
 * virtio-balloon's driver and device rules (VIRTIO 1.2 5.5.6; drivers/virtio/virtio_balloon.c):
 * - when the device may change a page (5.5.6.1 device requirements): never while its inflate is
 *   queued but not processed; with MUST_TELL_HOST from the inflate ack until the deflate ack;
 *   without MUST_TELL_HOST only while processing the inflate request;
 * - when the driver may reuse deflated pages: with MUST_TELL_HOST only after the deflate ack
 *   (leak_balloon: tell_host, then release_pages_balloon), without it at once;
 * - fill_balloon / leak_balloon take at most VIRTIO_BALLOON_ARRAY_PFNS_MAX (256) pages a
 *   request, leak_balloon the newest first (balloon_page_dequeue), and the driver does one
 *   request at a time (balloon_lock held across tell_host);
 * - adjust_managed_page_count: without DEFLATE_ON_OOM inflated pages leave totalram and deflated
 *   ones come back;
 * - the OOM notifier (DEFLATE_ON_OOM only) deflates up to 256 pages and updates actual;
 * - update_balloon_size: actual = vb->num_pages, not while the device holds a request.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { MAX_PAGE_ORDER } from '../constants';
import type { Guest } from '../guest/guest';
import { discardLog } from '../devices/discard';
import {
  balloonOf, VIRTIO_BALLOON_ARRAY_PFNS_MAX, VIRTIO_BALLOON_OOM_NR_PAGES, VIRTIO_BALLOON_F_DEFLATE_ON_OOM, VIRTIO_BALLOON_F_MUST_TELL_HOST, VIRTIO_BALLOON_FEATURES_ALL, type VirtioBalloon,
} from './virtio-balloon';

const MUST_TELL = 1 << VIRTIO_BALLOON_F_MUST_TELL_HOST;
const ON_OOM = 1 << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;

function balloon(features: number, faults: readonly string[] = []): Stepper & { g: Guest; vb: VirtioBalloon } {
  const s = stepper(machine({ 'virtio-balloon.features': features }, faults));
  const g = s.r.world.guests[0]!;
  s.apply('guest.spawn', { guest: 0 });
  return { ...s, g, vb: balloonOf(g)! };
}

const discard = (s: Stepper, gfn: number) => s.apply('vballoon.discard', { guest: 0, gfn });

test('with MUST_TELL_HOST the device may discard a page from its inflate ack until its deflate ack, never before or after', () => {
  const s = balloon(MUST_TELL);
  const { apply, vb, r } = s;
  apply('vballoon.host.target', { guest: 0, pages: 2 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 2 });
  const [a, b] = vb.list as [number, number];
  expect(discard(s, a)).toEqual({ ok: false, error: 'invalid' });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }).ok).toBe(true);
  expect(discard(s, a)).toEqual({ ok: true, value: 1 });
  apply('vballoon.host.target', { guest: 0, pages: 1 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(vb.pages.get(b)).toBe('deflating');
  expect(discard(s, b)).toEqual({ ok: true, value: 1 });
  expect(apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false }).ok).toBe(true);
  expect(discard(s, b)).toEqual({ ok: false, error: 'invalid' });
  expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(discard(s, b)).toEqual({ ok: false, error: 'invalid' });
  expect(discard(s, a)).toEqual({ ok: true, value: 1 });
  expect(r.violation).toBeNull();
});

test('without MUST_TELL_HOST the device changes a page only while acknowledging its inflate: no discard of a ballooned page later', () => {
  const s = balloon(0);
  const { apply, vb, r, world } = s;
  apply('vballoon.host.target', { guest: 0, pages: 2 });
  apply('vballoon.fill', { guest: 0 });
  const pages = [...vb.list];
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: true }).ok).toBe(true);
  // Discarded while the inflate request was processed.
  expect(discardLog(world).map((e) => e.gfn).sort()).toEqual([...pages].sort());
  for (const gfn of pages) expect(discard(s, gfn)).toEqual({ ok: false, error: 'invalid' });
  expect(r.violation).toBeNull();
});

test('an inflate ack without discard leaves the pages backed; the oldest request is acknowledged first; an empty queue is refused', () => {
  const s = balloon(MUST_TELL);
  const { apply, vb, world } = s;
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: true })).toEqual({ ok: false, error: 'invalid' });
  apply('vballoon.host.target', { guest: 0, pages: 1 });
  apply('vballoon.fill', { guest: 0 });
  const id = vb.requests[0]!.id;
  expect(apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: true })).toEqual({ ok: false, error: 'invalid' });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false })).toEqual({ ok: true, value: id });
  expect(discardLog(world)).toEqual([]);
  expect(vb.requests).toEqual([]);
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false })).toEqual({ ok: false, error: 'invalid' });
});

test('with MUST_TELL_HOST deflated pages are released only after the ack; without it at once, and the device may then ack the deflate', () => {
  for (const [features, early] of [[MUST_TELL, false], [0, true]] as const) {
    const { apply, vb, g, r } = balloon(features);
    apply('vballoon.host.target', { guest: 0, pages: 3 });
    apply('vballoon.fill', { guest: 0 });
    // Only a deflate request is ever released: not an inflate, acknowledged or not.
    expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
    apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
    apply('vballoon.host.target', { guest: 0, pages: 1 });
    expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 2 });
    const req = vb.requests[0]!;
    expect(apply('vballoon.release', { guest: 0 })).toEqual(early ? { ok: true, value: 2 } : { ok: false, error: 'invalid' });
    for (const gfn of req.pfns) expect(g.buddy.allocatedAt(gfn) ? 'allocated' : 'free').toBe(early ? 'free' : 'allocated');
    // A request released before its ack waits for the ack, but is not released again.
    expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
    // The driver still waits for the device's ack before the next request.
    expect(apply('vballoon.update', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
    expect(apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false }).ok).toBe(true);
    if (!early) expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: true, value: 2 });
    expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
    for (const gfn of req.pfns) expect(g.buddy.allocatedAt(gfn)).toBeFalsy();
    expect(vb.requests).toEqual([]);
    expect(apply('vballoon.update', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(vb.actual).toBe(1);
    expect(r.violation).toBeNull();
  }
});

test('one request at a time: fill is busy while an inflate is unacknowledged or a deflate unreleased; leak waits for the inflate ack', () => {
  const { apply, vb, r } = balloon(MUST_TELL);
  apply('vballoon.host.target', { guest: 0, pages: 2 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 2 });
  apply('vballoon.host.target', { guest: 0, pages: 4 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
  apply('vballoon.host.target', { guest: 0, pages: 0 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 2 });
  apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  apply('vballoon.host.target', { guest: 0, pages: 1 });
  // Acknowledged, not released: the driver is still in leak_balloon.
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: false, error: 'busy' });
  apply('vballoon.release', { guest: 0 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(vb.count).toBe(1);
  expect(r.violation).toBeNull();
});

test('fill and leak move at most 256 pages a request; leak takes the newest pages first and no more than the excess; at or past the target both refuse', () => {
  const { apply, vb, r } = balloon(VIRTIO_BALLOON_FEATURES_ALL);
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  apply('vballoon.host.target', { guest: 0, pages: 300 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: VIRTIO_BALLOON_ARRAY_PFNS_MAX });
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 44 });
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  expect(vb.count).toBe(300);
  expect(vb.outOfPuff).toBeNull();
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  const order = [...vb.list];
  apply('vballoon.host.target', { guest: 0, pages: 297 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 3 });
  expect(vb.requests[0]!.pfns).toEqual(order.slice(297).reverse());
  expect(vb.list).toEqual(order.slice(0, 297));
  expect(vb.count).toBe(297);
  apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  apply('vballoon.release', { guest: 0 });
  apply('vballoon.host.target', { guest: 0, pages: 0 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: VIRTIO_BALLOON_ARRAY_PFNS_MAX });
  expect(vb.count).toBe(297 - VIRTIO_BALLOON_ARRAY_PFNS_MAX);
  expect(r.violation).toBeNull();
});

test('without DEFLATE_ON_OOM ballooned pages leave the managed count and come back on release; with it they stay counted', () => {
  for (const [features, taken] of [[MUST_TELL, 5], [MUST_TELL | ON_OOM, 0]] as const) {
    const { apply, vb, r } = balloon(features);
    apply('vballoon.host.target', { guest: 0, pages: 5 });
    apply('vballoon.fill', { guest: 0 });
    apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
    expect(vb.managedDelta).toBe(taken);
    apply('vballoon.host.target', { guest: 0, pages: 2 });
    apply('vballoon.leak', { guest: 0 });
    apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
    apply('vballoon.release', { guest: 0 });
    expect(vb.managedDelta).toBe(taken === 0 ? 0 : 2);
    expect(r.violation).toBeNull();
  }
});

test('fill stops at the first failed allocation and records how many pages it could not get ("Out of puff!")', () => {
  const { apply, vb, g, r } = balloon(MUST_TELL);
  let last = 0;
  for (let order = MAX_PAGE_ORDER; order >= 0; order--) {
    while (g.buddy.freePages() - 2 ** order >= 3) {
      const a = apply('guest.kalloc', { guest: 0, order, mt: 'MOVABLE' });
      if (!a.ok) break;
      last = a.value!;
    }
  }
  expect(g.buddy.freePages()).toBe(3);
  apply('vballoon.host.target', { guest: 0, pages: 10 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 3 });
  expect(vb.outOfPuff).toEqual({ step: r.world.step, missing: 7 });
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: false, error: 'guest-oom' });
  expect(vb.outOfPuff?.missing).toBe(7);
  expect(vb.requests).toEqual([]);
  expect(vb.count).toBe(3);
  // A fill that gets every page it wants clears the record.
  expect(apply('guest.kfree', { guest: 0, alloc: last }).ok).toBe(true);
  apply('vballoon.host.target', { guest: 0, pages: 4 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(vb.outOfPuff).toBeNull();
  expect(r.violation).toBeNull();
});

test('the OOM notifier (DEFLATE_ON_OOM) deflates up to 256 pages, acknowledged and released at once, and updates actual; none without the feature or while a request is in flight', () => {
  const { apply, vb, g, r } = balloon(MUST_TELL | ON_OOM);
  apply('vballoon.host.target', { guest: 0, pages: 300 });
  apply('vballoon.fill', { guest: 0 });
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  apply('vballoon.fill', { guest: 0 });
  // A request in flight: the notifier frees nothing rather than wait for balloon_lock, though
  // 256 acknowledged pages are there.
  expect(apply('vballoon.oom', { guest: 0 })).toEqual({ ok: true, value: 0 });
  expect(vb.count).toBe(300);
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  apply('vballoon.update', { guest: 0 });
  expect(vb.actual).toBe(300);
  const newest = vb.list[vb.list.length - 1]!;
  expect(apply('vballoon.oom', { guest: 0 })).toEqual({ ok: true, value: VIRTIO_BALLOON_OOM_NR_PAGES });
  expect(vb.count).toBe(300 - VIRTIO_BALLOON_OOM_NR_PAGES);
  expect(vb.actual).toBe(300 - VIRTIO_BALLOON_OOM_NR_PAGES);
  expect(vb.requests).toEqual([]);
  expect(vb.history[vb.history.length - 1]).toMatchObject({ queue: 'deflate', viaOom: true, acked: true, released: true });
  expect(g.buddy.allocatedAt(newest)).toBeFalsy();
  expect(apply('vballoon.oom', { guest: 0 })).toEqual({ ok: true, value: 300 - VIRTIO_BALLOON_OOM_NR_PAGES });
  expect(apply('vballoon.oom', { guest: 0 })).toEqual({ ok: true, value: 0 });
  expect(vb.count).toBe(0);
  expect(r.violation).toBeNull();

  const without = balloon(MUST_TELL);
  without.apply('vballoon.host.target', { guest: 0, pages: 4 });
  without.apply('vballoon.fill', { guest: 0 });
  without.apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  expect(without.apply('vballoon.oom', { guest: 0 })).toEqual({ ok: true, value: 0 });
  expect(without.vb.count).toBe(4);
});

test('the settle phase finishes what is in flight and converges on the target, more than 256 pages away, with actual updated', () => {
  const { apply, vb, r } = balloon(VIRTIO_BALLOON_FEATURES_ALL);
  apply('vballoon.host.target', { guest: 0, pages: 40 });
  apply('vballoon.fill', { guest: 0 });
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  apply('vballoon.host.target', { guest: 0, pages: 10 });
  apply('vballoon.leak', { guest: 0 });
  // A deflate in flight, then a target 600 pages up.
  apply('vballoon.host.target', { guest: 0, pages: 600 });
  expect(r.finish()).toBeNull();
  expect(vb.requests).toEqual([]);
  expect(vb.count).toBe(600);
  expect(vb.actual).toBe(600);
  expect(vb.outOfPuff).toBeNull();
  for (const gfn of vb.list) expect(vb.pages.get(gfn)).toBe('ballooned');
});

test('the settle phase deflates to a lower target, more than 256 pages down', () => {
  const { apply, vb, r } = balloon(VIRTIO_BALLOON_FEATURES_ALL);
  apply('vballoon.host.target', { guest: 0, pages: 300 });
  for (let i = 0; i < 2; i++) {
    apply('vballoon.fill', { guest: 0 });
    apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  }
  expect(vb.count).toBe(300);
  apply('vballoon.host.target', { guest: 0, pages: 0 });
  expect(r.finish()).toBeNull();
  expect(vb.count).toBe(0);
  expect(vb.actual).toBe(0);
  expect(vb.pages.size).toBe(0);
  expect(vb.managedDelta).toBe(0);
});
