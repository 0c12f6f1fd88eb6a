/**
 * The access loop's two exits other than success. The model's fault handlers always make
 * progress, so no scenario reaches them; the handlers are replaced here by ones that report
 * success and change nothing (a fault that never resolves), or that fail while a host reclaim
 * of the gfn is in flight.
 * - An access whose faults never resolve gives up after exactly ACCESS_RETRIES_MAX attempts,
 *   with `retry` naming the bound.
 * - An EPT fault that fails for any reason other than `retry` is the access's answer, even
 *   while a reclaim of that gfn is in flight: only `retry` means "wait for the reclaim, then try
 *   again" (host/reclaim.ts waitForInvalidation).
 */
import { ACCESS_RETRIES_MAX } from '../constants';
import { oneProcess } from '../../fuzz/testing/scenario';
import { mmap } from '../guest/kernel';
import * as fault from '../guest/fault';
import * as eptFault from '../host/ept-fault';
import * as reclaim from '../host/reclaim';
import { refuse } from '../result';
import { access } from './access';

afterEach(() => jest.restoreAllMocks());

function mapped() {
  const s = oneProcess();
  expect(mmap(s.w, s.g, s.p, 1536, 1, { write: true, exec: false }, false).ok).toBe(true);
  return s;
}

test('a guest fault that never resolves: the access gives up after exactly ACCESS_RETRIES_MAX attempts', () => {
  const { w, g, p } = mapped();
  const handler = jest.spyOn(fault, 'handlePageFault').mockReturnValue(true);
  const r = access(w, g, p, 1536, 'read');
  expect(r).toMatchObject({ ok: false, error: 'retry' });
  expect(r.ok ? '' : r.detail).toContain(`in ${ACCESS_RETRIES_MAX} tries`);
  expect(handler).toHaveBeenCalledTimes(ACCESS_RETRIES_MAX);
});

test('an EPT fault that never resolves: the access gives up after exactly ACCESS_RETRIES_MAX host faults', () => {
  const { w, g, p } = mapped();
  // The guest's own fault runs for real (it backs what it writes); then the final gfn's EPT
  // entry is dropped so that the walk meets an EPT violation the stub never resolves.
  expect(access(w, g, p, 1536, 'write').ok).toBe(true);
  const host = jest.spyOn(eptFault, 'eptFault').mockReturnValue(true);
  const wait = jest.spyOn(reclaim, 'waitForInvalidation');
  const gfn = [...g.owners].find(([, o]) => o.kind === 'anon')![0];
  expect(g.ept.zap(w, gfn)).not.toBeNull();
  w.tlb.inveptGlobal();
  const r = access(w, g, p, 1536, 'read');
  expect(r).toMatchObject({ ok: false, error: 'retry' });
  expect(host).toHaveBeenCalledTimes(ACCESS_RETRIES_MAX);
  expect(wait).not.toHaveBeenCalled();
});

test('an EPT fault that fails other than with retry is the answer, even while a reclaim of the gfn is in flight', () => {
  const { w, g, p } = mapped();
  expect(access(w, g, p, 1536, 'write').ok).toBe(true);
  const host = jest.spyOn(eptFault, 'eptFault').mockReturnValue(refuse('host-oom', 'no frame'));
  jest.spyOn(reclaim, 'waitForInvalidation').mockReturnValue(true);
  const gfn = [...g.owners].find(([, o]) => o.kind === 'anon')![0];
  expect(g.ept.zap(w, gfn)).not.toBeNull();
  w.tlb.inveptGlobal();
  expect(access(w, g, p, 1536, 'read')).toMatchObject({ ok: false, error: 'host-oom' });
  expect(host).toHaveBeenCalledTimes(1);
});
