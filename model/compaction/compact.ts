/**
 * Memory compaction of one zone (mm/compaction.c compact_zone), for a guest kernel's zone
 * (guest frames; guest page tables follow the moved pages) and for the host's (host frames
 * backing guest memory; EPT entries follow).
 *
 * A run's cycle: idle -> compacting -> success | complete, or idle -> skipped | not-needed.
 * - compaction_suitable: nothing to do when a block of the order is already free; skipped
 *   when free pages are below the watermark plus compact_gap (2 << order), and, for costly
 *   orders (> PAGE_ALLOC_COSTLY_ORDER), when the fragmentation index says the failure is lack
 *   of memory rather than fragmentation (0 <= index <= extfrag_threshold, default 500).
 *   Proactive runs (/proc/sys/vm/compact_memory, kcompactd's proactive mode) skip the checks.
 * - The migrate scanner walks pageblocks up from the zone start, isolating movable pages; the
 *   free scanner walks pageblocks down from the zone end, isolating free pages of suitable
 *   pageblocks as targets. The run stops where the two meet (compact_scanners_met, pageblock
 *   granular) or, unless proactive, as soon as a block of the order is free (__compact_finished).
 * - Each page moves with the full migration protocol (migrate.ts), synchronously
 *   (MIGRATE_SYNC: direct compaction escalates to it; the model does not model async mode).
 */
import type { BuddyAllocator } from '../buddy/buddy';
import { FRAMES_PER_2M, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_FRAMES } from '../constants';
import type { Guest } from '../guest/guest';
import type { MigrateType } from '../buddy/migratetype';
import type { World } from '../world';
import { beginGuestMigration, beginHostMigration, guestMovable, hostMovable, runMigration, UNREACHABLE } from './migrate';
import { compactionState, guestLockedSet, prune, type CompactionRun, type MigrationSide, type PageblockGhost, type ZoneGhost } from './state';
import { blockAvailable, pageblockBlocks, pageblocks, suitableMigrationTarget } from './zone';

/** mm/compaction.c sysctl_extfrag_threshold default. */
export const EXTFRAG_THRESHOLD_DEFAULT = 500;
/** COMPACT_CLUSTER_MAX = SWAP_CLUSTER_MAX: pages isolated per batch. */
export const COMPACT_CLUSTER_MAX = 32;

export const FAULT_FREE_SCANNER_STARTS_LOW = 'compaction-free-scanner-starts-low';

const MECH = 'compaction';

/** mm/compaction.c compact_gap: free pages compaction needs as targets and headroom. */
export function compactGap(order: number): number {
  return 2 << order;
}

interface ZoneSide {
  readonly buddy: BuddyAllocator;
  /** Migrate scanner: the movable pages of one pageblock. */
  movableIn(pb: number): number[];
  /** Move page `pfn` to free page `dst`: 'ok', 'skip' (not movable after all) or 'failed'. */
  migrate(pfn: number, dst: number): 'ok' | 'skip' | 'failed';
  /** Give an unused free-scanner page back. */
  release(pfn: number): void;
  /** Movable pages the migrate scanner could not examine (their tables unreachable). */
  readonly unreachable: { count: number };
  /** Ghost: is this allocated order-0 page movable (independent of the scanner's test)? */
  ghostMovable(pfn: number): boolean;
}

function guestSide(world: World, g: Guest): ZoneSide {
  const unreachable = { count: 0 };
  return {
    buddy: g.buddy,
    unreachable,
    movableIn: (pb) => {
      const out: number[] = [];
      for (const blk of pageblockBlocks(g.buddy, pb)) {
        if (blk.free || blk.order !== 0) continue;
        const mv = guestMovable(world, g, blk.pfn);
        if (typeof mv !== 'string') out.push(blk.pfn);
        else if (mv.startsWith(UNREACHABLE)) unreachable.count++;
      }
      return out;
    },
    migrate: (pfn, dst) => {
      const m = beginGuestMigration(world, g, pfn, 'compaction', dst);
      if ('ok' in m) return 'skip';
      return runMigration(world, m).ok ? 'ok' : 'failed';
    },
    release: (pfn) => void g.buddy.free(pfn, 0),
    ghostMovable: (pfn) => {
      const o = g.owners.get(pfn);
      if (o?.kind !== 'anon' || guestLockedSet(compactionState(world), g.id).has(pfn)) return false;
      return g.rmap.reaching(pfn).some((h) => h.level === 1 && h.owner === o.pid && h.source === o.vpn);
    },
  };
}

function hostSide(world: World): ZoneSide {
  const gfnOf = (hfn: number): { g: Guest; gfn: number } | null => {
    const o = world.frames.owner(hfn);
    return o?.kind === 'guest-memory' ? { g: world.guests[o.guest]!, gfn: o.gfn } : null;
  };
  return {
    buddy: world.hostBuddy,
    unreachable: { count: 0 },
    movableIn: (pb) => {
      const out: number[] = [];
      for (const blk of pageblockBlocks(world.hostBuddy, pb)) {
        if (blk.free || blk.order !== 0) continue;
        const x = gfnOf(blk.pfn);
        if (x && hostMovable(world, x.g, x.gfn) === null) out.push(blk.pfn);
      }
      return out;
    },
    migrate: (pfn, dst) => {
      const x = gfnOf(pfn);
      if (!x) return 'skip';
      const m = beginHostMigration(world, x.g, x.gfn, 'compaction', dst);
      if ('ok' in m) return 'skip';
      return runMigration(world, m).ok ? 'ok' : 'failed';
    },
    release: (pfn) => void world.hostBuddy.free(pfn, 0),
    ghostMovable: (pfn) => {
      const o = world.frames.owner(pfn);
      if (o?.kind !== 'guest-memory') return false;
      const g = world.guests[o.guest]!;
      if (g.backing.get(o.gfn) !== pfn || g.hugeBacked.has(Math.floor(o.gfn / FRAMES_PER_2M))) return false;
      if (compactionState(world).hostLocked.has(pfn)) return false;
      const r = g.pendingReclaim;
      return !(r && o.gfn >= r.gfn && o.gfn < r.gfn + r.frames);
    },
  };
}

const USABLE: readonly MigrateType[] = ['UNMOVABLE', 'MOVABLE', 'RECLAIMABLE'];

/** Ghost of the zone before the run: per pageblock, free, movable and other pages. */
function ghostOf(z: ZoneSide): ZoneGhost {
  const b = z.buddy;
  const out: PageblockGhost[] = [];
  for (const pb of pageblocks(b)) {
    let free = 0;
    let movable = 0;
    const other: number[] = [];
    for (const blk of pageblockBlocks(b, pb)) {
      const size = Math.min(1 << blk.order, PAGEBLOCK_FRAMES);
      const start = Math.max(blk.pfn, pb);
      if (blk.free) free += size;
      else if (blk.order === 0 && z.ghostMovable(blk.pfn)) movable++;
      else for (let i = 0; i < size; i++) other.push(start + i - pb);
    }
    const mt = b.migratetypeOf(pb);
    out.push({ pfn: pb, free, movable, other, isolated: mt === 'ISOLATE', usable: USABLE.includes(mt), target: suitableMigrationTarget(b, pb) });
  }
  return { base: b.base, pageblocks: out };
}

export interface CompactOptions {
  readonly order: number;
  /** Skip compaction_suitable and run the whole zone (compact_memory, proactive kcompactd). */
  readonly proactive: boolean;
}

/** compact_zone for a guest's zone (`g`) or the host's (`g` null). */
export function compactZone(world: World, g: Guest | null, opts: CompactOptions): CompactionRun {
  const z = g ? guestSide(world, g) : hostSide(world);
  const b = z.buddy;
  const s = compactionState(world);
  const side: MigrationSide = g ? 'guest' : 'host';
  const base = { id: s.nextId++, side, guest: g ? g.id : -1, order: opts.order, proactive: opts.proactive, failures: 0, migrated: 0 };
  const finish = (run: CompactionRun): CompactionRun => {
    s.runs.set(run.id, run);
    prune(s.runs);
    world.journal.mark('compaction:run', run.id);
    return run;
  };
  if (!opts.proactive) {
    if (blockAvailable(b, opts.order)) {
      world.transition(MECH, 'idle', 'not-needed');
      return finish({ ...base, outcome: 'not-needed', ghost: null });
    }
    const threshold = world.option('compaction.extfrag-threshold', EXTFRAG_THRESHOLD_DEFAULT);
    const marks = b.watermarks();
    const watermark = (opts.order > PAGE_ALLOC_COSTLY_ORDER ? marks.low : marks.min) + compactGap(opts.order);
    const fragindex = b.fragmentationIndex(opts.order);
    if (b.freePages() <= watermark || (opts.order > PAGE_ALLOC_COSTLY_ORDER && fragindex >= 0 && fragindex <= threshold)) {
      world.transition(MECH, 'idle', 'skipped');
      return finish({ ...base, outcome: 'skipped', ghost: null });
    }
  }
  world.transition(MECH, 'idle', 'compacting');
  const run: CompactionRun = { ...base, outcome: 'complete', ghost: ghostOf(z) };
  const pbs = pageblocks(b);
  let mi = 0;
  let fi = pbs.length - 1;
  const freelist: number[] = [];

  /**
   * __compact_finished: done once a block of the order is free on a list the request can
   * take from. A free block on the ISOLATE list (memory being offlined, a CMA range) is
   * nobody's to allocate and never counts (free_area[order].nr_free would: it covers every list).
   */
  const finished = (): boolean => blockAvailable(b, opts.order);

  // Hazard: the free scanner starts at the zone's end and walks down (compact_zone:
  // cc->free_pfn = pageblock_start_pfn(zone_end_pfn - 1)); started at the migrate scanner's
  // pageblock and walking up, it hands out targets inside the very pageblock being emptied,
  // and pages only shuffle within it.
  const startsLow = world.fault(FAULT_FREE_SCANNER_STARTS_LOW);
  let low = 0;

  /** isolate_freepages: refill the target list from the next suitable pageblock above the migrate scanner. */
  const isolateFreepages = (): void => {
    for (let steps = 0; steps < pbs.length && freelist.length === 0; steps++) {
      const i = startsLow ? Math.max(low, mi) : fi;
      if (startsLow ? i >= pbs.length : i <= mi) return;
      const pb = pbs[i]!;
      if (suitableMigrationTarget(b, pb)) {
        for (const blk of pageblockBlocks(b, pb)) {
          if (!blk.free) continue;
          for (let p = blk.pfn + (1 << blk.order) - 1; p >= blk.pfn && freelist.length < COMPACT_CLUSTER_MAX; p--) {
            if (typeof b.allocAt(p, 0, 'MOVABLE') === 'number') freelist.push(p);
          }
          if (freelist.length >= COMPACT_CLUSTER_MAX) break;
        }
      }
      if (freelist.length === 0) {
        if (startsLow) low = i + 1;
        else fi--;
      }
    }
  };

  let stop = false;
  for (; mi < pbs.length && !stop; mi++) {
    if (!startsLow && fi <= mi) break; // compact_scanners_met
    const pb = pbs[mi]!;
    if (b.migratetypeOf(pb) === 'ISOLATE') continue;
    for (const pfn of z.movableIn(pb)) {
      if (freelist.length === 0) isolateFreepages();
      const dst = freelist.pop();
      if (dst === undefined) {
        stop = true;
        break;
      }
      const r = z.migrate(pfn, dst);
      if (r === 'ok') run.migrated++;
      else if (r === 'failed') run.failures++;
      else z.release(dst);
    }
    if (!opts.proactive && finished()) break;
  }
  for (const p of freelist) z.release(p);
  // A page the scanner could not examine counts as a failed migration (compaction-finds-block
  // does not judge such a run).
  run.failures += z.unreachable.count;
  run.outcome = blockAvailable(b, opts.order) ? 'success' : 'complete';
  world.transition(MECH, 'compacting', run.outcome);
  return finish(run);
}

/**
 * The guest allocator's slow path (mm/page_alloc.c __alloc_pages_direct_compact): a failed
 * allocation of order > 0 compacts the zone and retries. Returns the pages it made available.
 */
export function directCompaction(world: World, g: Guest, order: number): number {
  if (order === 0) return 0;
  const run = compactZone(world, g, { order, proactive: false });
  return run.outcome === 'success' ? 1 << order : 0;
}
