/**
 * Operations of the page caches (model/pagecache/): file read, write, mmap, fsync, writeback
 * and eviction in a guest; completion of block I/O; a guest crash; the host's flusher and
 * reclaim of its page cache of disk images; unmapped page-cache control's pass.
 *
 * Read results: ok(version) of the contents read (0: zero). Write results: ok(version written).
 */
import { fileRead, fileWrite, lookupPage, reclaimFilePage, writebackBegin } from '../pagecache/cache';
import { crashGuest } from '../pagecache/crash';
import { hostCacheEvict, hostCacheWriteback } from '../pagecache/disk';
import { fileFsync } from '../pagecache/fsync';
import { completeOldest } from '../pagecache/io';
import { DISK_BLOCKS, DISKS_PER_GUEST, FILE_PAGES, FILES_PER_GUEST } from '../pagecache/layout';
import { fileMmap } from '../pagecache/mmap';
import { upcPass } from '../pagecache/unmapped-control';
import type { Content } from '../content';
import { isRefusal, ok, refuse } from '../result';
import { bool, int, VPN_MAX, type OperationDef } from './operation';
import { GUEST, PID, guestOf, procOf } from './lookup';

const FILE = int(0, FILES_PER_GUEST - 1);
const INDEX = int(0, FILE_PAGES - 1);

/** The number a read result carries for contents: version, 0 for zero, -1 for anything else. */
export function contentCode(c: Content): number {
  if (c.kind === 'zero') return 0;
  if (c.kind === 'data' && c.version > 0) return c.version;
  return -1;
}

export const pageCacheOperations: readonly OperationDef[] = [
  {
    name: 'file.read', mechanism: 'page-cache', args: { guest: GUEST, file: FILE, index: INDEX },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const c = fileRead(w, g, a.file as number, a.index as number);
      return isRefusal(c) ? c : ok(contentCode(c));
    },
  },
  {
    name: 'file.write', mechanism: 'page-cache', args: { guest: GUEST, file: FILE, index: INDEX },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const v = fileWrite(w, g, a.file as number, a.index as number);
      return typeof v === 'number' ? ok(v) : v;
    },
  },
  {
    name: 'file.mmap', mechanism: 'page-cache',
    args: { guest: GUEST, pid: PID, file: FILE, pgoff: INDEX, vpn: int(0, VPN_MAX), pages: int(1, FILE_PAGES), write: bool },
    apply: (w, a) => {
      const r = procOf(w, a);
      if ('ok' in r) return r;
      return fileMmap(w, r.g, r.p, a.file as number, a.pgoff as number, a.vpn as number, a.pages as number, a.write as boolean);
    },
  },
  {
    name: 'file.fsync', mechanism: 'page-cache', args: { guest: GUEST, file: FILE },
    apply: (w, a) => {
      const g = guestOf(w, a);
      return 'ok' in g ? g : fileFsync(w, g, a.file as number);
    },
  },
  {
    name: 'file.writeback', mechanism: 'page-cache', args: { guest: GUEST, file: FILE, index: INDEX },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const page = lookupPage(g, a.file as number, a.index as number);
      if (!page) return refuse('no-such-mapping', `g${g.id} file ${String(a.file)} page ${String(a.index)} is not cached`);
      const r = writebackBegin(w, g, page);
      return r === true ? ok() : r;
    },
  },
  {
    name: 'file.evict', mechanism: 'page-cache', args: { guest: GUEST, file: FILE, index: INDEX },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const page = lookupPage(g, a.file as number, a.index as number);
      if (!page) return refuse('no-such-mapping', `g${g.id} file ${String(a.file)} page ${String(a.index)} is not cached`);
      // Reclaim of this one page, as shrink_folio_list would take it: allowed to unmap and to
      // write, it keeps the page only while the page is under writeback.
      const r = reclaimFilePage(w, g, page, { mayUnmap: true, mayWritepage: true });
      return r === 'freed' ? ok() : r === 'kept' ? refuse('busy', `g${g.id} file ${String(a.file)} page ${String(a.index)} is under writeback`) : r;
    },
  },
  {
    name: 'io.complete', mechanism: 'page-cache', args: { guest: GUEST },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      return completeOldest(w, g) ? ok() : refuse('no-such-mapping', `g${g.id} has no I/O in flight`);
    },
  },
  {
    name: 'guest.crash', mechanism: 'page-cache', args: { guest: GUEST },
    apply: (w, a) => {
      const g = guestOf(w, a);
      return 'ok' in g ? g : crashGuest(w, g);
    },
  },
  {
    name: 'host.pagecache.writeback', mechanism: 'page-cache', args: { guest: GUEST, disk: int(0, DISKS_PER_GUEST - 1), block: int(0, DISK_BLOCKS - 1) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      return 'ok' in g ? g : hostCacheWriteback(w, g.id, a.disk as number, a.block as number);
    },
  },
  {
    name: 'host.pagecache.evict', mechanism: 'page-cache', args: { guest: GUEST, disk: int(0, DISKS_PER_GUEST - 1), block: int(0, DISK_BLOCKS - 1) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      return 'ok' in g ? g : hostCacheEvict(w, g.id, a.disk as number, a.block as number);
    },
  },
  {
    name: 'upc.reclaim', mechanism: 'unmapped-page-control', args: { guest: GUEST },
    apply: (w, a) => {
      const g = guestOf(w, a);
      return 'ok' in g ? g : ok(upcPass(w, g));
    },
  },
];
