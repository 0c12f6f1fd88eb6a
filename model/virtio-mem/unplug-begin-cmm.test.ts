/**
 * Offlining a virtio-mem block that holds a CMM page (the s390 Cooperative Memory Management
 * driver's pages, arch/s390/mm/cmm.c, allocated with __get_free_page and given to the host):
 * such a page has no migration path, so the offline's first step refuses EBUSY
 * (mm/memory_hotplug.c offline_pages -> start_isolate_page_range -> has_unmovable_pages)
 * naming it, and the block stays plugged and online, its pageblock of the type it had; once the CMM pages are freed the
 * offline goes through.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { deviceOf } from './device';

test('a CMM page in the block makes unplug.begin refuse (busy, naming the cmm page); the block stays plugged with its pageblock still UNMOVABLE, and once the CMM pages are freed it unplugs', () => {
  const { r, apply, results } = stepper(machine({ 'virtio-mem.blocks': 4 }));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('virtio-mem.resize', { guest: 0, blocks: 1 });
  apply('virtio-mem.plug', { guest: 0, block: 0 });
  const d = deviceOf(r.world, g)!;
  const inBlock = (): number[] => [...g.owners].filter(([gfn, o]) => o.kind === 'cmm' && gfn >= d.base && gfn < d.base + 512).map(([gfn]) => gfn);
  for (let i = 0; i < 16 && inBlock().length === 0; i++) expect(apply('cmm.alloc', { guest: 0, pages: 512 }).ok).toBe(true);
  // CMM allocates UNMOVABLE pages; once the other pageblocks are used up the allocator falls
  // back to the block's (steal_suitable_fallback).
  expect(inBlock().length).toBeGreaterThan(0);
  expect(g.buddy.migratetypeOf(d.base)).toBe('UNMOVABLE');
  apply('virtio-mem.resize', { guest: 0, blocks: 0 });
  expect(apply('virtio-mem.unplug.begin', { guest: 0, block: 0 }).error).toBe('busy');
  expect(results.at(-1)).toHaveProperty('detail', `g0 block 0: EBUSY, gfn 0x${Math.min(...inBlock()).toString(16)}: cmm page`);
  expect(d.state[0]).toBe('plugged');
  // The refused isolation leaves the pageblock's type as the steal made it
  // (set_migratetype_isolate never changed it): not MOVABLE, not ISOLATE.
  expect(g.buddy.migratetypeOf(d.base)).toBe('UNMOVABLE');
  const cmmCount = (): number => [...g.owners.values()].filter((o) => o.kind === 'cmm').length;
  for (let i = 0; i < 16 && cmmCount() > 0; i++) expect(apply('cmm.free', { guest: 0, pages: 512 }).ok).toBe(true);
  expect(cmmCount()).toBe(0);
  expect(apply('virtio-mem.unplug.begin', { guest: 0, block: 0 })).toEqual({ ok: true });
  expect(apply('virtio-mem.unplug.finish', { guest: 0, block: 0 }).ok).toBe(true);
  expect(d.state[0]).toBe('unplugged');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
