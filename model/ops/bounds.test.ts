/**
 * Operations that name a guest frame or a pageblock refuse one at or past the end of the
 * memory they address with out-of-range, and act on the last one inside it (the first frame
 * past the end is the boundary: frames are numbered 0..frames-1).
 */
import { kinds, machine, op, scenario, SMALL_GUEST } from '../../fuzz/testing/scenario';
import { PAGEBLOCK_FRAMES } from '../constants';

const outcome = (r: ReturnType<typeof scenario>) => r.results.map((x) => (x.ok ? 'ok' : x.error));

test('guest pageblock isolation: the last pageblock is isolated and released (a second isolate or release is invalid: already-isolated, not-isolated), the one past the end is out-of-range', () => {
  const last = SMALL_GUEST.frames / PAGEBLOCK_FRAMES - 1;
  const r = scenario(machine({}), [
    op('guest.isolate', { guest: 0, pageblock: last }),
    op('guest.isolate', { guest: 0, pageblock: last }),
    op('guest.unisolate', { guest: 0, pageblock: last }),
    op('guest.unisolate', { guest: 0, pageblock: last }),
    op('guest.isolate', { guest: 0, pageblock: last + 1 }),
    op('guest.unisolate', { guest: 0, pageblock: last + 1 }),
  ]);
  expect(outcome(r)).toEqual(['ok', 'invalid', 'ok', 'invalid', 'out-of-range', 'out-of-range']);
  expect(kinds(r)).toEqual([]);
});

test('host pageblock isolation: the last pageblock is isolated and released (a second isolate or release is invalid: already-isolated, not-isolated), the one past the end is out-of-range', () => {
  const config = machine({});
  const last = config.hostFrames / PAGEBLOCK_FRAMES - 1;
  const r = scenario(config, [
    op('host.isolate', { pageblock: last }),
    op('host.isolate', { pageblock: last }),
    op('host.unisolate', { pageblock: last }),
    op('host.unisolate', { pageblock: last }),
    op('host.isolate', { pageblock: last + 1 }),
    op('host.unisolate', { pageblock: last + 1 }),
  ]);
  expect(outcome(r)).toEqual(['ok', 'invalid', 'ok', 'invalid', 'out-of-range', 'out-of-range']);
  expect(kinds(r)).toEqual([]);
});

test.each(['host.reclaim.begin', 'host.migrate', 'host.fault.begin'])('%s: gfn = frames is out-of-range, the last gfn is not', (kind) => {
  const frames = SMALL_GUEST.frames;
  const r = scenario(machine({}), [op(kind, { guest: 0, gfn: frames }), op(kind, { guest: 0, gfn: frames - 1 })]);
  expect(outcome(r)[0]).toBe('out-of-range');
  expect(outcome(r)[1]).not.toBe('out-of-range');
  expect(kinds(r)).toEqual([]);
});
