/**
 * virtio-balloon's leak while balloon compaction holds every balloon page isolated
 * (mm/balloon_compaction.c balloon_page_isolate takes the page off b_dev_info->pages): the
 * driver's leak_balloon -> balloon_page_dequeue finds no page on the list (the isolated ones
 * are counted in isolated_pages, so this is not the "balloon pages are lost" BUG) and deflates
 * nothing. The vballoon.leak operation refuses ('invalid', no acknowledged page to deflate),
 * and after the putback (balloon_page_putback) the pages deflate normally.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { balloonOf } from './virtio-balloon';

test('a leak with every balloon page isolated deflates nothing: invalid, the balloon keeps its count and its pages', () => {
  const { r, apply } = stepper(machine({}));
  expect(apply('guest.spawn', { guest: 0 }).ok).toBe(true);
  expect(apply('vballoon.host.target', { guest: 0, pages: 2 }).ok).toBe(true);
  expect(apply('vballoon.fill', { guest: 0 })).toEqual({ ok: true, value: 2 });
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }).ok).toBe(true);
  const vb = balloonOf(r.world.guests[0]!)!;
  const gfns = [...vb.list];
  expect(gfns).toHaveLength(2);
  for (const gfn of gfns) expect(apply('bcomp.isolate', { guest: 0, gfn }).ok).toBe(true);
  expect(vb.list).toEqual([]);
  expect(vb.count).toBe(2);
  expect(apply('vballoon.host.target', { guest: 0, pages: 0 }).ok).toBe(true);
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  expect(vb.count).toBe(2);
  expect(vb.requests.filter((q) => q.queue === 'deflate')).toEqual([]);
  for (const gfn of gfns) expect(vb.pages.get(gfn)).toBe('ballooned');
  // Put back on the list, the pages deflate.
  for (const gfn of gfns) expect(apply('bcomp.putback', { guest: 0, gfn }).ok).toBe(true);
  expect(apply('vballoon.leak', { guest: 0 })).toEqual({ ok: true, value: 2 });
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
