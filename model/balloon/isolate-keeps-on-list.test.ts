/**
 * The injected bcomp-isolate-keeps-on-list fault followed past its report: balloon_page_isolate
 * must take the page off b_dev_info->pages (under pages_lock; the race Minchan Kim fixed in
 * 2015 let balloon_page_dequeue and compaction both take one page). Under the fault the
 * isolated page stays listed: balloon-count reports it at once, and once the page has been
 * migrated (virtballoon_migratepage: the new page inflated, the old one deflated) the old page
 * is still on the list though it is no longer in the balloon. A later leak_balloon walking the
 * list skips it (it is not a ballooned page) and deflates the real balloon pages only.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { balloonOf } from './virtio-balloon';

type Step = { outcome: string; broke: string[] };

test('an isolated page left on the list is reported; after its migration the leak skips the stale entry and deflates only the ballooned pages', () => {
  const log: Step[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: ['bcomp-isolate-keeps-on-list'], options: {} };
  const r = new Runner(c, {
    check: 'incremental',
    onStep: (_s, _op, res, _ch, v) => log.push({ outcome: res.ok ? `ok ${String(res.value)}` : res.error, broke: v.map((x) => `${x.property}|${x.kind}`) }),
  });
  const apply = (kind: string, args: Record<string, string | number | boolean>): Step => {
    r.apply({ kind, args });
    return log[log.length - 1]!;
  };
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('vballoon.host.target', { guest: 0, pages: 2 });
  expect(apply('vballoon.fill', { guest: 0 }).outcome).toBe('ok 2');
  expect(apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }).outcome).toBe('ok 1');
  const vb = balloonOf(g)!;
  const [kept, old] = vb.list as [number, number];
  expect(apply('bcomp.isolate', { guest: 0, gfn: old })).toEqual({ outcome: 'ok undefined', broke: ['balloon-count|count-mismatch', 'balloon-count|listed-and-isolated'] });
  expect(vb.list).toContain(old);
  const migrated = apply('bcomp.migrate', { guest: 0, gfn: old });
  const fresh = Number(migrated.outcome.slice(3));
  expect(vb.pages.get(fresh)).toBe('inflating');
  apply('vballoon.ack', { guest: 0, queue: 'inflate', discard: false });
  apply('vballoon.ack', { guest: 0, queue: 'deflate', discard: false });
  // The migration is over: the old page left the balloon but is still listed.
  expect(vb.requests).toEqual([]);
  expect(vb.list).toEqual([kept, old, fresh]);
  expect(vb.pages.get(old)).toBe('deflating');
  expect(vb.count).toBe(2);
  apply('vballoon.host.target', { guest: 0, pages: 0 });
  expect(apply('vballoon.leak', { guest: 0 }).outcome).toBe('ok 2');
  expect(vb.requests.map((q) => [q.queue, [...q.pfns].sort()])).toEqual([['deflate', [kept, fresh].sort()]]);
  expect(vb.list).toEqual([old]);
  expect(vb.count).toBe(0);
  expect(r.violation?.property).toBe('balloon-count');
});
