/**
 * Creating a device takes its blocks out of the guest's allocator, from the region's first block
 * up. When a block cannot be taken (a page of it already in use), creation gives up with nothing
 * taken: the blocks taken before it go back to the allocator, free and owned by no one.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { BLOCK_FRAMES } from './device';
import { createDevice } from './driver';

test('a page in use in the third block: creating a 3-block device fails and gives the first two blocks back; one ending below that page is created', () => {
  const { r, apply } = stepper(machine({ 'virtio-mem.blocks': 0 }));
  apply('guest.spawn', { guest: 0 });
  const g = r.world.guests[0]!;
  const top = g.config.frames;
  // A page in use at the very top of guest memory (the third block's last page).
  const used = top - 1;
  expect(g.buddy.allocAt(used, 0, 'MOVABLE')).toBe(used);
  const free = g.buddy.freePages();
  const first = top - 3 * BLOCK_FRAMES;
  expect(createDevice(g, 3)).toBeNull();
  expect(g.buddy.freePages()).toBe(free);
  for (let gfn = first; gfn < used; gfn++) {
    expect(g.owners.has(gfn)).toBe(false);
    expect(g.buddy.isFree(gfn)).toBe(true);
  }
  // Below the used page's block, two blocks fit and are taken.
  const d = createDevice(g, 2, top - BLOCK_FRAMES)!;
  expect(d).toMatchObject({ base: first, blocks: 2, requested: 0, plugged: 0, state: ['unplugged', 'unplugged'] });
  expect(g.buddy.freePages()).toBe(free - 2 * BLOCK_FRAMES);
  for (let gfn = first; gfn < first + 2 * BLOCK_FRAMES; gfn++) expect(g.owners.get(gfn)).toEqual({ kind: 'virtio-mem', block: gfn < first + BLOCK_FRAMES ? 0 : 1 });
  expect(g.owners.has(top - BLOCK_FRAMES)).toBe(false);
});

test('a page in use at the first frame of the third block: the failed creation gives back the first two blocks and leaves that page and its owner alone', () => {
  const { r, apply } = stepper(machine({ 'virtio-mem.blocks': 0 }));
  apply('guest.spawn', { guest: 0 });
  const g = r.world.guests[0]!;
  const used = g.config.frames - BLOCK_FRAMES;
  expect(g.buddy.allocAt(used, 0, 'MOVABLE')).toBe(used);
  g.setOwner(used, { kind: 'kernel', alloc: 99 });
  const free = g.buddy.freePages();
  expect(createDevice(g, 3)).toBeNull();
  expect(g.buddy.freePages()).toBe(free);
  expect(g.owners.get(used)).toEqual({ kind: 'kernel', alloc: 99 });
  expect(g.buddy.allocatedAt(used)?.order).toBe(0);
  for (let gfn = used - 2 * BLOCK_FRAMES; gfn < used; gfn++) expect(g.owners.has(gfn)).toBe(false);
});
