/**
 * Generators for migration and compaction (model/compaction/ops.ts): sources chosen among the
 * live pages, with a bias towards pages a TLB entry still translates (the ones a wrong flush
 * order exposes), steps of the migrations in flight, and the orders that matter (pageblock,
 * MAX_PAGE_ORDER, the costly boundary).
 */
import { MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_ORDER } from '../../model/constants';
import { compactionState } from '../../model/compaction/state';
import { blockAvailable, isolatedBlockAvailable } from '../../model/compaction/zone';
import { compactGap } from '../../model/compaction/compact';
import { FRAGMENT_PAGES_MAX } from '../../model/compaction/ops';
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
  // One choice in four: a page that is not a process page (kernel, page table, zero page):
  // the migration must be refused.
  const other = c % 4 === 2;
  const pages: number[] = [];
  for (const [gfn, o] of g.owners) if (other ? o.kind !== 'anon' && o.kind !== 'virtio-mem' : o.kind === 'anon') pages.push(gfn);
  return pick(pages, c >> 2);
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
    // Enough to matter: a good part of what the guest has free, so that high orders run out.
    const free = x.g.buddy.freePages();
    const pages = Math.max(2, Math.min(FRAGMENT_PAGES_MAX, [free >> 2, 512, 128, 256][c[2] % 4]!));
    // (bounded by FRAGMENT_PAGES_MAX: the workload is the costliest step of a run)
    return { kind: 'compaction.fragment', args: { guest: x.g.id, pid: x.p.pid, vpn: FRAGMENT_REGION_VPN + (c[3] % 64) * 8192, pages } };
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
  'compaction.run': (w: World, c: Choice): Operation | null => {
    const side = c[2] % 3 === 0 ? 'host' : 'guest';
    const g = guestOf(w, c[1]);
    // Mostly the order a request would now fail at (the smallest with no free block), the case
    // compaction exists for; else one of the orders that matter.
    // Mostly the highest order a request would now fail at for which compaction has the free
    // pages it needs (compact_gap): the hard case, where only a whole emptied block will do.
    const b = side === 'host' ? w.hostBuddy : g.buddy;
    let failing = -1;
    const shadowed: number[] = [];
    for (let o = 1; o <= MAX_PAGE_ORDER; o++)
      if (!blockAvailable(b, o) && b.freePages() > b.watermarks().low + compactGap(o)) {
        failing = o;
        // An order for which only isolated memory has a free block: compaction must not be fooled by it.
        if (isolatedBlockAvailable(b, o)) shadowed.push(o);
      }
    if (shadowed.length > 0 && c[3] % 2 === 0) return { kind: 'compaction.run', args: { side, guest: g.id, order: pick(shadowed, c[2])!, proactive: false } };
    if (failing < 0 && side === 'guest' && c[3] % 4 === 0) {
      // Nothing to compact for: fragment the zone first (what compaction exists for).
      const x = pick([...g.processes.values()], c[1] >> 2);
      if (x) return { kind: 'compaction.fragment', args: { guest: g.id, pid: x.pid, vpn: FRAGMENT_REGION_VPN + (c[3] % 64) * 8192, pages: Math.max(2, Math.min(FRAGMENT_PAGES_MAX, g.buddy.freePages() >> 1)) } };
    }
    const order = failing > 0 && c[3] % 4 !== 3 ? failing : orderFor(c[3]);
    return { kind: 'compaction.run', args: { side, guest: g.id, order, proactive: c[2] % 4 === 1 } };
  },
};
