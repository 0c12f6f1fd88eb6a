/**
 * Balloon compaction's migration of a ballooned page (virtballoon_migratepage): the new page is
 * inflated and the old one deflated through the device; the old page goes back to the guest
 * only once the device has acknowledged both requests (finish refuses before), and the balloon
 * holds as many pages after as before.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { balloonOf } from './virtio-balloon';
import { migrationsOf } from './balloon-compaction';

test('bcomp: isolate, migrate, finish refused until both the inflate and the deflate are acknowledged, then the old page is free', () => {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [], options: {} };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'vballoon.host.target', args: { guest: 0, pages: 10 } });
  r.apply({ kind: 'vballoon.fill', args: { guest: 0 } });
  r.apply({ kind: 'vballoon.ack', args: { guest: 0, queue: 'inflate', discard: true } });
  const g = r.world.guests[0]!;
  const vb = balloonOf(g)!;
  const before = vb.numPages;
  const old = vb.list[0]!;
  expect(old).toBeDefined();
  errors.length = 0;
  r.apply({ kind: 'bcomp.finish', args: { guest: 0, gfn: old } });
  r.apply({ kind: 'bcomp.isolate', args: { guest: 0, gfn: old } });
  r.apply({ kind: 'bcomp.migrate', args: { guest: 0, gfn: old } });
  const [m] = migrationsOf(g);
  expect(m?.old).toBe(old);
  r.apply({ kind: 'bcomp.finish', args: { guest: 0, gfn: old } });
  r.apply({ kind: 'vballoon.ack', args: { guest: 0, queue: 'inflate', discard: true } });
  r.apply({ kind: 'bcomp.finish', args: { guest: 0, gfn: old } });
  expect(g.buddy.allocatedAt(old)).toBeTruthy();
  r.apply({ kind: 'vballoon.ack', args: { guest: 0, queue: 'deflate', discard: false } });
  r.apply({ kind: 'bcomp.finish', args: { guest: 0, gfn: old } });
  expect(errors).toEqual(['invalid', undefined, undefined, 'busy', undefined, 'busy', undefined, undefined]);
  expect(migrationsOf(g)).toEqual([]);
  expect(vb.pages.has(old)).toBe(false);
  expect(g.owners.has(old)).toBe(false);
  expect(g.buddy.allocatedAt(old)).toBeFalsy();
  expect(vb.pages.get(m!.new)).toBe('ballooned');
  expect(vb.numPages).toBe(before);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
