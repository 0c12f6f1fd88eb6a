/**
 * Per-guest reclaim and OOM state: the anonymous active list (the file lists live with the
 * page cache), the record of what each step reclaimed (for the checks), the allocation
 * failure waiting for the OOM killer, oom_score_adj per process, and the kills.
 */
import type { Guest } from '../guest/guest';

/** What reclaim freed: a file page, or an anonymous page it swapped out. */
export type Reclaimed =
  | { readonly step: number; readonly gfn: number; readonly kind: 'file'; readonly file: number; readonly index: number }
  | { readonly step: number; readonly gfn: number; readonly kind: 'anon'; readonly pid: number; readonly vpn: number };

/** An OOM kill and the facts out_of_memory saw when it decided. */
export interface OomKill {
  readonly step: number;
  readonly pid: number;
  readonly adj: number;
  /** Reclaimable pages right before the kill (model/reclaim/measure.ts). */
  readonly reclaimable: number;
  /** Notifiers called, and what they freed, before the kill. */
  readonly notifiersCalled: number;
  readonly notifiersFreed: number;
}

export interface ReclaimState {
  /** gfns of anonymous pages on the active list. */
  readonly activeAnon: Set<number>;
  /** Pages reclaimed, of the current step only (cleared when a new step starts). */
  readonly log: Reclaimed[];
  logStep: number;
  /** Step in which a reclaim could not reach a page table (host out of memory), or -1. */
  blockedStep: number;
  /** An allocation failed after reclaim and the notifiers freed nothing: out_of_memory is due. */
  oomPending: { readonly order: number; readonly step: number } | null;
  readonly oomAdj: Map<number, number>;
  readonly kills: OomKill[];
  /** Settle phase: reclaimable before shrink_all_memory and what it freed. */
  settled: { readonly reclaimable: number; readonly freed: number; readonly blocked: boolean } | null;
}

const states = new WeakMap<Guest, ReclaimState>();

export function reclaimOf(g: Guest): ReclaimState {
  let s = states.get(g);
  if (!s) states.set(g, (s = { activeAnon: new Set(), log: [], logStep: -2, blockedStep: -1, oomPending: null, oomAdj: new Map(), kills: [], settled: null }));
  return s;
}

/** The reclaim record of `step` (older entries are dropped). */
export function reclaimLog(g: Guest, step: number): Reclaimed[] {
  const s = reclaimOf(g);
  if (s.logStep !== step) {
    s.log.length = 0;
    s.logStep = step;
  }
  return s.log;
}
