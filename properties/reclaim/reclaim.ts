/**
 * Reclaim's properties (reclaim):
 * - reclaim-never-drops-dirty: every page reclaim freed this step still reads back its last
 *   write from where it went: a file page from the disk (file oracle), an anonymous page from
 *   swap (core oracle);
 * - reclaim-unmaps-first: a page reclaim freed is no longer reachable through its old
 *   mappings: no guest leaf but the page's new owner's, no TLB entry that a fresh walk would
 *   not give (the flush came before the free);
 * - reclaim-makes-progress: shrink_all_memory(n) frees n pages or leaves nothing
 *   reclaimable; after the settle phase, reclaim freed everything that was reclaimable;
 * - kswapd-watermarks: kswapd runs only when woken below the low watermark and then reclaims
 *   up to the high watermark unless nothing reclaimable is left.
 * "Reclaimable" is measured directly from the state (model/reclaim/measure.ts). A step in
 * which reclaim could not reach a page table (the host out of memory) is exempt from the
 * progress rules: that is the host failing the guest, not reclaim.
 */
import { describeContent } from '../../model/content';
import { leafMayMap, pagedOut } from '../../model/guest/leaf';
import type { Guest } from '../../model/guest/guest';
import { nestedWalk } from '../../model/mmu/walk';
import { reclaimablePages } from '../../model/reclaim/measure';
import { reclaimLog, reclaimOf, type Reclaimed } from '../../model/reclaim/state';
import type { World } from '../../model/world';
import { describeExpected, meets, type Oracle } from '../oracle';
import { droppedDirty } from '../pagecache/dirty-never-dropped';
import { fileOracle, type FileOracle } from '../pagecache/file-oracle';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

function entries(w: World, g: Guest): Reclaimed[] {
  return reclaimLog(g, w.step);
}

// ---- reclaim-never-drops-dirty ----

const DIRTY = 'reclaim-never-drops-dirty';

function checkDropped(w: World, fo: FileOracle, o: Oracle, g: Guest, e: Reclaimed, r: Reporter): void {
  if (e.kind === 'file') {
    const bad = droppedDirty(w, fo, g.id, e.file, e.index);
    if (bad) r.report({ property: DIRTY, kind: 'dropped-dirty-file-page', subject: `g${g.id} file ${e.file} page ${e.index}`, message: 'reclaim freed a file page whose last write is not on the disk', ...bad });
    return;
  }
  const away = pagedOut(w, g, e.pid, e.vpn);
  if (away === undefined) return; // swapped back in, or unmapped, since
  const expected = o.expected(g.id, e.pid, e.vpn);
  if (!meets(expected, away))
    r.report({ property: DIRTY, kind: 'dropped-dirty-anon-page', subject: `g${g.id} pid ${e.pid} va ${hex(e.vpn * 4096)}`, message: 'reclaim swapped out a page whose swap copy is not its last write', expected: describeExpected(expected), actual: describeContent(away) });
}

function dirtyCheck(ctx: StepContext, r: Reporter): void {
  const fo = fileOracle(ctx);
  for (const g of ctx.world.guests) for (const e of entries(ctx.world, g)) checkDropped(ctx.world, fo, ctx.oracle, g, e, r);
}

export const reclaimNeverDropsDirty: Property = {
  name: DIRTY,
  mechanism: 'reclaim',
  kind: 'safety',
  description: 'reclaim never frees a dirty page without writing it back (to the disk, or to swap)',
  checkStep: dirtyCheck,
  checkAll: dirtyCheck,
};

// ---- reclaim-unmaps-first ----

const UNMAPS = 'reclaim-unmaps-first';

function unmapCheck(ctx: StepContext, r: Reporter): void {
  const w = ctx.world;
  for (const g of w.guests)
    for (const e of entries(w, g)) {
      const subject = e.kind === 'file' ? `g${g.id} file ${e.file} page ${e.index} (gfn ${hex(e.gfn)})` : `g${g.id} pid ${e.pid} va ${hex(e.vpn * 4096)} (gfn ${hex(e.gfn)})`;
      for (const hit of g.rmap.reaching(e.gfn))
        if (!leafMayMap(g, hit.owner, hit.source, e.gfn))
          r.report({ property: UNMAPS, kind: 'mapped-after-reclaim', subject, message: 'a page reclaim freed is still mapped', expected: 'unmapped before it was freed', actual: `pid ${hit.owner} va ${hex(hit.source * 4096)}` });
      for (const t of w.tlb.coveringGuestFrame(g.vpid, e.gfn)) {
        const p = g.processes.get(t.pcid);
        const walk = p ? nestedWalk(w, g, p.cr3, t.vpnBase, 'read', false) : null;
        if (!walk || walk.kind !== 'ok' || walk.gfn !== t.gfnBase)
          r.report({ property: UNMAPS, kind: 'tlb-not-flushed', subject, message: 'a TLB entry still translates to a page reclaim unmapped and freed', expected: 'flushed before the page was freed', actual: `pcid ${t.pcid} va ${hex(t.vpnBase * 4096)} -> gfn ${hex(t.gfnBase)}` });
      }
    }
}

export const reclaimUnmapsFirst: Property = {
  name: UNMAPS,
  mechanism: 'reclaim',
  kind: 'safety',
  description: 'reclaim never frees a mapped page without unmapping it first, with the TLB flush',
  checkStep: unmapCheck,
  checkAll: unmapCheck,
};

// ---- reclaim-makes-progress ----

const PROGRESS = 'reclaim-makes-progress';

function progressCheck({ world: w, op, result }: StepContext, r: Reporter): void {
  if (op?.kind !== 'reclaim.shrink' || !result?.ok) return;
  const g = w.guests[op.args.guest as number]!;
  const asked = op.args.pages as number;
  const freed = result.value ?? 0;
  if (freed >= asked || reclaimOf(g).blockedStep === w.step) return;
  const left = reclaimablePages(w, g);
  if (left.total > 0)
    r.report({ property: PROGRESS, kind: 'stopped-with-reclaimable', subject: `g${g.id} shrink_all_memory(${asked})`, message: 'reclaim stopped short while reclaimable memory remained', expected: `${asked} freed, or nothing reclaimable left`, actual: `${freed} freed, ${left.file} file + ${left.anon} anon pages reclaimable` });
}

export const reclaimMakesProgress: Property = {
  name: PROGRESS,
  mechanism: 'reclaim',
  kind: 'safety',
  description: 'reclaim frees memory whenever reclaimable memory exists (shrink_all_memory frees what it is asked for if it can; after settling nothing reclaimable is left)',
  checkStep: progressCheck,
  checkAll: progressCheck,
  settled({ world: w }, r) {
    for (const g of w.guests) {
      const s = reclaimOf(g).settled;
      if (s && !s.blocked && s.freed < s.reclaimable)
        r.report({ property: PROGRESS, kind: 'no-progress-at-settle', subject: `g${g.id}`, message: 'after the settle phase reclaim left reclaimable memory', expected: `${s.reclaimable} pages freed`, actual: `${s.freed} freed` });
    }
  },
};

// ---- kswapd-watermarks ----

const KSWAPD = 'kswapd-watermarks';

function kswapdCheck({ world: w, op, result }: StepContext, r: Reporter): void {
  if (op?.kind !== 'reclaim.kswapd' || !result?.ok) return;
  const g = w.guests[op.args.guest as number]!;
  const wm = g.buddy.watermarks();
  const freed = result.value ?? 0;
  const after = g.buddy.freePages();
  const before = after - freed;
  const subject = `g${g.id} kswapd`;
  if (before >= wm.low && freed > 0)
    r.report({ property: KSWAPD, kind: 'woke-above-low', subject, message: 'kswapd reclaimed although free pages were at or above the low watermark', expected: `asleep (free ${before} >= low ${wm.low})`, actual: `${freed} pages reclaimed` });
  if (before < wm.low && after < wm.high && reclaimOf(g).blockedStep !== w.step) {
    const left = reclaimablePages(w, g).total;
    if (left > 0)
      r.report({ property: KSWAPD, kind: 'stopped-below-high', subject, message: 'kswapd went back to sleep below the high watermark with reclaimable memory left', expected: `free >= high ${wm.high}`, actual: `free ${after}, ${left} pages reclaimable` });
  }
}

export const kswapdWatermarks: Property = {
  name: KSWAPD,
  mechanism: 'reclaim',
  kind: 'safety',
  description: 'kswapd wakes below the low watermark and reclaims until the high watermark',
  checkStep: kswapdCheck,
  checkAll: kswapdCheck,
};
