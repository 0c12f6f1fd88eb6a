/**
 * The injected bcomp-isolate-keeps-on-list fault followed past its report: balloon_page_isolate
 * must take the page off b_dev_info->pages (under pages_lock; the race Minchan Kim fixed in
 * 2015 let balloon_page_dequeue and compaction both take one page). Under the fault the
 * isolated page stays listed: balloon-count reports it at once, and once the page has been
 * migrated (virtballoon_migratepage: the new page inflated, the old one deflated) the old page
 * is still on the list though it is no longer in the balloon. A later leak_balloon walking the
 * list skips it (it is not a ballooned page) and deflates the real balloon pages only.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { balloonOf } from './virtio-balloon';

test('an isolated page left on the list is reported; after its migration the leak skips the stale entry and deflates only the ballooned pages', () => {
  const { r, apply, broke } = stepper(machine({}, ['bcomp-isolate-keeps-on-list']));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('vballoon.host.target', { guest: 0, pages: 2 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 2 });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false })).toEqual({ ok: true, value: 1 });
  const vb = balloonOf(g)!;
  const [kept, old] = vb.list as [number, number];
  expect(apply('bcomp.isolate', { guest: 0, gfn: old })).toEqual({ ok: true });
  expect(broke()).toEqual(['balloon-count|count-mismatch', 'balloon-count|listed-and-isolated']);
  expect(vb.list).toContain(old);
  const fresh = apply('bcomp.migrate', { guest: 0, gfn: old }).value!;
  expect(vb.pages.get(fresh)).toBe('inflating');
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  // The migration is over: the old page left the balloon but is still listed.
  expect(vb.requests).toEqual([]);
  expect(vb.list).toEqual([kept, old, fresh]);
  expect(vb.pages.get(old)).toBe('deflating');
  expect(vb.count).toBe(2);
  apply('vballoon.host.target', { guest: 0, pages: 0 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 2 });
  expect(vb.requests.map((q) => [q.queue, [...q.pfns].sort()])).toEqual([['deflate', [kept, fresh].sort()]]);
  expect(vb.list).toEqual([old]);
  expect(vb.count).toBe(0);
  expect(r.violation?.property).toBe('balloon-count');
});

test('with deflate-before-inflate-ack injected as well, the leak takes the unacknowledged pages but still skips the stale deflating entry', () => {
  const { r, apply } = stepper(machine({}, ['bcomp-isolate-keeps-on-list', 'vballoon-deflate-before-inflate-ack']));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('vballoon.host.target', { guest: 0, pages: 2 });
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 2 });
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  const vb = balloonOf(g)!;
  const [kept, old] = vb.list as [number, number];
  apply('bcomp.isolate', { guest: 0, gfn: old });
  const fresh = apply('bcomp.migrate', { guest: 0, gfn: old }).value!;
  apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  // The new page's inflate is still queued; the old page is listed and deflating.
  expect(vb.pages.get(fresh)).toBe('inflating');
  expect(vb.list).toEqual([kept, old, fresh]);
  apply('vballoon.host.target', { guest: 0, pages: 0 });
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 2 });
  const q = vb.requests.find((x) => x.queue === 'deflate' && !x.migration)!;
  expect([...q.pfns].sort()).toEqual([kept, fresh].sort());
  expect(q.unackedInflate).toEqual([fresh]);
  expect(vb.list).toEqual([old]);
});
