/**
 * The host out of frames: every path that needs a new host frame (a host kernel allocation,
 * an EPT violation's zero-fill, a new EPT table) refuses with host-oom and leaves the world as
 * it was, the properties still holding; freeing host memory lets the same access succeed.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { MAX_PAGE_ORDER } from '../constants';

const CONFIG: ModelConfig = { hostFrames: 2 ** 13, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [] };
const VPN = 2 ** 20;

function results(): { r: Runner; log: { ok: boolean; error?: string; value?: number }[] } {
  const log: { ok: boolean; error?: string; value?: number }[] = [];
  const r = new Runner(CONFIG, { check: 'incremental', onStep: (_s, _op, res) => log.push(res.ok ? { ok: true, value: res.value } : { ok: false, error: res.error }) });
  return { r, log };
}

test('host allocations, EPT zero-fill and EPT tables refuse host-oom once the host buddy is empty, and succeed again after a free', () => {
  const { r, log } = results();
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: VPN, pages: 64, write: true, exec: false, huge: false } });
  // Take every free host frame, largest blocks first; each order ends with one refusal.
  const ids: number[] = [];
  for (let order = MAX_PAGE_ORDER; order >= 0; order--) {
    for (let n = 0; n < 2 ** 13; n++) {
      const before = log.length;
      r.apply({ kind: 'host.kalloc', args: { order, mt: 'MOVABLE' } });
      const res = log[before]!;
      if (!res.ok) {
        expect(res.error).toBe('host-oom');
        break;
      }
      ids.push(res.value!);
    }
  }
  expect(r.world.hostBuddy.freePages()).toBe(0);
  const owned = r.world.frames.owned;
  const before = log.length;
  // The first write to the range needs a frame for the data and, in a fresh EPT, tables.
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 0, mt: 'UNMOVABLE' } });
  expect(log.slice(before).map((x) => x.error)).toEqual(['host-oom', 'host-oom']);
  expect(r.world.frames.owned).toBe(owned);
  expect(r.violation).toBeNull();
  // Give the host some memory back: the same write now completes.
  for (const id of ids.slice(0, 4)) r.apply({ kind: 'host.kfree', args: { alloc: id } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN } });
  expect(log.slice(-2).every((x) => x.ok)).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
