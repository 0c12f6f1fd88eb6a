/**
 * VM teardown returns every host frame once: a 2 MiB-backed unit as one order-9 block (from
 * its first gfn, the block head), a split unit and 4 KiB backing frame by frame.
 */
import { FRAMES_PER_2M } from './constants';
import { machine, stepper } from '../fuzz/testing/scenario';
import { teardownAll } from './registry';

test('teardown frees each 2 MiB block once and each 4 KiB frame once, and nothing stays allocated', () => {
  const st = stepper(machine({}, [], 1, true));
  expect(st.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
  expect(st.apply('guest.mmap', { guest: 0, pid: 1, vpn: 0x400, pages: 4, write: true, exec: false, huge: false })).toEqual({ ok: true });
  for (let i = 0; i < 4; i++) expect(st.apply('guest.write', { guest: 0, pid: 1, vpn: 0x400 + i }).ok).toBe(true);
  const w = st.world;
  const g = w.guests[0]!;
  const units = [...g.hugeBacked].sort((a, b) => a - b);
  expect(units.length).toBeGreaterThanOrEqual(2);
  // One unit split into 4 KiB backing: its frames are freed one by one.
  expect(st.apply('thp.host.split', { guest: 0, gfn: units[0]! * FRAMES_PER_2M })).toEqual({ ok: true });
  expect(g.hugeBacked.has(units[0]!)).toBe(false);
  expect(g.backing.size).toBe(units.length * FRAMES_PER_2M);
  teardownAll(w);
  expect(w.anomalies).toEqual([]);
  expect(g.backing.size).toBe(0);
  expect(w.hostBuddy.allocatedPages()).toBe(0);
  expect(w.frames.owned).toBe(0);
});
