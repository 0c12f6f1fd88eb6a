/**
 * balloon-stats-truth (VIRTIO balloon "Memory Statistics"; virtio_balloon.c
 * update_balloon_stats): the figures the driver puts in the stats buffer equal the model's
 * truth at the time it fills the buffer. The truth is computed here from the model's ground
 * state, independently of the driver's counters:
 * - MEMFREE: NR_FREE_PAGES of the guest buddy;
 * - MEMTOT: totalram_pages, i.e. guest frames less the pages the balloon took from the managed
 *   count (adjust_managed_page_count, only without DEFLATE_ON_OOM) - every page in the
 *   balloon's page map except the old page of a balloon migration;
 * - AVAIL: si_mem_available with no page cache or reclaimable slab in the model: free pages
 *   less totalreserve_pages (the high watermark of the only zone), floored at 0;
 * - CACHES, SWAP_IN, SWAP_OUT, MAJFLT: 0 (the guest model has no page cache and no swap);
 * - MINFLT: PGFAULT - PGMAJFAULT, the guest's page faults.
 */
import { PAGE_SHIFT } from '../../model/constants';
import type { Guest } from '../../model/guest/guest';
import { balloonOf, has, STATS_MARK, VIRTIO_BALLOON_F_DEFLATE_ON_OOM, type BalloonStats, type VirtioBalloon } from '../../model/balloon/virtio-balloon';
import type { Property, StepContext } from '../property';
import type { Reporter } from '../violation';

const NAME = 'balloon-stats-truth';

export function statsTruth(g: Guest, vb: VirtioBalloon): BalloonStats {
  const free = g.buddy.freePages();
  let ballooned = 0;
  for (const gfn of vb.pages.keys()) if (!vb.deflatingIn.get(gfn)?.migration) ballooned++;
  const managed = g.config.frames - (has(vb.features, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) ? 0 : ballooned);
  return {
    swapIn: 0, swapOut: 0, majflt: 0, minflt: g.pgfault,
    memfree: free * 2 ** PAGE_SHIFT,
    memtot: managed * 2 ** PAGE_SHIFT,
    avail: Math.max(0, free - g.buddy.watermarks().high) * 2 ** PAGE_SHIFT,
    caches: 0,
  };
}

function check({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const gid of j.marks.get(STATS_MARK) ?? []) {
    const g = w.guests[gid]!;
    const vb = balloonOf(g);
    const s = vb?.stats;
    if (!vb || !s || s.filledAt !== w.step) continue;
    const truth = statsTruth(g, vb);
    for (const k of Object.keys(truth) as (keyof BalloonStats)[])
      if (s.buffer[k] !== truth[k])
        r.report({ property: NAME, kind: 'stale-statistic', subject: `g${g.id} stats ${k}`, message: 'the stats buffer disagrees with the guest at the time it was filled', expected: String(truth[k]), actual: String(s.buffer[k]) });
  }
}

export const balloonStatsTruth: Property = {
  name: NAME,
  mechanism: 'virtio-balloon',
  kind: 'safety',
  description: "the stats buffer's figures equal the guest's state when the driver filled it",
  checkStep: check,
  checkAll: check,
};
