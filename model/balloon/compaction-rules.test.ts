/**
 * What balloon compaction refuses and what each refusal leaves (mm/balloon_compaction.c,
 * virtio_balloon.c virtballoon_migratepage):
 * - balloon_page_isolate takes only a page that is in the balloon, acknowledged and on the list:
 *   not a page outside the balloon, not one whose inflate is still queued, not one already
 *   isolated;
 * - balloon_page_putback puts back only an isolated page, at the end of the list, once;
 * - virtballoon_migratepage migrates only an isolated page, returns -EAGAIN while the driver
 *   holds balloon_lock (a request in flight) and fails without a target page, leaving the page
 *   isolated in both cases.
 * Throughout, the balloon's count is the pages listed plus the pages isolated (balloon-count).
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { MAX_PAGE_ORDER } from '../constants';
import type { Guest } from '../guest/guest';
import { balloonOf, VIRTIO_BALLOON_F_MUST_TELL_HOST, type VirtioBalloon } from './virtio-balloon';
import { migrationsOf } from './balloon-compaction';

/** A guest with `pages` ballooned (inflated and acknowledged). */
function inflated(pages: number, options: Record<string, number> = {}, faults: readonly string[] = []): Stepper & { g: Guest; vb: VirtioBalloon } {
  const s = stepper(machine(options, faults));
  const g = s.r.world.guests[0]!;
  s.apply('guest.spawn', { guest: 0 });
  s.apply('vballoon.host.target', { guest: 0, pages });
  expect(s.apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: pages });
  expect(s.apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }).ok).toBe(true);
  return { ...s, g, vb: balloonOf(g)! };
}

test('isolate refuses a page outside the balloon, an unacknowledged page and an isolated one; the first and the last listed page can be isolated', () => {
  const { apply, vb, r } = inflated(3);
  const [first, mid, last] = vb.list as [number, number, number];
  // A page the balloon never held.
  const outside = Math.max(first, mid, last) + 1;
  expect(vb.pages.has(outside)).toBe(false);
  expect(apply('bcomp.isolate', { guest: 0, gfn: outside })).toEqual({ ok: false, error: 'invalid' });
  expect(apply('bcomp.isolate', { guest: 0, gfn: first })).toEqual({ ok: true });
  expect(apply('bcomp.isolate', { guest: 0, gfn: first })).toEqual({ ok: false, error: 'invalid' });
  expect(apply('bcomp.isolate', { guest: 0, gfn: last })).toEqual({ ok: true });
  expect(vb.list).toEqual([mid]);
  expect([...vb.isolated]).toEqual([first, last]);
  expect(vb.count).toBe(3);
  // A page whose inflate the device has not acknowledged yet is not isolatable.
  apply('vballoon.host.target', { guest: 0, pages: 4 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 1 });
  const fresh = vb.list[vb.list.length - 1]!;
  expect(vb.pages.get(fresh)).toBe('inflating');
  expect(apply('bcomp.isolate', { guest: 0, gfn: fresh })).toEqual({ ok: false, error: 'invalid' });
  expect(vb.list).toEqual([mid, fresh]);
  expect(r.violation).toBeNull();
});

test('isolate refuses a page already isolated even when the faulty isolate left it on the list', () => {
  const { apply, vb, broke } = inflated(2, {}, ['bcomp-isolate-keeps-on-list']);
  const [a] = vb.list as [number, number];
  expect(apply('bcomp.isolate', { guest: 0, gfn: a })).toEqual({ ok: true });
  expect(broke()).toContain('balloon-count|listed-and-isolated');
  expect(apply('bcomp.isolate', { guest: 0, gfn: a })).toEqual({ ok: false, error: 'invalid' });
  expect([...vb.isolated]).toEqual([a]);
  // Putback of a page still listed does not list it twice.
  expect(apply('bcomp.putback', { guest: 0, gfn: a })).toEqual({ ok: true });
  expect(vb.list.filter((x) => x === a)).toHaveLength(1);
  expect(vb.isolated.size).toBe(0);
  expect(broke()).toEqual([]);
});

test('putback refuses a page that is not isolated and changes nothing; an isolated page goes back to the end of the list, once', () => {
  const { apply, vb, r } = inflated(3);
  const [a, b, c] = vb.list as [number, number, number];
  expect(apply('bcomp.putback', { guest: 0, gfn: a })).toEqual({ ok: false, error: 'invalid' });
  expect(vb.list).toEqual([a, b, c]);
  expect(apply('bcomp.isolate', { guest: 0, gfn: a })).toEqual({ ok: true });
  expect(vb.list).toEqual([b, c]);
  expect(apply('bcomp.putback', { guest: 0, gfn: a })).toEqual({ ok: true });
  expect(vb.list).toEqual([b, c, a]);
  expect(vb.isolated.size).toBe(0);
  expect(vb.pages.get(a)).toBe('ballooned');
  expect(apply('bcomp.putback', { guest: 0, gfn: a })).toEqual({ ok: false, error: 'invalid' });
  expect(vb.list).toEqual([b, c, a]);
  expect(vb.count).toBe(3);
  // The page put back is the first leak_balloon takes (balloon_page_dequeue from the end).
  apply('vballoon.host.target', { guest: 0, pages: 2 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(vb.pages.get(a)).toBe('deflating');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('migrate refuses a page that is not isolated, is busy while a request is in flight, and fails without a target page; the page stays isolated', () => {
  // No DEFLATE_ON_OOM: the guest's OOM path cannot deflate the balloon while memory is exhausted.
  const { apply, vb, g, r } = inflated(2, { 'virtio-balloon.features': 1 << VIRTIO_BALLOON_F_MUST_TELL_HOST });
  const [a, b] = vb.list as [number, number];
  expect(apply('bcomp.migrate', { guest: 0, gfn: a })).toEqual({ ok: false, error: 'invalid' });
  expect(apply('bcomp.isolate', { guest: 0, gfn: a })).toEqual({ ok: true });
  // A deflate in flight: the driver holds balloon_lock.
  apply('vballoon.host.target', { guest: 0, pages: 1 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(vb.pages.get(b)).toBe('deflating');
  expect(apply('bcomp.migrate', { guest: 0, gfn: a })).toEqual({ ok: false, error: 'busy' });
  expect(apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false }).ok).toBe(true);
  // Acknowledged but not released: still busy.
  expect(apply('bcomp.migrate', { guest: 0, gfn: a })).toEqual({ ok: false, error: 'busy' });
  expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: true, value: 1 });
  // Take every free guest page: no target for the migration.
  for (let order = MAX_PAGE_ORDER; order >= 0; order--) while (g.buddy.freePages() >= 2 ** order && apply('guest.kalloc', { guest: 0, order, mt: 'MOVABLE' }).ok);
  expect(g.buddy.freePages()).toBe(0);
  expect(apply('bcomp.migrate', { guest: 0, gfn: a })).toEqual({ ok: false, error: 'guest-oom' });
  expect([...vb.isolated]).toEqual([a]);
  expect(vb.pages.get(a)).toBe('ballooned');
  expect(migrationsOf(g)).toEqual([]);
  expect(vb.requests).toEqual([]);
  expect(vb.count).toBe(1);
  expect(r.violation).toBeNull();
});

test('a migration whose deflate the device acknowledged first still waits for the inflate ack before the old page is freed', () => {
  const { apply, vb, g, r } = inflated(2);
  const [old] = vb.list as [number, number];
  expect(apply('bcomp.isolate', { guest: 0, gfn: old })).toEqual({ ok: true });
  const fresh = apply('bcomp.migrate', { guest: 0, gfn: old }).value!;
  expect(vb.pages.get(fresh)).toBe('inflating');
  expect(vb.pages.get(old)).toBe('deflating');
  expect(apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false }).ok).toBe(true);
  expect(apply('bcomp.finish', { guest: 0, gfn: old })).toEqual({ ok: false, error: 'busy' });
  expect(vb.pages.get(old)).toBe('deflating');
  expect(g.buddy.allocatedAt(old)).toBeTruthy();
  expect(migrationsOf(g)).toHaveLength(1);
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }).ok).toBe(true);
  expect(apply('bcomp.finish', { guest: 0, gfn: old })).toEqual({ ok: true });
  expect(vb.pages.has(old)).toBe(false);
  expect(g.buddy.allocatedAt(old)).toBeFalsy();
  expect(vb.pages.get(fresh)).toBe('ballooned');
  expect(vb.count).toBe(2);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('after a migration the properties still find each later request by its id: a release before the deflate ack is reported (MUST_TELL_HOST)', () => {
  const { apply, vb, broke } = inflated(2, {}, ['vballoon-release-before-ack']);
  const [, old] = vb.list as [number, number];
  expect(apply('bcomp.isolate', { guest: 0, gfn: old })).toEqual({ ok: true });
  expect(apply('bcomp.migrate', { guest: 0, gfn: old }).ok).toBe(true);
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  expect(apply('bcomp.finish', { guest: 0, gfn: old })).toEqual({ ok: true });
  // Every request queued so far is in the history at its id.
  expect(vb.history.map((q, i) => q.id - i)).toEqual(vb.history.map(() => 1));
  apply('vballoon.host.target', { guest: 0, pages: 1 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(broke()).toContain('balloon-page-use|used-before-deflate-ack');
});

test('two migrations in turn are both kept until finished: the second does not lose the first', () => {
  const { apply, vb, g, r } = inflated(2);
  const [a, b] = vb.list as [number, number];
  for (const gfn of [a, b]) {
    expect(apply('bcomp.isolate', { guest: 0, gfn })).toEqual({ ok: true });
    expect(apply('bcomp.migrate', { guest: 0, gfn }).ok).toBe(true);
    apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
    apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  }
  expect(migrationsOf(g).map((m) => m.old)).toEqual([a, b]);
  // Each is finished by its own gfn, the later one first.
  expect(apply('bcomp.finish', { guest: 0, gfn: b })).toEqual({ ok: true });
  expect(migrationsOf(g).map((m) => m.old)).toEqual([a]);
  expect(apply('bcomp.finish', { guest: 0, gfn: b })).toEqual({ ok: false, error: 'invalid' });
  expect(apply('bcomp.finish', { guest: 0, gfn: a })).toEqual({ ok: true });
  expect(migrationsOf(g)).toEqual([]);
  expect(vb.count).toBe(2);
  expect(r.violation).toBeNull();
});

test('the settle phase acknowledges and finishes migrations in flight and puts isolated pages back on the list', () => {
  const { apply, vb, g, r } = inflated(3);
  const [a, b, c] = vb.list as [number, number, number];
  expect(apply('bcomp.isolate', { guest: 0, gfn: a })).toEqual({ ok: true });
  const fresh = apply('bcomp.migrate', { guest: 0, gfn: a }).value!;
  expect(apply('bcomp.isolate', { guest: 0, gfn: c })).toEqual({ ok: true });
  expect(r.finish()).toBeNull();
  expect(migrationsOf(g)).toEqual([]);
  expect(vb.pages.has(a)).toBe(false);
  expect(vb.pages.get(fresh)).toBe('ballooned');
  expect(vb.isolated.size).toBe(0);
  expect([...vb.list].sort()).toEqual([b, c, fresh].sort());
  expect(vb.count).toBe(3);
});

test("the driver never releases a migration's deflate, even without MUST_TELL_HOST: only the migration's finish frees the old page", () => {
  const { apply, vb, g, r } = inflated(2, { 'virtio-balloon.features': 0 });
  const [old] = vb.list as [number, number];
  expect(apply('bcomp.isolate', { guest: 0, gfn: old })).toEqual({ ok: true });
  expect(apply('bcomp.migrate', { guest: 0, gfn: old }).ok).toBe(true);
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  // Unacknowledged: without MUST_TELL_HOST a driver's own deflate could be released now.
  expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(g.buddy.allocatedAt(old)).toBeTruthy();
  apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  expect(apply('vballoon.release', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(vb.pages.get(old)).toBe('deflating');
  expect(apply('bcomp.finish', { guest: 0, gfn: old })).toEqual({ ok: true });
  expect(g.buddy.allocatedAt(old)).toBeFalsy();
  expect(vb.count).toBe(2);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
