/**
 * Generators for migration and compaction (model/compaction/ops.ts): sources chosen among the
 * live pages, with a bias towards pages a TLB entry still translates (the ones a wrong flush
 * order exposes), steps of the migrations in flight, and the orders that matter (pageblock,
 * MAX_PAGE_ORDER, the costly boundary).
 */
import { MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_ORDER } from '../../model/constants';
import { compactionState } from '../../model/compaction/state';
import type { Guest } from '../../model/guest/guest';
import type { World } from '../../model/world';
import type { Operation } from '../contract';
import { guestOf, nthKey, pick, procOf, type Choice, type Gen } from './pick';

/** An anonymous guest page: one a TLB entry maps (odd choices), else any. */
function anonGfn(w: World, g: Guest, c: number): number | undefined {
  if (c % 2 === 1) {
    const cached: number[] = [];
    for (const e of w.tlb.entries()) if (e.vpid === g.vpid && e.frames === 1 && g.owners.get(e.gfnBase)?.kind === 'anon') cached.push(e.gfnBase);
    const hit = pick(cached, c >> 1);
    if (hit !== undefined) return hit;
  }
  const anon: number[] = [];
  for (const [gfn, o] of g.owners) if (o.kind === 'anon') anon.push(gfn);
  return pick(anon, c >> 1);
}

/** A gfn backed by a 4 KiB host frame: one behind a TLB entry (odd choices), else any. */
function backedGfn(w: World, g: Guest, c: number): number | undefined {
  if (c % 2 === 1) {
    const cached: number[] = [];
    for (const e of w.tlb.entries()) if (e.vpid === g.vpid && e.frames === 1 && g.backing.get(e.gfnBase) === e.hfnBase) cached.push(e.gfnBase);
    const hit = pick(cached, c >> 1);
    if (hit !== undefined) return hit;
  }
  return nthKey(g.backing, c >> 1);
}

function orderFor(c: number): number {
  switch (c % 6) {
    case 0: return PAGEBLOCK_ORDER;
    case 1: return MAX_PAGE_ORDER;
    case 2: return PAGE_ALLOC_COSTLY_ORDER + 1;
    case 3: return PAGE_ALLOC_COSTLY_ORDER;
    default: return 1 + (c % PAGEBLOCK_ORDER);
  }
}

/** Fragmenting workloads live far above the core's mmap slots (which stay below 2^17 pages). */
const FRAGMENT_REGION_VPN = 2 ** 24;

export const compactionGenerators: Record<string, Gen> = {
  'compaction.fragment': (w: World, c: Choice): Operation | null => {
    const x = procOf(w, c[1]);
    if (!x) return null;
    const pages = [256, 1024, 2048, 512][c[2] % 4]!;
    return { kind: 'compaction.fragment', args: { guest: x.g.id, pid: x.p.pid, vpn: FRAGMENT_REGION_VPN + (c[3] % 64) * 4096, pages } };
  },
  'compaction.migrate.begin': (w: World, c: Choice): Operation | null => {
    const g = guestOf(w, c[1]);
    const side = c[2] % 2 === 0 ? 'guest' : 'host';
    const gfn = side === 'guest' ? anonGfn(w, g, c[3]) : backedGfn(w, g, c[3]);
    return gfn === undefined ? null : { kind: 'compaction.migrate.begin', args: { side, guest: g.id, gfn } };
  },
  'compaction.migrate.step': (w: World, c: Choice): Operation | null => {
    const id = nthKey(compactionState(w).active, c[1]);
    return id === undefined ? null : { kind: 'compaction.migrate.step', args: { id } };
  },
  'compaction.run': (w: World, c: Choice): Operation | null => ({
    kind: 'compaction.run',
    args: { side: c[2] % 3 === 0 ? 'host' : 'guest', guest: guestOf(w, c[1]).id, order: orderFor(c[3]), proactive: c[2] % 4 === 1 },
  }),
};
