/**
 * The virtual disks as the host serves them (QEMU block layer over a disk image): reads and
 * writes of blocks, FLUSH, and, for cache=writeback images, the host page cache in between
 * (host frames of owner 'host-page-cache', each clean or dirty; the host's flusher writes
 * dirty ones to the medium and its reclaim evicts clean ones). cache=none images go straight
 * to the medium (O_DIRECT).
 *
 * Also the double-caching ledger: a (guest, disk, block) is double cached while a host
 * page-cache frame holds the block and the guest's page cache holds the same file page.
 */
import { ZERO, type Content } from '../content';
import type { Guest } from '../guest/guest';
import { hostAlloc, hostFree } from '../host/alloc';
import { ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { blockKey, fileAt, HOST_CACHE_PAGES_MAX, pageKey } from './layout';
import { cacheOf, diskState, pcWorld, type VirtualDisk } from './state';

/** Something about this file page changed (its cache page, its disk block): incremental checks look here. */
export function markPage(w: World, guest: number, file: number, index: number): void {
  w.journal.mark(`pc:g${guest}`, pageKey(file, index));
}

function markBlock(w: World, d: VirtualDisk, block: number): void {
  const { file, index } = fileAt(d.disk, block);
  markPage(w, d.guest, file, index);
  w.journal.mark('dc', blockKey(d.guest, d.disk, block));
}

/**
 * Bring the ledger entry of (guest, disk, block) in line with the two caches. Every insertion
 * or removal on either side calls it.
 */
export function syncDoubleCached(w: World, guest: number, disk: number, block: number): void {
  const pc = pcWorld(w);
  const d = diskState(w, guest, disk);
  const { file, index } = fileAt(disk, block);
  const both = d.hostCache.has(block) && cacheOf(w.guests[guest]!).pages.has(pageKey(file, index));
  const k = blockKey(guest, disk, block);
  if (both) pc.doubleCached.add(k);
  else pc.doubleCached.delete(k);
  w.journal.mark('dc', k);
}

/** What the disk returns for a block now, without side effects (host cache first). */
export function diskPeek(w: World, guest: number, disk: number, block: number): Content {
  const d = diskState(w, guest, disk);
  const h = d.hostCache.get(block);
  if (h) return w.frames.read(h.hfn);
  return d.medium.get(block) ?? ZERO;
}

/** Move a host cache page to the young end of the host's LRU. */
function touchHost(d: VirtualDisk, block: number): void {
  const h = d.hostCache.get(block);
  if (!h) return;
  d.hostCache.delete(block);
  d.hostCache.set(block, h);
}

function hostDrop(w: World, d: VirtualDisk, block: number, why: string): void {
  const h = d.hostCache.get(block);
  if (!h) return;
  d.hostCache.delete(block);
  hostFree(w, h.hfn, 0);
  markBlock(w, d, block);
  // Hazard: the ledger must follow every removal from the host cache; a host eviction that
  // leaves the entry keeps counting a copy that is gone (the statistics-drift class of
  // bbbc709a0fbf, NR_FILE_PAGES left wrong by a page-cache path that skipped its update).
  if (!(why === 'evict' && w.fault('double-cache-count-misses-host-evict'))) syncDoubleCached(w, d.guest, d.disk, block);
  w.transition('page-cache', 'host-clean', 'host-absent');
}

/** The host's own eviction when an image's cache is full: oldest clean page, else write back the oldest. */
function makeRoom(w: World, d: VirtualDisk): void {
  if (d.hostCache.size < HOST_CACHE_PAGES_MAX) return;
  for (const [block, h] of d.hostCache) {
    if (!h.dirty) {
      hostDrop(w, d, block, 'lru');
      return;
    }
  }
  const first = d.hostCache.keys().next();
  if (first.done) return;
  const block = first.value;
  // Written back, then dropped as a clean page (the entry goes with it: no need to clear h.dirty).
  d.medium.set(block, w.frames.read(d.hostCache.get(block)!.hfn));
  hostDrop(w, d, block, 'lru');
}

/** A host page-cache frame for block holding `c`; null when the host has no frame to spare. */
function hostInsert(w: World, d: VirtualDisk, block: number, c: Content, dirty: boolean): boolean {
  makeRoom(w, d);
  const hfn = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'host-page-cache', guest: d.guest, disk: d.disk, block }), 'page-cache', dirty ? 'write' : 'read');
  if (typeof hfn !== 'number') return false;
  w.frames.write(hfn, c);
  d.hostCache.set(block, { hfn, dirty });
  markBlock(w, d, block);
  syncDoubleCached(w, d.guest, d.disk, block);
  w.transition('page-cache', 'host-absent', dirty ? 'host-dirty' : 'host-clean');
  return true;
}

/** A guest read of a block reaching the device. */
export function diskRead(w: World, g: Guest, disk: number, block: number): Content {
  const d = diskState(w, g.id, disk);
  if (d.mode === 'none') return d.medium.get(block) ?? ZERO;
  const h = d.hostCache.get(block);
  if (h) {
    touchHost(d, block);
    return w.frames.read(h.hfn);
  }
  const c = d.medium.get(block) ?? ZERO;
  // No frame to spare: the read is served without caching it.
  hostInsert(w, d, block, c, false);
  return c;
}

/** A guest write of a block reaching the device (its write completed). */
export function diskWrite(w: World, g: Guest, disk: number, block: number, c: Content): void {
  const d = diskState(w, g.id, disk);
  w.journal.mark(`pc-io:g${g.id}`, blockKey(g.id, disk, block));
  if (d.mode === 'none') {
    d.medium.set(block, c);
    markBlock(w, d, block);
    return;
  }
  const h = d.hostCache.get(block);
  if (h) {
    w.frames.write(h.hfn, c);
    if (!h.dirty) w.transition('page-cache', 'host-clean', 'host-dirty');
    h.dirty = true;
    touchHost(d, block);
    markBlock(w, d, block);
    return;
  }
  // No frame to spare: written through to the medium.
  if (!hostInsert(w, d, block, c, true)) {
    d.medium.set(block, c);
    markBlock(w, d, block);
  }
}

/** FLUSH (VIRTIO_BLK_T_FLUSH -> bdrv_co_flush -> fdatasync): every dirty host page of the image reaches the medium. */
export function diskFlush(w: World, g: Guest, disk: number): void {
  const d = diskState(w, g.id, disk);
  for (const [block, h] of d.hostCache) {
    if (!h.dirty) continue;
    d.medium.set(block, w.frames.read(h.hfn));
    h.dirty = false;
    markBlock(w, d, block);
    w.transition('page-cache', 'host-dirty', 'host-clean');
  }
}

/** The host's flusher writes one dirty page of an image to the medium. */
export function hostCacheWriteback(w: World, guest: number, disk: number, block: number): OpResult {
  const d = diskState(w, guest, disk);
  const h = d.hostCache.get(block);
  if (!h) return refuse('no-such-mapping', `host page cache of g${guest} disk ${disk} has no block ${block}`);
  if (!h.dirty) return refuse('invalid', `host page cache block ${block} of g${guest} disk ${disk} is clean`);
  d.medium.set(block, w.frames.read(h.hfn));
  h.dirty = false;
  markBlock(w, d, block);
  w.transition('page-cache', 'host-dirty', 'host-clean');
  return ok();
}

/** The host's reclaim evicts one page of an image's cache; a dirty page must be written back first. */
export function hostCacheEvict(w: World, guest: number, disk: number, block: number): OpResult {
  const d = diskState(w, guest, disk);
  const h = d.hostCache.get(block);
  if (!h) return refuse('no-such-mapping', `host page cache of g${guest} disk ${disk} has no block ${block}`);
  if (h.dirty) return refuse('busy', `host page cache block ${block} of g${guest} disk ${disk} is dirty: write it back first`);
  hostDrop(w, d, block, 'evict');
  return ok();
}

/** Teardown: QEMU closes each image (bdrv_close flushes it) and the host drops its cached pages. */
export function dropHostCaches(w: World): void {
  for (const row of pcWorld(w).disks)
    for (const d of row)
      for (const [block, h] of [...d.hostCache]) {
        // Written back if dirty, then dropped with its entry (no need to clear h.dirty).
        if (h.dirty) d.medium.set(block, w.frames.read(h.hfn));
        hostDrop(w, d, block, 'close');
      }
}

/** Whether hfn is the host page-cache frame of (guest, disk, block) (ownership check). */
export function hostCacheHolds(w: World, guest: number, disk: number, block: number, hfn: number): boolean {
  const row = pcWorld(w).disks[guest];
  return row?.[disk]?.hostCache.get(block)?.hfn === hfn;
}
