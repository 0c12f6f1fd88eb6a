/**
 * cleancache (include/linux/cleancache.h, mm/cleancache.c, Documentation/vm/cleancache.rst;
 * removed from Linux in 5.17, modelled as the seeds describe it): a victim cache for clean
 * page-cache pages, kept by the host in ephemeral tmem pools, one pool per filesystem.
 *
 * Two ways in:
 * - the page cache's own hooks (when the swarm enables "cleancache.enabled"): a private pool
 *   per guest disk; __filemap_remove_folio puts a clean page it drops, a read that misses the
 *   page cache gets before going to the disk (cleancache_get_page in mpage_readahead), and a
 *   page about to be overwritten without a read is invalidated;
 * - the API itself, as a filesystem calls it (operations cleancache.*): per guest one private
 *   pool (init_fs) and one pool shared by every guest (init_shared_fs with uuid 0). A put
 *   carries a page with fresh contents, a new version (assumption: the page a filesystem
 *   would pass, reduced to its contents, so the oracle knows exactly what was put).
 *
 * The contract (cleancache.rst "coherency"): after put(A) then put(B) for one key no get
 * returns A; once a get misses, gets miss until the next put; invalidate_page/_inode/_fs make
 * the keys miss; a private pool's get is exclusive; a guest never reaches another guest's
 * private pool.
 */
import { data, type Content } from '../content';
import type { Guest } from '../guest/guest';
import { FILES_PER_DISK, diskOf } from '../pagecache/layout';
import { ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { allPools, createPool, objKey, poolById, TMEM_INDEX_SPAN, tmemFlushObject, tmemFlushPage, tmemFlushPool, tmemGet, tmemPeek, tmemPut, type Pool } from './backend';

/** Inodes an API pool's keys range over, and pages per inode (bounded for the generators). */
export const CC_INODES = 4;
export const CC_INDEXES = 8;

export function cleancacheEnabled(w: World): boolean {
  return w.option('cleancache.enabled', true);
}

/** Boot: every guest mounts its disks with cleancache and the API pools exist. */
export function cleancacheInit(w: World): void {
  if (!cleancacheEnabled(w)) return;
  for (const g of w.guests) {
    for (let d = 0; d < 2; d++) createPool(w, { kind: 'ephemeral', shared: false, owner: g.id, uuid: 0, use: 'disk', disk: d, members: [g.id] });
    createPool(w, { kind: 'ephemeral', shared: false, owner: g.id, uuid: 0, use: 'api', disk: 0, members: [g.id] });
  }
  createPool(w, { kind: 'ephemeral', shared: true, owner: -1, uuid: 0, use: 'api', disk: 0, members: w.guests.map((g) => g.id) });
}

export function diskPool(w: World, guest: number, disk: number): Pool | undefined {
  return allPools(w).find((p) => p.use === 'disk' && p.owner === guest && p.disk === disk);
}

/** The key of a file page in its disk's pool: (inode = file on the disk, index). */
function fileKey(file: number, index: number): number {
  return objKey(file % FILES_PER_DISK, index);
}

// ---- the page cache's hooks ----

export function ccPutPage(w: World, g: Guest, file: number, index: number, c: Content): void {
  const p = diskPool(w, g.id, diskOf(file));
  if (p && tmemPut(w, p, fileKey(file, index), c)) w.transition('cleancache', 'absent', 'stored');
}

export function ccGetPage(w: World, g: Guest, file: number, index: number): Content | undefined {
  const p = diskPool(w, g.id, diskOf(file));
  const c = p ? tmemGet(w, p, fileKey(file, index)) : undefined;
  if (p) w.transition('cleancache', c ? 'stored' : 'absent', c ? 'got' : 'missed');
  return c;
}

export function ccInvalidatePage(w: World, g: Guest, file: number, index: number): void {
  const p = diskPool(w, g.id, diskOf(file));
  if (p) tmemFlushPage(w, p, fileKey(file, index));
}

/** What the disk pool holds for a file page, without side effects (checks). */
export function ccPeekPage(w: World, guest: number, file: number, index: number): Content | undefined {
  const p = diskPool(w, guest, diskOf(file));
  return p ? tmemPeek(w, p, fileKey(file, index)) : undefined;
}

/** A crash: the guest's filesystems are gone, so are their pools' pages (invalidate_fs). */
export function ccInvalidateGuest(w: World, g: Guest): void {
  for (const p of allPools(w)) if (p.use === 'disk' && p.owner === g.id) tmemFlushPool(w, p);
}

// ---- the API ----

export type CcScope = 'page' | 'inode' | 'fs';

/** Result value of a get that missed. */
export const CC_MISS = -2;

/**
 * The pool a guest names in an API call: only API pools, and only its own or a shared one it
 * joined. The backend must check that the caller may use the pool: a pool id is just a number
 * the guest passes in (XSA-15 / CVE-2012-3497: tmem trusted guest-supplied pool ids and
 * handles, letting one domain reach another's pages).
 */
function apiPool(w: World, g: Guest, id: number): Pool | OpResult {
  const p = poolById(w, id);
  if (!p || p.use !== 'api') return refuse('invalid', `no cleancache API pool ${id}`);
  if (!p.members.has(g.id) && !w.fault('tmem-pool-id-unchecked')) return refuse('invalid', `g${g.id} is not a member of cleancache pool ${id}`);
  return p;
}

/** cleancache_put_page of a page with new contents: the version put. */
export function ccApiPut(w: World, g: Guest, pool: number, inode: number, index: number): OpResult {
  const p = apiPool(w, g, pool);
  if ('ok' in p) return p;
  const v = w.nextVersion();
  // A put may silently not store (ephemeral): the result is the version the guest offered.
  if (tmemPut(w, p, objKey(inode, index), data(g.id, v))) w.transition('cleancache', 'absent', 'stored');
  return ok(v);
}

/** cleancache_get_page: the version of the contents (an API pool holds only what ccApiPut stored), or CC_MISS. */
export function ccApiGet(w: World, g: Guest, pool: number, inode: number, index: number): OpResult {
  const p = apiPool(w, g, pool);
  if ('ok' in p) return p;
  const c = tmemGet(w, p, objKey(inode, index));
  w.transition('cleancache', c ? 'stored' : 'absent', c ? 'got' : 'missed');
  if (!c) return ok(CC_MISS);
  return ok(c.kind === 'data' ? c.version : -1);
}

export function ccApiInvalidate(w: World, g: Guest, pool: number, scope: CcScope, inode: number, index: number): OpResult {
  const p = apiPool(w, g, pool);
  if ('ok' in p) return p;
  if (scope === 'page') tmemFlushPage(w, p, objKey(inode, index));
  else if (scope === 'fs') tmemFlushPool(w, p);
  else
    tmemFlushObject(w, p, inode, (ino) => {
      // Hazard: invalidate_inode must drop every page of the inode (cleancache.rst; truncate
      // relies on it). Dropping only part of them lets a later get return a page the
      // filesystem already discarded.
      const keys = [...p.pages.keys()].filter((k) => Math.floor(k / TMEM_INDEX_SPAN) === ino);
      return w.fault('cleancache-invalidate-inode-partial') ? keys.slice(0, 1) : keys;
    });
  w.transition('cleancache', 'stored', 'invalidated');
  return ok();
}
