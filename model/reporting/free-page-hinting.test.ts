/**
 * Free page hinting's driver between rounds: a new command id from the host while the driver
 * still hints under the old one makes it send STOP (and hint nothing more under the old id),
 * and the shrinker's partial release gives back only the blocks asked for.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { hintingOf, VIRTIO_BALLOON_CMD_ID_STOP } from './free-page-hinting';

test('a new command id mid-round: the driver sends STOP instead of another hint; a partial release frees exactly the blocks asked for', () => {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [], options: {} };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  const g = r.world.guests[0]!;
  const h = hintingOf(g)!;
  errors.length = 0;
  r.apply({ kind: 'fph.host.start', args: { guest: 0 } });
  r.apply({ kind: 'fph.driver.config', args: { guest: 0 } });
  r.apply({ kind: 'fph.driver.hint', args: { guest: 0 } });
  r.apply({ kind: 'fph.driver.hint', args: { guest: 0 } });
  expect(h.blocks.size).toBe(2);
  const first = h.active;
  r.apply({ kind: 'fph.host.start', args: { guest: 0 } });
  expect(h.cmdId).not.toBe(first);
  const queued = h.vq.length;
  r.apply({ kind: 'fph.driver.hint', args: { guest: 0 } });
  expect(h.stopped).toBe(true);
  expect(h.blocks.size).toBe(2);
  expect(h.vq.length).toBe(queued + 1);
  expect(h.vq[h.vq.length - 1]).toEqual({ kind: 'cmd', id: VIRTIO_BALLOON_CMD_ID_STOP });
  r.apply({ kind: 'fph.driver.hint', args: { guest: 0 } });
  const [held] = [...h.blocks.keys()];
  r.apply({ kind: 'fph.driver.release', args: { guest: 0, blocks: 1 } });
  expect(h.blocks.size).toBe(1);
  expect(g.owners.has(held!)).toBe(false);
  expect(errors).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, 'invalid', undefined]);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
