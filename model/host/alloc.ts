/**
 * Host frame allocation: the host buddy allocator plus the ownership ledger, kept in step.
 * Every host allocation names its site and reason (page_owner), and every frame of the block
 * gets its owner record.
 */
import type { MigrateType } from '../buddy/migratetype';
import type { World } from '../world';
import { refuse, type Refusal } from '../result';
import type { HostOwner } from './frames';

export function hostAlloc(
  world: World,
  order: number,
  mt: MigrateType,
  ownerOf: (i: number) => HostOwner,
  site: string,
  reason: string,
): number | Refusal {
  const r = world.hostBuddy.alloc(order, mt);
  if (typeof r !== 'number') return refuse('host-oom', `host buddy: ${r.error} (order ${order}, ${mt})`);
  const rec = { site, reason, step: world.step, order };
  for (let i = 0, n = 1 << order; i < n; i++) world.frames.setOwner(r + i, ownerOf(i), rec);
  return r;
}

/** Free a block the host allocated; the ledger entries go first, then the buddy takes it. */
export function hostFree(world: World, hfn: number, order: number): void {
  for (let i = 0, n = 1 << order; i < n; i++) world.frames.clearOwner(hfn + i);
  const r = world.hostBuddy.free(hfn, order);
  // A refused free means the model itself double-freed: recorded for the ownership property
  // rather than thrown, so an injected bug shows up as a violation, not a crash.
  if (r !== undefined) world.anomaly('ownership-partition', 'bad-free', `hfn ${hfn} order ${order}`, 'an allocated block', r.error);
}
