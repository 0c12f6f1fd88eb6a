/**
 * double-caching-exact (page-cache): the double-caching figure, the model's ledger of
 * (guest, disk, block) held both by a host page-cache frame and by the guest's page cache, is
 * exactly the blocks for which that is true: an entry for every such block, none for any
 * other. Its size is the figure reported (fuzz/figures/pressure-figures.ts).
 */
import { blockKey, DISK_BLOCKS, DISKS_PER_GUEST, fileAt, pageKey } from '../../model/pagecache/layout';
import { cacheOf, pcWorld } from '../../model/pagecache/state';
import type { World } from '../../model/world';
import type { Property } from '../property';
import type { Reporter } from '../violation';

const NAME = 'double-caching-exact';

function truth(w: World, guest: number, disk: number, block: number): boolean {
  const d = pcWorld(w).disks[guest]?.[disk];
  if (!d?.hostCache.has(block)) return false;
  const { file, index } = fileAt(disk, block);
  return cacheOf(w.guests[guest]!).pages.has(pageKey(file, index));
}

function checkKey(w: World, k: number, r: Reporter): void {
  const block = k % DISK_BLOCKS;
  const gd = Math.floor(k / DISK_BLOCKS);
  const disk = gd % DISKS_PER_GUEST;
  const guest = Math.floor(gd / DISKS_PER_GUEST);
  const counted = pcWorld(w).doubleCached.has(k);
  const is = truth(w, guest, disk, block);
  if (counted !== is)
    r.report({ property: NAME, kind: counted ? 'counted-single-copy' : 'missed-double-copy', subject: `g${guest} disk ${disk} block ${block}`, message: 'the double-caching figure disagrees with the two caches', expected: is ? 'counted (host and guest both cache it)' : 'not counted', actual: counted ? 'counted' : 'not counted' });
}

export const doubleCachingExact: Property = {
  name: NAME,
  mechanism: 'page-cache',
  kind: 'safety',
  description: 'the double-caching figure counts exactly the blocks both the host and the guest page cache hold',
  checkStep({ world: w, journal: j }, r) {
    for (const k of j.marks.get('dc') ?? []) checkKey(w, k, r);
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) for (let d = 0; d < DISKS_PER_GUEST; d++) for (let b = 0; b < DISK_BLOCKS; b++) checkKey(w, blockKey(g.id, d, b), r);
  },
};
