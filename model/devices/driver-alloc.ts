/**
 * A driver's own page allocation: alloc_pages with __GFP_NORETRY | __GFP_NOWARN |
 * __GFP_NOMEMALLOC (virtio_balloon.c balloon_page_alloc / get_free_page_and_send,
 * vmw_balloon.c vmballoon_alloc_page_list): the buddy fast path only, never the slow path's
 * OOM killer (which would call back into the balloon), then post_alloc_hook (the allocator's
 * hooks, e.g. the poison check).
 */
import type { MigrateType } from '../buddy/migratetype';
import type { Guest } from '../guest/guest';
import type { World } from '../world';

export function driverAlloc(world: World, g: Guest, order: number, mt: MigrateType): number | null {
  const r = g.buddy.alloc(order, mt);
  if (typeof r !== 'number') return null;
  for (const h of g.allocHooks) h(world, g, r, order);
  return r;
}
