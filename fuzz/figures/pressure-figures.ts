/**
 * Figures of issue 4 on a sample workload, computed by running the model (every step checked):
 *
 * - double caching: host frames holding a disk block that the guest's page cache also holds,
 *   for cache=writeback images, cache=none images, and with unmapped page-cache control;
 * - the shared page cache: frames saved by mapping one host copy of a file page into every
 *   guest that reads it, against one copy per guest.
 *
 *   npx tsx fuzz/figures/pressure-figures.ts          # a table
 *   npx tsx fuzz/figures/pressure-figures.ts --json   # the same, as JSON
 */
import type { Operation } from '../contract';
import { daxWorld, recountSavings, SHARED_FILE_PAGES, SHARED_FILES, windowGfn } from '../../model/dax/shared-cache';
import { FILE_PAGES, FILES_PER_DISK } from '../../model/pagecache/layout';
import { cacheOf, pcWorld } from '../../model/pagecache/state';
import { machine, op, scenario } from '../testing/scenario';

const GUESTS = 2;
const DAX_GUESTS = 3;
const DAX_VPN = 1 << 23;

export interface DoubleCaching {
  readonly mode: string;
  /** Guest page-cache pages, over all guests. */
  readonly guestPages: number;
  /** Host page-cache frames of the guests' disk images. */
  readonly hostFrames: number;
  /** Host frames whose block a guest also caches: the double caching. */
  readonly doubleCached: number;
  readonly violations: number;
}

export interface SharedCache {
  readonly guests: number;
  readonly mappings: number;
  readonly sharedFrames: number;
  readonly privateCopies: number;
  /** Frames a per-guest copy of every mapped page would need. */
  readonly perGuestFrames: number;
  readonly saved: number;
  readonly savedRecount: number;
  readonly violations: number;
}

/** Every guest reads every page of all its files (64 on disk 0, 64 on disk 1). */
function readAll(): Operation[] {
  const ops: Operation[] = [];
  for (let g = 0; g < GUESTS; g++)
    for (let f = 0; f < 2 * FILES_PER_DISK; f++) for (let i = 0; i < FILE_PAGES; i++) ops.push(op('file.read', { guest: g, file: f, index: i }));
  return ops;
}

function doubleCaching(mode: string, cacheModes: string, upcLimit: number): DoubleCaching {
  const ops = readAll();
  if (upcLimit >= 0) for (let g = 0; g < GUESTS; g++) ops.push(op('upc.reclaim', { guest: g }));
  const r = scenario(machine({ 'page-cache.cacheModes': cacheModes, 'unmapped-page-control.limit': upcLimit, 'cleancache.enabled': false, 'frontswap.enabled': false }, [], GUESTS), ops);
  const w = r.world;
  const pc = pcWorld(w);
  let hostFrames = 0;
  for (const row of pc.disks) for (const d of row) hostFrames += d.hostCache.size;
  return {
    mode,
    guestPages: w.guests.reduce((n, g) => n + cacheOf(g).pages.size, 0),
    hostFrames,
    doubleCached: pc.doubleCached.size,
    violations: r.violations.length,
  };
}

/** DAX_GUESTS guests map both shared files read-only and read every page; then guest 0 writes 4 pages of file 0. */
export function sharedCacheFigures(): { read: SharedCache; afterWrites: SharedCache } {
  const ops: Operation[] = [];
  for (let g = 0; g < DAX_GUESTS; g++) {
    ops.push(op('guest.spawn', { guest: g }));
    for (let f = 0; f < SHARED_FILES; f++) ops.push(op('dax.mmap', { guest: g, pid: 1, file: f, vpn: DAX_VPN + f * SHARED_FILE_PAGES, write: g === 0 }));
  }
  for (let g = 0; g < DAX_GUESTS; g++)
    for (let f = 0; f < SHARED_FILES; f++) for (let i = 0; i < SHARED_FILE_PAGES; i++) ops.push(op('guest.read', { guest: g, pid: 1, vpn: DAX_VPN + f * SHARED_FILE_PAGES + i }));
  const writes = [0, 1, 2, 3].map((i) => op('guest.write', { guest: 0, pid: 1, vpn: DAX_VPN + i }));
  const config = machine({ 'shared-page-cache.grants': 'ro', 'cleancache.enabled': false, 'frontswap.enabled': false }, [], DAX_GUESTS);
  const measure = (extra: Operation[]): SharedCache => {
    const r = scenario(config, [...ops, ...extra]);
    const w = r.world;
    let mappings = 0;
    let privateCopies = 0;
    for (const g of w.guests)
      for (let f = 0; f < SHARED_FILES; f++)
        for (let i = 0; i < SHARED_FILE_PAGES; i++) {
          const hfn = g.backing.get(windowGfn(g, f, i));
          if (hfn === undefined) continue;
          mappings++;
          if (w.frames.owner(hfn)?.kind === 'dax-private') privateCopies++;
        }
    const shared = daxWorld(w).cache.size;
    return { guests: DAX_GUESTS, mappings, sharedFrames: shared, privateCopies, perGuestFrames: mappings, saved: daxWorld(w).savings, savedRecount: recountSavings(w), violations: r.violations.length };
  };
  return { read: measure([]), afterWrites: measure(writes) };
}

export function doubleCachingFigures(): DoubleCaching[] {
  return [
    doubleCaching('cache=writeback on both disks', 'writeback', -1),
    doubleCaching('mixed: disk 0 writeback, disk 1 none', 'mixed', -1),
    doubleCaching('cache=none on both disks', 'none', -1),
    doubleCaching('mixed, unmapped page-cache control limit 16', 'mixed', 16),
  ];
}

export function pressureFigures(): { doubleCaching: DoubleCaching[]; sharedCache: { read: SharedCache; afterWrites: SharedCache } } {
  return { doubleCaching: doubleCachingFigures(), sharedCache: sharedCacheFigures() };
}

function main(): void {
  const f = pressureFigures();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(f, null, 2));
    return;
  }
  console.log(`Double caching: ${GUESTS} guests each read all ${2 * FILES_PER_DISK * FILE_PAGES} pages of their files (${FILES_PER_DISK * FILE_PAGES} on disk 0, ${FILES_PER_DISK * FILE_PAGES} on disk 1)`);
  console.log('  disks                                          guest pages  host frames  double-cached  violations');
  for (const d of f.doubleCaching) console.log(`  ${d.mode.padEnd(46)} ${String(d.guestPages).padStart(11)}  ${String(d.hostFrames).padStart(11)}  ${String(d.doubleCached).padStart(13)}  ${String(d.violations).padStart(10)}`);
  const s = f.sharedCache;
  console.log(`Shared page cache: ${s.read.guests} guests map ${SHARED_FILES} shared files (${SHARED_FILES * SHARED_FILE_PAGES} pages) read-only and read every page`);
  const line = (name: string, x: SharedCache) =>
    console.log(`  ${name.padEnd(34)} mappings ${x.mappings}, host frames ${x.sharedFrames} shared + ${x.privateCopies} private, per-guest copies would take ${x.perGuestFrames}: saved ${x.saved} frames (${Math.round((100 * x.saved) / x.perGuestFrames)}%; recount ${x.savedRecount}; violations ${x.violations})`);
  line('after the reads', s.read);
  line('after guest 0 writes 4 pages', s.afterWrites);
}

if (require.main === module) main();
