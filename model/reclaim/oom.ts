/**
 * The OOM killer (Linux mm/oom_kill.c out_of_memory, oom_badness, select_bad_process;
 * mm/page_alloc.c __alloc_pages_may_oom).
 *
 * The allocator reaches it when direct reclaim freed nothing: the OOM notifier chain runs first
 * (blocking_notifier_call_chain(&oom_notify_list): virtio-balloon's DEFLATE_ON_OOM, CMM); if a
 * notifier freed anything the allocation retries and nobody dies. Otherwise a victim is chosen
 * by badness (rss + swap entries + page tables, plus oom_score_adj * totalpages / 1000; a
 * process at OOM_SCORE_ADJ_MIN, -1000, is never chosen) and killed; its memory comes back.
 * Costly allocations (order > PAGE_ALLOC_COSTLY_ORDER) never invoke it ("The OOM killer will
 * not help higher order allocs").
 *
 * The kill itself runs as its own step (operation oom.kill), as pagefault_out_of_memory does
 * after a fault that returned VM_FAULT_OOM: the allocation that found no memory fails with the
 * notifiers already called, and the OOM is left pending; the kill step then tries the last
 * reclaim and the notifiers once more (state may have changed since) before choosing a victim.
 * This way the harness learns which process died from the operation's result, as a supervisor
 * reads a SIGKILL status, and the abstract oracles follow the kill from operations and results
 * only. (Assumption: Linux kills inside the allocation; splitting it moves no rule.)
 */
import type { MigrateType } from '../buddy/migratetype';
import { PAGE_ALLOC_COSTLY_ORDER } from '../constants';
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import { forEachLeaf } from '../mmu/peek';
import { ok, refuse, type OpResult } from '../result';
import { guestSwapOf } from '../swap/guest-swap';
import type { World } from '../world';
import { reclaimablePages } from './measure';
import { killProcess } from './kill';
import { directReclaim } from './pressure';
import { reclaimOf } from './state';

/** include/uapi/linux/oom.h. */
export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;

/** The notifier chain: every notifier is called; the pages they freed, and how many ran. */
function callNotifiers(w: World, g: Guest): { called: number; freed: number } {
  // Hazard: out_of_memory must call the chain before choosing a victim and kill only if it
  // freed nothing (mm/oom_kill.c: "if (freed > 0 && !is_sysrq_oom(oc)) return true"; the
  // balloon's DEFLATE_ON_OOM and CMM give their pages back there). Skipping it kills a
  // process while a driver sits on memory it would have returned.
  if (w.fault('oom-skips-notifiers')) return { called: 0, freed: 0 };
  let freed = 0;
  for (const n of g.oomNotifiers) freed += n(w, g);
  return { called: g.oomNotifiers.length, freed };
}

/** The allocator's last hook: the notifiers; with nothing freed, the OOM is left pending. */
export function oomHook(w: World, g: Guest, order: number, _mt: MigrateType): number {
  if (order > PAGE_ALLOC_COSTLY_ORDER) return 0;
  const n = callNotifiers(w, g);
  if (n.freed > 0) {
    w.transition('oom', 'alloc-failed', 'notifier-freed');
    return n.freed;
  }
  const st = reclaimOf(g);
  if (!st.oomPending) w.transition('oom', 'no-oom', 'oom-pending');
  st.oomPending = { order, step: w.step };
  return 0;
}

/** oom_badness (mm/oom_kill.c): rss + swap entries + page-table pages, plus the adj share. */
export function oomBadness(w: World, g: Guest, p: Process): number {
  const adj = reclaimOf(g).oomAdj.get(p.pid) ?? 0;
  let points = 0;
  for (const o of g.owners.values()) if ((o.kind === 'anon' || o.kind === 'page-table') && o.pid === p.pid) points++;
  for (const e of guestSwapOf(w, g).ptes.values()) if (e.pid === p.pid) points++;
  // File pages this process maps count in its rss (MM_FILEPAGES).
  for (const v of p.vmas) if (v.object) forEachLeaf(w, g, p, v.start, v.end, () => points++);
  const totalpages = g.config.frames + (guestSwapOf(w, g).device?.capacity ?? 0);
  return points + adj * Math.floor(totalpages / 1000);
}

/** select_bad_process: the highest badness; a tie goes to the later process; -1000 never. */
export function selectVictim(w: World, g: Guest): Process | null {
  let best: Process | null = null;
  let bestPoints = -Infinity;
  // In pid order: spawn is the only insertion into g.processes and pids only grow.
  for (const p of g.processes.values()) {
    // Hazard: OOM_SCORE_ADJ_MIN means the task is never killed (oom_badness returns LONG_MIN
    // for it); services that must survive set it.
    if ((reclaimOf(g).oomAdj.get(p.pid) ?? 0) === OOM_SCORE_ADJ_MIN && !w.fault('oom-kills-unkillable')) continue;
    const points = oomBadness(w, g, p);
    if (points >= bestPoints) {
      best = p;
      bestPoints = points;
    }
  }
  return best;
}

/** out_of_memory for the pending OOM: ok(pid killed), or ok(0) when nobody had to die. */
export function oomKill(w: World, g: Guest): OpResult {
  const st = reclaimOf(g);
  if (!st.oomPending) return refuse('invalid', `g${g.id}: no allocation is waiting for the OOM killer`);
  if (directReclaim(w, g, st.oomPending.order) > 0) {
    st.oomPending = null;
    w.transition('oom', 'oom-pending', 'no-oom');
    return ok(0);
  }
  const n = callNotifiers(w, g);
  if (n.freed > 0) {
    st.oomPending = null;
    w.transition('oom', 'oom-pending', 'notifier-freed');
    return ok(0);
  }
  const reclaimable = reclaimablePages(w, g).total;
  const victim = selectVictim(w, g);
  if (!victim) return ok(0); // nothing killable: the allocation keeps failing
  const adj = st.oomAdj.get(victim.pid) ?? 0;
  killProcess(w, g, victim);
  st.kills.push({ step: w.step, pid: victim.pid, adj, reclaimable, notifiersCalled: n.called, notifiersFreed: n.freed });
  st.oomPending = null;
  w.transition('oom', 'oom-pending', 'killed');
  return ok(victim.pid);
}

export function setOomAdj(g: Guest, pid: number, adj: number): OpResult {
  if (!g.processes.has(pid)) return refuse('no-such-process', `g${g.id} has no pid ${pid}`);
  if (adj < OOM_SCORE_ADJ_MIN || adj > OOM_SCORE_ADJ_MAX) return refuse('out-of-range', `oom_score_adj ${adj}`);
  reclaimOf(g).oomAdj.set(pid, adj);
  return ok();
}
