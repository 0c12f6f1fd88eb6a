/**
 * Reclaim and OOM (issue 4): LRU reclaim (direct, kswapd, shrink_all_memory), the OOM killer
 * with its notifier chain, CMM as a notifier, memory hogs as pressure.
 *
 * Pressure hooks are registered in the order the allocator's slow path runs them: direct
 * reclaim, then the OOM hook. (The OOM hook must stay the last hook: a mechanism that adds a
 * slow-path hook, e.g. direct compaction, must come before this one in model/registry.ts.)
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { pressureOperations } from '../ops/pressure';
import { cmmOomNotify } from '../reclaim/cmm';
import { offlineAtBoot } from '../reclaim/hog';
import { oomHook } from '../reclaim/oom';
import { directReclaimHook, settleReclaim } from '../reclaim/pressure';
import { reclaimOf } from '../reclaim/state';
import type { World } from '../world';

export const reclaimFaults: readonly FaultDef[] = [
  {
    name: 'reclaim-skips-writeback',
    mechanism: 'reclaim',
    breaks: ['reclaim-never-drops-dirty', 'dirty-page-never-dropped'],
    reproduces: 'mm/vmscan.c shrink_folio_list: a dirty folio is written (pageout) before it can be freed; freeing it as clean loses its last writes',
  },
  {
    name: 'reclaim-unmap-no-flush',
    mechanism: 'reclaim',
    breaks: ['reclaim-unmaps-first', 'tlb-coherence'],
    reproduces: '3ea277194daa ("mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries"): reclaim cleared PTEs and deferred the flush; the process kept writing through the stale TLB entry',
    scenario: 'model/reclaim/reclaim.test.ts',
  },
  {
    name: 'shrink-skips-dirty',
    mechanism: 'reclaim',
    breaks: ['reclaim-makes-progress'],
    reproduces: 'mm/vmscan.c shrink_all_memory sets may_writepage = 1 (hibernation must free all reclaimable memory); without it dirty pages stay and it stops with reclaimable memory left',
  },
  {
    name: 'reclaim-ignores-anon-lru',
    mechanism: 'reclaim',
    breaks: ['reclaim-makes-progress', 'oom-kill-justified', 'kswapd-watermarks'],
    reproduces: 'the premature OOM class 0a0337e0d1d1 ("mm, oom: rework oom detection") and 35cd78156c49 addressed: reclaim that reports no progress while swappable memory remains sends the allocator to the OOM killer',
    scenario: 'model/reclaim/reclaim.test.ts',
  },
  {
    name: 'kswapd-stops-at-low',
    mechanism: 'reclaim',
    breaks: ['kswapd-watermarks'],
    reproduces: 'mm/vmscan.c balance_pgdat / pgdat_balanced: kswapd reclaims until the high watermark; stopping at low removes the hysteresis and leaves the next allocations to direct reclaim',
    scenario: 'model/reclaim/reclaim.test.ts',
  },
  {
    name: 'oom-skips-notifiers',
    mechanism: 'oom',
    breaks: ['oom-kill-justified'],
    reproduces: 'mm/oom_kill.c out_of_memory calls the OOM notifier chain first and kills only if it freed nothing (virtio-balloon DEFLATE_ON_OOM, VIRTIO spec 5.5.6.1; arch/s390/mm/cmm.c cmm_oom_notify)',
  },
  {
    name: 'oom-kills-unkillable',
    mechanism: 'oom',
    breaks: ['oom-never-kills-unkillable'],
    reproduces: 'mm/oom_kill.c oom_badness returns LONG_MIN for OOM_SCORE_ADJ_MIN (-1000, include/uapi/linux/oom.h): such a task is never chosen',
    scenario: 'model/reclaim/reclaim.test.ts',
  },
];

export const reclaimMechanism: MechanismModel = {
  name: 'reclaim',
  operations: pressureOperations.filter((o) => o.mechanism === 'reclaim' || o.mechanism === 'oom'),
  faults: reclaimFaults,
  transitions: {
    reclaim: [
      'inactive->freed', 'inactive->swapped', 'active->inactive', 'alloc-failed->direct-reclaimed', 'kswapd-asleep->kswapd-running',
      'kswapd-running->kswapd-asleep', 'shrink-requested->shrunk', 'free->hogged', 'hogged->free', 'free->populated',
    ],
    oom: ['guest->cmm', 'cmm->guest', 'alloc-failed->notifier-freed', 'no-oom->oom-pending', 'oom-pending->no-oom', 'oom-pending->notifier-freed', 'oom-pending->killed'],
  },
  init(w: World) {
    for (const g of w.guests) {
      reclaimOf(g);
      offlineAtBoot(w, g);
      g.pressureHooks.push(directReclaimHook, oomHook);
      g.oomNotifiers.push(cmmOomNotify);
    }
  },
  settle: settleReclaim,
};
