/**
 * The guest kernel's own access (touch) and its two exits other than success, as for a
 * process's access (mmu/access-retries.test.ts). The host's fault handler is replaced by one
 * that reports success and changes nothing, or that fails while a reclaim is in flight.
 * - A gfn whose EPT fault never resolves: touch gives up after exactly ACCESS_RETRIES_MAX host
 *   faults, with `retry`.
 * - A failure other than `retry` is the answer even while a reclaim of the gfn is in flight.
 * - A read needs any leaf; a write needs a writable one.
 */
import { ACCESS_RETRIES_MAX, EPT_READ } from '../constants';
import { oneProcess } from '../../fuzz/testing/scenario';
import * as eptFault from '../host/ept-fault';
import * as reclaim from '../host/reclaim';
import { refuse } from '../result';
import { touch } from './phys';

afterEach(() => jest.restoreAllMocks());

/** A gfn no one has touched: the walk meets no EPT leaf. */
const unbacked = (s: ReturnType<typeof oneProcess>) => {
  for (let gfn = s.g.config.frames - 1; gfn >= 0; gfn--) if (s.g.ept.lookup(s.w, gfn).kind !== 'leaf') return gfn;
  throw new Error('every gfn is backed');
};

test('an EPT fault that never resolves: touch gives up after exactly ACCESS_RETRIES_MAX host faults', () => {
  const s = oneProcess();
  const gfn = unbacked(s);
  const host = jest.spyOn(eptFault, 'eptFault').mockReturnValue(true);
  const wait = jest.spyOn(reclaim, 'waitForInvalidation');
  expect(touch(s.w, s.g, gfn)).toMatchObject({ ok: false, error: 'retry' });
  expect(host).toHaveBeenCalledTimes(ACCESS_RETRIES_MAX);
  expect(wait).not.toHaveBeenCalled();
});

test('a host fault that fails other than with retry is the answer, even while a reclaim of the gfn is in flight', () => {
  const s = oneProcess();
  const gfn = unbacked(s);
  const host = jest.spyOn(eptFault, 'eptFault').mockReturnValue(refuse('host-oom', 'no frame'));
  jest.spyOn(reclaim, 'waitForInvalidation').mockReturnValue(true);
  expect(touch(s.w, s.g, gfn, true)).toMatchObject({ ok: false, error: 'host-oom' });
  expect(host).toHaveBeenCalledTimes(1);
});

test('a retry while a reclaim is in flight waits for it and tries again; a read takes a read-only leaf, a write does not', () => {
  const s = oneProcess();
  const gfn = unbacked(s);
  const hfn = touch(s.w, s.g, gfn, true);
  if (typeof hfn !== 'number') throw new Error(hfn.detail);
  expect(s.g.ept.zap(s.w, gfn)).not.toBeNull();
  expect(s.g.ept.mapLeaf(s.w, gfn, hfn, 1, EPT_READ)).toBe(true);
  const host = jest.spyOn(eptFault, 'eptFault').mockReturnValueOnce(refuse('retry', 'reclaim in flight')).mockReturnValue(true);
  const wait = jest.spyOn(reclaim, 'waitForInvalidation').mockReturnValue(true);
  expect(touch(s.w, s.g, gfn)).toBe(hfn);
  expect(host).not.toHaveBeenCalled();
  expect(touch(s.w, s.g, gfn, true)).toMatchObject({ ok: false, error: 'retry' });
  expect(wait).toHaveBeenCalledTimes(1);
  expect(host).toHaveBeenCalledTimes(ACCESS_RETRIES_MAX);
});
