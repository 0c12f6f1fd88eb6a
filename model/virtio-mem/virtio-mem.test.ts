/**
 * virtio-mem end to end: the device's answers (ACK, NACK, ERROR, BUSY; STATE's PLUGGED,
 * UNPLUGGED, MIXED), plugging and onlining, offlining by isolation and migration with the
 * guest's data intact, EBUSY on an unmovable page, the driver following requested_size in the
 * settle phase, and each injected fault caught by the property it names (the scenario of
 * virtio-mem-offline-skips-unmovable among them).
 */
import { Runner } from '../../fuzz/run';
import { compactionState } from '../compaction/state';
import { driverWork, resize, unplugAll } from './driver';
import type { ModelConfig } from '../config';
import { deviceOf, VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_BUSY, VIRTIO_MEM_RESP_ERROR, VIRTIO_MEM_RESP_NACK, VIRTIO_MEM_STATE_MIXED, VIRTIO_MEM_STATE_PLUGGED, VIRTIO_MEM_STATE_UNPLUGGED } from './device';

const FRAG_VPN = 2 ** 24;

function config(faults: string[]): ModelConfig {
  return { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults, options: { 'virtio-mem.blocks': 4 } };
}

/** Plugs block 0, fills it with a process's pages and writes up to 6 of them; their vpns. */
function fillBlock0(r: Runner): number[] {
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'compaction.fragment', args: { guest: 0, pid: 1, vpn: FRAG_VPN, pages: 1024 } });
  const written: number[] = [];
  for (const [gfn, o] of g.owners) if (o.kind === 'anon' && gfn >= d.base && gfn < d.base + 512 && written.length < 6) written.push(o.vpn);
  for (const vpn of written) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn } });
  return written;
}

function runner(faults: string[], properties?: string[]): Runner {
  const r = new Runner(config(faults), { check: 'incremental', properties: properties ? new Set(properties) : undefined });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  return r;
}

describe('device answers', () => {
  test('PLUG up to requested_size (then NACK), ERROR on a plugged block, STATE per range', () => {
    const results: (number | undefined)[] = [];
    const r = new Runner(config([]), { check: 'incremental', onStep: (_s, _op, res) => results.push(res.ok ? res.value : -1) });
    r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    const d = deviceOf(r.world, r.world.guests[0]!)!;
    expect(d.blocks).toBe(4);
    const buddy = r.world.guests[0]!.buddy;
    const free0 = buddy.freePages();
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 2 } });
    r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
    r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 1 } });
    r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 2 } });
    r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
    expect(results.slice(2)).toEqual([VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_NACK, VIRTIO_MEM_RESP_ERROR]);
    expect(d.plugged).toBe(2);
    // Only the two ACKed blocks were onlined: the NACKed block 2 stays offline.
    expect(buddy.freePages() - free0).toBe(2 * 512);
    expect(buddy.isFree(d.base + 2 * 512)).toBe(false);
    results.length = 0;
    r.apply({ kind: 'virtio-mem.state', args: { guest: 0, block: 0, count: 2 } });
    r.apply({ kind: 'virtio-mem.state', args: { guest: 0, block: 0, count: 4 } });
    r.apply({ kind: 'virtio-mem.state', args: { guest: 0, block: 2, count: 2 } });
    r.apply({ kind: 'virtio-mem.state', args: { guest: 0, block: 3, count: 2 } });
    expect(results).toEqual([VIRTIO_MEM_STATE_PLUGGED, VIRTIO_MEM_STATE_MIXED, VIRTIO_MEM_STATE_UNPLUGGED, VIRTIO_MEM_RESP_ERROR]);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });
});

describe('offlining and unplugging', () => {
  /** Block 0 plugged and filled by a process, some pages written. */
  function used(faults: string[], properties?: string[]): { r: Runner; written: number[] } {
    const r = runner(faults, properties);
    const written = fillBlock0(r);
    expect(written.length).toBeGreaterThan(0);
    return { r, written };
  }

  test('the driver gives a block up once when unplugFinish already gave it up (EBUSY: nowhere to migrate to)', () => {
    const { r } = used([]);
    const w = r.world;
    const g = w.guests[0]!;
    const d = deviceOf(w, g)!;
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
    // Leave no free page outside block 0 (by hand): its movable pages have nowhere to go.
    const taken: number[] = [];
    for (let p = g.buddy.alloc(0, 'MOVABLE'); typeof p === 'number'; p = g.buddy.alloc(0, 'MOVABLE')) taken.push(p);
    for (const p of taken) if (p >= d.base && p < d.base + 512) g.buddy.free(p, 0);
    const count = (k: string): number => w.transitions.get('virtio-mem')?.get(k) ?? 0;
    const before = [count('plugged->offlining'), count('offlining->plugged')];
    driverWork(w, g);
    expect(d.state[0]).toBe('plugged');
    expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
    expect([count('plugged->offlining'), count('offlining->plugged')]).toEqual([before[0]! + 1, before[1]! + 1]);
  });

  test('the movable pages move out, the block is unplugged, the host frames go back, the data reads the same', () => {
    const { r, written } = used([]);
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    const framesBefore = r.world.frames.owned;
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    expect(d.state[0]).toBe('offlining');
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    expect(d.state[0]).toBe('unplugged');
    expect(d.plugged).toBe(0);
    for (let gfn = d.base; gfn < d.base + 512; gfn++) expect(g.backing.has(gfn)).toBe(false);
    expect(r.world.frames.owned).toBeLessThan(framesBefore);
    for (const vpn of written) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('the host holding a frame of the block makes the device answer BUSY; a retry succeeds', () => {
    const { r } = used([]);
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    // The host starts reclaiming a frame of the block before the driver's UNPLUG arrives.
    // (A page the guest freed but the host still backs: no migration touches it.)
    const gfn = [...g.backing.keys()].find((x) => x >= d.base && x < d.base + 512 && !g.owners.has(x))!;
    expect(gfn).toBeDefined();
    r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn } });
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(false);
    expect(d.state[0]).toBe('offlining');
    r.apply({ kind: 'host.reclaim.end', args: { guest: 0 } });
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    expect(d.state[0]).toBe('unplugged');
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  /** An anonymous page of the used block. */
  function anonIn(r: Runner): number {
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    return [...g.owners].find(([gfn, o]) => o.kind === 'anon' && gfn >= d.base && gfn < d.base + 512)![0];
  }

  test('between the two offline steps: the range unisolated, or a page locked by a migration, makes the finish give up (EBUSY); the block goes back online with the data', () => {
    for (const between of ['unisolate', 'migration'] as const) {
      const { r, written } = used([]);
      const g = r.world.guests[0]!;
      const d = deviceOf(r.world, g)!;
      r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
      r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
      expect(g.buddy.migratetypeOf(d.base)).toBe('ISOLATE');
      if (between === 'unisolate') r.apply({ kind: 'guest.unisolate', args: { guest: 0, pageblock: d.base / 512 } });
      else r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: anonIn(r) } });
      expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
      r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
      expect(r.outcomes[r.outcomes.length - 1]).toBe(false);
      expect(d.state[0]).toBe('plugged');
      expect(d.plugged).toBe(1);
      expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
      for (const vpn of written) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn } });
      expect(r.violation).toBeNull();
    }
  });

  test('a page locked by a migration in flight makes the first offline step refuse (EBUSY) and leaves the range as it was', () => {
    const { r } = used([]);
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn: anonIn(r) } });
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    expect(r.outcomes.slice(-2)).toEqual([true, false]);
    expect(d.state[0]).toBe('plugged');
    expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
    expect(r.violation).toBeNull();
  });

  test("the host migrating a frame of the block makes the device answer BUSY; once the migration ends the UNPLUG is ACKed", () => {
    const { r } = used([]);
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    // A frame the guest freed but the host still backs: the guest's offline leaves it alone.
    const gfn = [...g.backing.keys()].find((x) => x >= d.base && x < d.base + 512 && !g.owners.has(x))!;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    const [id] = [...compactionState(r.world).active.keys()];
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(false);
    expect(d.state[0]).toBe('offlining');
    for (let i = 0; i < 3; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
    expect(compactionState(r.world).active.size).toBe(0);
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    expect(d.state[0]).toBe('unplugged');
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  /** A kernel allocation right after the plug lands in the block (the freshest free block). */
  function pinned(faults: string[], properties?: string[]): Runner {
    const r = runner(faults, properties);
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
    r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
    r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 9, mt: 'MOVABLE' } });
    r.apply({ kind: 'guest.kwrite', args: { guest: 0, alloc: 1 } });
    const d = deviceOf(r.world, r.world.guests[0]!)!;
    expect(r.world.guests[0]!.kernelAllocs.get(1)!.gfn).toBe(d.base);
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    return r;
  }

  test('an unmovable page makes offlining fail with EBUSY; the block stays plugged', () => {
    const r = pinned([]);
    const d = deviceOf(r.world, r.world.guests[0]!)!;
    expect(d.state[0]).toBe('plugged');
    r.apply({ kind: 'guest.kread', args: { guest: 0, alloc: 1 } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('virtio-mem-offline-skips-unmovable: caught by virtio-mem-unplug-no-data-loss', () => {
    expect(pinned(['virtio-mem-offline-skips-unmovable']).violation).toMatchObject({ property: 'virtio-mem-unplug-no-data-loss', kind: 'unplugged-in-use' });
  });

  test("UNPLUG_ALL goes by the driver's own block states: a block it unplugged with a page still in use (under the fault) does not hold UNPLUG_ALL back", () => {
    // Only virtio-mem-plugged-within-requested is checked, so the run goes on past the fault.
    const r = pinned(['virtio-mem-offline-skips-unmovable'], ['virtio-mem-plugged-within-requested']);
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    expect(d.state[0]).toBe('unplugged');
    expect(g.owners.get(d.base)?.kind).not.toBe('virtio-mem');
    expect(unplugAll(r.world, g)).toEqual({ ok: true, value: VIRTIO_MEM_RESP_ACK });
  });
});

describe('device faults', () => {
  function unplugOnce(faults: string[], properties: string[]): Runner {
    const r = runner(faults, properties);
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
    r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
    r.apply({ kind: 'compaction.fragment', args: { guest: 0, pid: 1, vpn: FRAG_VPN, pages: 1024 } });
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    return r;
  }

  test('virtio-mem-unplug-keeps-backing: caught by virtio-mem-unplugged-inaccessible', () => {
    expect(unplugOnce(['virtio-mem-unplug-keeps-backing'], ['virtio-mem-unplugged-inaccessible']).violation).toMatchObject({ property: 'virtio-mem-unplugged-inaccessible', kind: 'backed-unplugged' });
    expect(unplugOnce([], ['virtio-mem-unplugged-inaccessible']).violation).toBeNull();
  });

  test('virtio-mem-discard-leaks-frames: caught by virtio-mem-frames-returned', () => {
    expect(unplugOnce(['virtio-mem-discard-leaks-frames'], ['virtio-mem-frames-returned']).violation).toMatchObject({ property: 'virtio-mem-frames-returned', kind: 'frame-kept' });
    expect(unplugOnce([], ['virtio-mem-frames-returned']).violation).toBeNull();
  });

  test('virtio-mem-plug-beyond-requested: caught by virtio-mem-plugged-within-requested', () => {
    const r = runner(['virtio-mem-plug-beyond-requested'], ['virtio-mem-plugged-within-requested']);
    r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
    expect(r.violation).toMatchObject({ property: 'virtio-mem-plugged-within-requested', kind: 'plugged-beyond-requested' });
  });
});

describe('the driver follows requested_size (liveness)', () => {
  function resized(faults: string[]): Runner {
    const r = runner(faults);
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 3 } });
    return r;
  }

  test('after settling, plugged_size equals requested_size', () => {
    const r = resized([]);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
    expect(deviceOf(r.world, r.world.guests[0]!)!.plugged).toBe(3);
  });

  test('virtio-mem-config-change-lost: caught by virtio-mem-converges', () => {
    const r = resized(['virtio-mem-config-change-lost']);
    expect(r.finish()).toMatchObject({ property: 'virtio-mem-converges', kind: 'not-converged' });
  });
});

test('resize beyond the device (4 blocks) is refused and leaves requested_size as it was', () => {
  const r = runner([]);
  const d = deviceOf(r.world, r.world.guests[0]!)!;
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 2 } });
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 5 } });
  expect(r.outcomes.slice(-2)).toEqual([true, false]);
  expect(d.requested).toBe(2);
  expect(r.violation).toBeNull();
});

test('resize below zero is refused too (the operation never asks it: its argument starts at 0; a caller of resize may)', () => {
  const r = runner([]);
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  expect(resize(r.world, g, 1)).toEqual({ ok: true });
  expect(resize(r.world, g, -1)).toMatchObject({ ok: false, error: 'out-of-range' });
  expect(d.requested).toBe(1);
});

test('UNPLUG_ALL: ACKed with nothing plugged, refused while a plugged block is online, ACKed again once the block is offlined and unplugged', () => {
  const results: (number | string)[] = [];
  const r = new Runner(config([]), { check: 'incremental', onStep: (_s, _op, res) => results.push(res.ok ? (res.value ?? 'ok') : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  r.apply({ kind: 'virtio-mem.unplug-all', args: { guest: 0 } });
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'virtio-mem.unplug-all', args: { guest: 0 } });
  expect(d.plugged).toBe(1);
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'virtio-mem.unplug-all', args: { guest: 0 } });
  expect(results.slice(1)).toEqual([VIRTIO_MEM_RESP_ACK, 'ok', VIRTIO_MEM_RESP_ACK, 'busy', 'ok', 'ok', VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_ACK]);
  expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'unplugged']);
  expect(d.plugged).toBe(0);
  for (let gfn = d.base; gfn < d.base + 512; gfn++) expect(g.backing.has(gfn)).toBe(false);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

describe('the device answering BUSY while the block is already taken', () => {
  /**
   * Block 0 plugged and used, requested_size back to 0, the host reclaiming a frame the guest
   * freed but still backs. `results` holds each step's device answer (or refusal).
   */
  function hostHolds(): { r: Runner; results: (number | string)[]; written: number[] } {
    const results: (number | string)[] = [];
    const r = new Runner(config([]), { check: 'incremental', onStep: (_s, _op, res) => results.push(res.ok ? (res.value ?? 'ok') : res.error) });
    r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    const written = fillBlock0(r);
    const gfn = [...g.backing.keys()].find((x) => x >= d.base && x < d.base + 512 && !g.owners.has(x))!;
    expect(gfn).toBeDefined();
    r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 0 } });
    r.apply({ kind: 'host.reclaim.begin', args: { guest: 0, gfn } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    results.length = 0;
    return { r, results, written };
  }

  test('UNPLUG_ALL of a taken, unacknowledged block: BUSY while the host holds a frame (nothing discarded), then ACK with the frames returned', () => {
    const { r, results } = hostHolds();
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    expect(d.state[0]).toBe('offlining');
    expect(g.owners.get(d.base)?.kind).toBe('virtio-mem');
    const backed = [...g.backing.keys()].filter((x) => x >= d.base && x < d.base + 512).length;
    expect(backed).toBeGreaterThan(0);
    r.apply({ kind: 'virtio-mem.unplug-all', args: { guest: 0 } });
    expect(d.state[0]).toBe('offlining');
    expect(d.plugged).toBe(1);
    expect([...g.backing.keys()].filter((x) => x >= d.base && x < d.base + 512).length).toBe(backed);
    r.apply({ kind: 'host.reclaim.end', args: { guest: 0 } });
    r.apply({ kind: 'virtio-mem.unplug-all', args: { guest: 0 } });
    expect(results).toEqual(['ok', 'busy', VIRTIO_MEM_RESP_BUSY, 'ok', VIRTIO_MEM_RESP_ACK]);
    expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'unplugged']);
    expect(d.plugged).toBe(0);
    for (let gfn = d.base; gfn < d.base + 512; gfn++) expect(g.backing.has(gfn)).toBe(false);
    expect(r.violation).toBeNull();
  });

  test('the driver gives up a block left offlining by a BUSY answer: it goes back online, plugged, with the data', () => {
    const { r, written } = hostHolds();
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
    r.apply({ kind: 'virtio-mem.unplug.finish', args: { guest: 0, block: 0 } });
    expect(d.state[0]).toBe('offlining');
    d.configChanged = false;
    driverWork(r.world, g);
    expect(d.state[0]).toBe('plugged');
    expect(d.plugged).toBe(1);
    expect(g.owners.get(d.base)?.kind).not.toBe('virtio-mem');
    expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
    for (const vpn of written) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn } });
    expect(r.violation).toBeNull();
  });

  test('the driver following a smaller requested_size offlines, meets BUSY and gives up: the block is online again, plugged', () => {
    const { r, written } = hostHolds();
    const g = r.world.guests[0]!;
    const d = deviceOf(r.world, g)!;
    expect(d.configChanged).toBe(true);
    driverWork(r.world, g);
    expect(d.configChanged).toBe(false);
    expect(d.state[0]).toBe('plugged');
    expect(d.plugged).toBe(1);
    expect(g.owners.get(d.base)?.kind).not.toBe('virtio-mem');
    for (const vpn of written) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn } });
    expect(r.violation).toBeNull();
  });
});

test('a balloon page in the block makes offlining fail with EBUSY naming it; the block stays plugged and online', () => {
  const details: string[] = [];
  const r = new Runner(config([]), { check: 'incremental', onStep: (_s, _op, res) => details.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  const g = r.world.guests[0]!;
  const d = deviceOf(r.world, g)!;
  r.apply({ kind: 'virtio-mem.resize', args: { guest: 0, blocks: 1 } });
  r.apply({ kind: 'virtio-mem.plug', args: { guest: 0, block: 0 } });
  r.apply({ kind: 'vballoon.host.target', args: { guest: 0, pages: 1 } });
  r.apply({ kind: 'vballoon.fill', args: { guest: 0 } });
  const page = [...g.owners].find(([, o]) => o.kind === 'balloon')![0];
  expect(page >= d.base && page < d.base + 512).toBe(true);
  r.apply({ kind: 'virtio-mem.unplug.begin', args: { guest: 0, block: 0 } });
  expect(details[details.length - 1]).toMatch(/^busy: .*EBUSY, gfn 0x[0-9a-f]+: virtio-balloon page$/);
  expect(d.state[0]).toBe('plugged');
  expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
  expect(r.violation).toBeNull();
});
