/**
 * What the driver's offline steps and UNPLUG_ALL refuse, and how they say it (a counterexample
 * reads these details): a block in the wrong state ('invalid', naming the block and the state it
 * should be in; a block outside the device counts as one in the wrong state), a pageblock
 * something else already isolated ('busy' with the allocator's error: set_migratetype_isolate
 * gives up on an isolated pageblock), the range unisolated between the two steps ('busy', EBUSY),
 * the device answering BUSY, and UNPLUG_ALL while a plugged block is online. Each refusal leaves
 * the block where it was.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { deviceOf, VIRTIO_MEM_RESP_ACK } from './device';

function plugged() {
  const s = stepper(machine({ 'virtio-mem.blocks': 4 }));
  s.apply('guest.spawn', { guest: 0 });
  const g = s.world.guests[0]!;
  const d = deviceOf(s.world, g)!;
  s.apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  expect(s.apply('virtio-mem.plug', { guest: 0, block: 0 }).value).toBe(VIRTIO_MEM_RESP_ACK);
  s.apply('virtio-mem.resize', { guest: 0, blocks: 0 });
  /** Apply and return [error code, detail] of the refusal, or 'ok'. */
  const refusal = (kind: string, args: Record<string, number>): [string, string] | 'ok' => {
    s.apply(kind, { guest: 0, ...args });
    const res = s.results.at(-1)!;
    return res.ok ? 'ok' : [res.error, res.detail];
  };
  return { ...s, g, d, refusal };
}

test('offline steps on a block in the wrong state, or outside the device, are invalid and name the block', () => {
  const { r, d, refusal } = plugged();
  expect(refusal('virtio-mem.unplug.begin', { block: 1 })).toEqual(['invalid', 'g0 virtio-mem block 1 is not plugged and online']);
  expect(refusal('virtio-mem.unplug.begin', { block: 4 })).toEqual(['invalid', 'g0 virtio-mem block 4 is not plugged and online']);
  expect(refusal('virtio-mem.unplug.finish', { block: 0 })).toEqual(['invalid', 'g0 virtio-mem block 0 is not being offlined']);
  expect(refusal('virtio-mem.unplug.finish', { block: 5 })).toEqual(['invalid', 'g0 virtio-mem block 5 is not being offlined']);
  expect(refusal('virtio-mem.unplug.begin', { block: 0 })).toBe('ok');
  expect(refusal('virtio-mem.unplug.begin', { block: 0 })).toEqual(['invalid', 'g0 virtio-mem block 0 is not plugged and online']);
  expect(d.state).toEqual(['offlining', 'unplugged', 'unplugged', 'unplugged']);
  expect(refusal('virtio-mem.unplug.finish', { block: 0 })).toBe('ok');
  expect(d.state).toEqual(['unplugged', 'unplugged', 'unplugged', 'unplugged']);
  expect(r.violation).toBeNull();
});

test('a pageblock already isolated by someone else: the first step refuses busy with the allocator\'s reason and leaves it isolated; unisolated between the steps, the second gives up with EBUSY', () => {
  const { r, g, d, refusal } = plugged();
  const pageblock = d.base / 512;
  expect(refusal('guest.isolate', { pageblock })).toBe('ok');
  expect(refusal('virtio-mem.unplug.begin', { block: 0 })).toEqual(['busy', 'g0 block 0: already-isolated']);
  expect(d.state[0]).toBe('plugged');
  expect(g.buddy.migratetypeOf(d.base)).toBe('ISOLATE');
  expect(refusal('guest.unisolate', { pageblock })).toBe('ok');
  expect(refusal('virtio-mem.unplug.begin', { block: 0 })).toBe('ok');
  expect(refusal('guest.unisolate', { pageblock })).toBe('ok');
  expect(refusal('virtio-mem.unplug.finish', { block: 0 })).toEqual(['busy', 'g0 block 0: EBUSY, the range is no longer isolated']);
  expect(d.state[0]).toBe('plugged');
  expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
  expect(r.violation).toBeNull();
});

test('the device answering BUSY: the finish refuses busy naming the device; UNPLUG_ALL with a plugged block online refuses busy naming it', () => {
  const { r, g, d, refusal } = plugged();
  expect(refusal('virtio-mem.unplug-all', {})).toEqual(['busy', 'g0 block 0 is online: the driver sends UNPLUG_ALL only when no plugged memory is in use']);
  // The host reclaiming a frame of the block (backed by the plug's onlining: a page the guest
  // touched and freed).
  expect(refusal('compaction.fragment', { pid: 1, vpn: 2 ** 24, pages: 1024 })).toBe('ok');
  const gfn = [...g.backing.keys()].find((x) => x >= d.base && x < d.base + 512 && !g.owners.has(x))!;
  expect(gfn).toBeDefined();
  expect(refusal('host.reclaim.begin', { gfn })).toBe('ok');
  expect(refusal('virtio-mem.unplug.begin', { block: 0 })).toBe('ok');
  expect(refusal('virtio-mem.unplug.finish', { block: 0 })).toEqual(['busy', 'g0 block 0: device BUSY']);
  expect(d.state[0]).toBe('offlining');
  expect(r.violation).toBeNull();
});

test('a page of the block under migration (compaction has it locked): the first step refuses busy with EBUSY naming it, and the block stays plugged', () => {
  const { r, g, d, apply, refusal } = plugged();
  expect(apply('guest.spawn', { guest: 0 }).ok).toBe(true);
  // Fill pages until one lands in the block (a freshly onlined block is handed out first).
  let gfn = -1;
  for (let vpn = 16; vpn < 16 + 64 && gfn < 0; vpn++) {
    expect(apply('guest.mmap', { guest: 0, pid: 1, vpn, pages: 1, write: true, exec: false, huge: false }).ok).toBe(true);
    expect(apply('guest.write', { guest: 0, pid: 1, vpn }).ok).toBe(true);
    const hit = [...g.owners.entries()].find(([x, o]) => o.kind === 'anon' && o.vpn === vpn && x >= d.base && x < d.base + 512);
    if (hit) gfn = hit[0];
  }
  expect(gfn).toBeGreaterThanOrEqual(d.base);
  expect(apply('compaction.migrate.begin', { side: 'guest', guest: 0, gfn }).ok).toBe(true);
  expect(refusal('virtio-mem.unplug.begin', { block: 0 })).toEqual(['busy', `g0 block 0: EBUSY, gfn 0x${gfn.toString(16)} is under migration`]);
  expect(d.state[0]).toBe('plugged');
  expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
  expect(r.violation).toBeNull();
});

test("a kernel hog's page in the block between the two steps (the pageblock unisolated, a hog, isolated again): the migration leaves it, test_pages_isolated finds it and the finish refuses busy naming it; the block stays plugged with the page its owner's", () => {
  const { r, g, d, refusal } = plugged();
  const pageblock = d.base / 512;
  expect(refusal('virtio-mem.unplug.begin', { block: 0 })).toBe('ok');
  expect(refusal('guest.unisolate', { pageblock })).toBe('ok');
  expect(refusal('mm.hog', { pages: 4096 })).toBe('ok');
  expect(refusal('guest.isolate', { pageblock })).toBe('ok');
  const taken = g.owners.get(d.base);
  expect(taken).toMatchObject({ kind: 'hog' });
  expect(refusal('virtio-mem.unplug.finish', { block: 0 })).toEqual(['busy', `g0 block 0: EBUSY, gfn 0x${d.base.toString(16)} is still in use: kernel hog #${String((taken as { id: number }).id)}`]);
  expect(d.state[0]).toBe('plugged');
  expect(g.buddy.migratetypeOf(d.base)).toBe('MOVABLE');
  expect(g.owners.get(d.base)).toEqual(taken);
  expect(r.violation).toBeNull();
});
