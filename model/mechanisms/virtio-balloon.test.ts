/**
 * The virtio-balloon operations' refusals say why: a deflate with the balloon exactly at its
 * target is refused because nothing is to be given back (num_pages == actual, towards_target
 * is 0), not because no page could be deflated; the same balloon above its target deflates.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';

test('vballoon.leak at the target is refused as "not above target"; lowering the target deflates', () => {
  const r = scenario(machine({}), [
    op('vballoon.host.target', { guest: 0, pages: 4 }),
    op('vballoon.fill', { guest: 0 }),
    op('vballoon.ack', { guest: 0, queue: 'inflate', discard: false }),
    op('vballoon.leak', { guest: 0 }),
    op('vballoon.host.target', { guest: 0, pages: 1 }),
    op('vballoon.leak', { guest: 0 }),
  ]);
  expect(r.results[1]).toEqual({ ok: true, value: 4 });
  expect(r.results[3]).toEqual({ ok: false, error: 'invalid', detail: 'g0: balloon not above target' });
  expect(r.results[5]).toEqual({ ok: true, value: 3 });
  expect(kinds(r)).toEqual([]);
});
