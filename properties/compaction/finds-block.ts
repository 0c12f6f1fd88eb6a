/**
 * compaction-finds-block: a compaction run that ran and gave up (scanners met without a free
 * block of the order) must not have been able to succeed. Judged on the ghost of the zone the
 * run recorded when it began, with a deliberately simple sufficient condition that follows
 * from how the scanners work (mm/compaction.c): some aligned block B of the order lies in
 * pageblocks that are neither isolated nor of a type a MOVABLE request cannot use, every page
 * of B is free or movable, and the free pages of suitable target pageblocks above B's last
 * pageblock are at least the movable pages of every pageblock the migrate scanner visits up to
 * and including it. The free scanner then never needs a page at or below B, so the migrate
 * scanner empties B and a block of the order is free. Runs where a migration failed for a
 * reason outside compaction (an allocation, a raced invalidation) are not judged.
 */
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES, PAGEBLOCK_ORDER } from '../../model/constants';
import { compactionState, type CompactionRun, type ZoneGhost } from '../../model/compaction/state';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'compaction-finds-block';

/** The first feasible block B (pfn) under the condition above, or null. */
export function feasibleBlock(z: ZoneGhost, order: number): number | null {
  if (order > MAX_PAGE_ORDER) return null;
  const pbs = z.pageblocks;
  const n = pbs.length;
  const targetsAbove: number[] = new Array(n + 1).fill(0);
  for (let k = n - 1; k >= 0; k--) targetsAbove[k] = targetsAbove[k + 1]! + (pbs[k]!.target ? pbs[k]!.free : 0);
  const span = Math.max(1, (1 << order) / PAGEBLOCK_FRAMES);
  let movable = 0;
  for (let k = 0; k < n; k++) {
    if (!pbs[k]!.isolated) movable += pbs[k]!.movable;
    if ((k + 1) % span !== 0) continue;
    const first = k + 1 - span;
    const group = pbs.slice(first, k + 1);
    if (group.some((pb) => pb.isolated || !pb.usable)) continue;
    if (targetsAbove[k + 1]! < movable) continue;
    if (order >= PAGEBLOCK_ORDER) {
      if (group.every((pb) => pb.other.length === 0)) return group[0]!.pfn;
      continue;
    }
    const size = 1 << order;
    const dirty = new Set(pbs[k]!.other.map((o) => Math.floor(o / size)));
    for (let slot = 0; slot < PAGEBLOCK_FRAMES / size; slot++) if (!dirty.has(slot)) return pbs[k]!.pfn + slot * size;
  }
  return null;
}

function check(ctx: StepContext, r: Reporter): void {
  const ids = ctx.journal.marks.get('compaction:run');
  if (!ids) return;
  const runs = compactionState(ctx.world).runs;
  for (const id of ids) {
    const run: CompactionRun | undefined = runs.get(id);
    if (!run || run.outcome !== 'complete' || !run.ghost || run.failures > 0) continue;
    const b = feasibleBlock(run.ghost, run.order);
    if (b === null) continue;
    r.report({ property: NAME, kind: 'gave-up', subject: `${run.side === 'host' ? 'host' : `g${run.guest}`} compaction run #${run.id} order ${run.order}`, message: 'compaction ended without a free block although the free pages and movable pages allowed one', expected: `a free order-${run.order} block (e.g. at pfn ${hex(b)})`, actual: `none after ${run.migrated} migrations` });
  }
}

export const compactionFindsBlock: Property = {
  name: NAME,
  mechanism: 'compaction',
  kind: 'safety',
  description: 'compaction makes a block of the requested order available when free memory and movable pages allow it',
  checkStep: check,
  checkAll: check,
};
