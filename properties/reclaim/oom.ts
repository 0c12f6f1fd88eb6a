/**
 * The OOM killer's properties (oom):
 * - oom-kill-justified: a kill happens only after the notifier chain ran in full and freed
 *   nothing (so no balloon or CMM pages that could be given back remain: CMM, which gives back
 *   everything it holds up to 256 pages, holds none after a kill, and a virtio balloon with
 *   DEFLATE_ON_OOM, whose notifier leaks up to 256 pages (virtio_balloon_oom_notify), holds no
 *   acknowledged page after a kill), with no reclaimable memory
 *   left, and the victim's memory comes back (its process, swap entries and translations gone);
 * - oom-never-kills-unkillable: no process whose oom_score_adj is -1000 is killed (followed
 *   from the operations that set it).
 */
import { balloonOf, driverBusy, has, VIRTIO_BALLOON_F_DEFLATE_ON_OOM } from '../../model/balloon/virtio-balloon';
import { cmmPages } from '../../model/reclaim/cmm';
import { OOM_SCORE_ADJ_MIN } from '../../model/reclaim/oom';
import { reclaimOf } from '../../model/reclaim/state';
import { guestSwapOf } from '../../model/swap/guest-swap';
import type { Oracle } from '../oracle';
import type { Property, StepContext } from '../property';
import { stepState } from '../step-state';
import type { Reporter } from '../violation';

const JUSTIFIED = 'oom-kill-justified';

function justified({ world: w, op, result }: StepContext, r: Reporter): void {
  if (op?.kind !== 'oom.kill' || !result?.ok || (result.value ?? 0) <= 0) return;
  const g = w.guests[op.args.guest as number]!;
  const pid = result.value!;
  const subject = `g${g.id} OOM kill of pid ${pid}`;
  const k = reclaimOf(g).kills.find((x) => x.step === w.step && x.pid === pid);
  if (!k) {
    r.report({ property: JUSTIFIED, kind: 'unrecorded-kill', subject, message: 'a process was killed without out_of_memory deciding it', expected: 'a recorded OOM decision', actual: 'none' });
    return;
  }
  if (k.notifiersCalled < g.oomNotifiers.length)
    r.report({ property: JUSTIFIED, kind: 'skipped-notifiers', subject, message: 'the OOM killer killed without calling the whole OOM notifier chain', expected: `${g.oomNotifiers.length} notifiers called`, actual: `${k.notifiersCalled} called` });
  if (k.notifiersFreed > 0)
    r.report({ property: JUSTIFIED, kind: 'killed-despite-notifier', subject, message: 'the OOM killer killed although a notifier freed memory', expected: 'no kill', actual: `notifiers freed ${k.notifiersFreed} pages` });
  const held = cmmPages(g).length;
  if (held > 0)
    r.report({ property: JUSTIFIED, kind: 'killed-while-notifier-holds-memory', subject, message: 'the OOM killer killed while an OOM notifier (CMM) still held pages it would have given back', expected: 'CMM empty before any kill', actual: `${held} CMM pages` });
  // The model's balloon notifier frees nothing while a request is in flight (Linux would block
  // on balloon_lock until it ends), so only an idle driver must have given its pages back.
  const vb = balloonOf(g);
  const deflatable = vb && has(vb.features, VIRTIO_BALLOON_F_DEFLATE_ON_OOM) && !driverBusy(vb) ? vb.list.filter((gfn) => vb.pages.get(gfn) === 'ballooned').length : 0;
  if (deflatable > 0)
    r.report({ property: JUSTIFIED, kind: 'killed-while-balloon-deflatable', subject, message: 'the OOM killer killed while a DEFLATE_ON_OOM balloon held pages its notifier would have given back', expected: 'balloon empty before any kill', actual: `${deflatable} ballooned pages` });
  if (k.reclaimable > 0 && reclaimOf(g).blockedStep !== w.step)
    r.report({ property: JUSTIFIED, kind: 'killed-with-reclaimable', subject, message: 'the OOM killer killed while reclaimable memory remained', expected: '0 reclaimable pages', actual: `${k.reclaimable} reclaimable` });
  const kept: string[] = [];
  if (g.processes.has(pid)) kept.push('process still exists');
  for (const e of guestSwapOf(w, g).ptes.values()) if (e.pid === pid) kept.push(`swap entry vpn ${e.vpn}`);
  if (w.tlb.overlapping(g.vpid, pid, 0, Number.MAX_SAFE_INTEGER).length > 0) kept.push('TLB entries');
  if (kept.length > 0)
    r.report({ property: JUSTIFIED, kind: 'victim-memory-kept', subject, message: "the victim's memory did not come back", expected: 'process, swap entries and translations gone', actual: kept.slice(0, 3).join('; ') });
}

export const oomKillJustified: Property = {
  name: JUSTIFIED,
  mechanism: 'oom',
  kind: 'safety',
  description: 'no OOM kill while reclaimable memory or notifier (balloon, CMM) pages remain; the victim\'s memory is returned',
  checkStep: justified,
  checkAll: justified,
};

const UNKILLABLE = 'oom-never-kills-unkillable';

interface AdjState {
  lastStep: number;
  readonly adj: Map<string, number>;
  killed: { guest: number; pid: number } | null;
}

const store = new WeakMap<Oracle, AdjState>();

function advance(s: AdjState, { op, result }: StepContext): void {
  s.killed = null;
  if (!op || !result?.ok) return;
  if (op.kind === 'oom.adj') s.adj.set(`${String(op.args.guest)}:${String(op.args.pid)}`, op.args.adj as number);
  if (op.kind === 'oom.kill' && (result.value ?? 0) > 0) s.killed = { guest: op.args.guest as number, pid: result.value! };
}

function unkillable(ctx: StepContext, r: Reporter): void {
  const s = stepState(store, ctx, () => ({ lastStep: -1, adj: new Map(), killed: null }), advance);
  if (!s.killed) return;
  const adj = s.adj.get(`${s.killed.guest}:${s.killed.pid}`) ?? 0;
  if (adj === OOM_SCORE_ADJ_MIN)
    r.report({ property: UNKILLABLE, kind: 'killed-unkillable', subject: `g${s.killed.guest} pid ${s.killed.pid}`, message: 'the OOM killer chose a process with oom_score_adj -1000', expected: 'never chosen', actual: 'killed' });
}

export const oomNeverKillsUnkillable: Property = {
  name: UNKILLABLE,
  mechanism: 'oom',
  kind: 'safety',
  description: 'no process with oom_score_adj -1000 is ever killed',
  checkStep: unkillable,
  checkAll: unkillable,
};
