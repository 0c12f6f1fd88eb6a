/**
 * Operations of the shared page cache (DAX), transcendent memory (cleancache, frontswap),
 * guest swap, reclaim and the OOM killer.
 */
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import { access } from '../mmu/access';
import { daxGrant, daxHostEvict, daxHostWrite, daxMmap, daxRevoke, SHARED_FILE_PAGES, SHARED_FILES } from '../dax/shared-cache';
import { mmap } from '../guest/kernel';
import { cmmAlloc, cmmFree, CMM_ALLOC_MAX } from '../reclaim/cmm';
import { hog, HOG_PAGES_MAX, unhog } from '../reclaim/hog';
import { oomKill, OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN, setOomAdj } from '../reclaim/oom';
import { kswapd, shrinkAllMemory } from '../reclaim/pressure';
import { ok, refuse, type OpResult } from '../result';
import { swapOut } from '../swap/guest-swap';
import { tmemHostReclaim } from '../tmem/backend';
import { ccApiGet, ccApiInvalidate, ccApiPut, CC_INDEXES, CC_INODES, type CcScope } from '../tmem/cleancache';
import { fsApiInvalidate, fsApiLoad, fsApiStore, FS_API_OFFSETS } from '../tmem/frontswap';
import type { World } from '../world';
import { bool, int, oneOf, VPN_MAX, type OperationDef } from './operation';
import { GUEST, PID, guestOf, procOf } from './lookup';

const SFILE = int(0, SHARED_FILES - 1);

/** Pages one mm.populate touches at most. */
export const POPULATE_PAGES_MAX = 4096;

/**
 * mmap(MAP_ANONYMOUS | MAP_POPULATE) of `pages` pages at vpn: the VMA, then every page
 * faulted in by a read (zero pages; populate_vma_page_range). Stops at the first page the
 * guest cannot allocate: ok(pages populated).
 */
function populate(w: World, g: Guest, p: Process, vpn: number, pages: number): OpResult {
  if (vpn + pages > 2 ** (9 * g.config.guestLevels - 1)) return refuse('out-of-range', 'va beyond the user half');
  const m = mmap(w, g, p, vpn, pages, { write: true, exec: false }, false);
  if (!m.ok) return m;
  let n = 0;
  for (; n < pages; n++) if (!access(w, g, p, vpn + n, 'read').ok) break;
  w.transition('reclaim', 'free', 'populated');
  return ok(n);
}

export const pressureOperations: readonly OperationDef[] = [
  // ---- shared page cache ----
  {
    name: 'dax.grant', mechanism: 'shared-page-cache', args: { guest: GUEST, file: SFILE, write: bool },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : daxGrant(w, g, a.file as number, a.write as boolean); },
  },
  {
    name: 'dax.revoke', mechanism: 'shared-page-cache', args: { guest: GUEST, file: SFILE },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : daxRevoke(w, g, a.file as number); },
  },
  {
    name: 'dax.mmap', mechanism: 'shared-page-cache', args: { guest: GUEST, pid: PID, file: SFILE, vpn: int(0, VPN_MAX), write: bool },
    apply: (w, a) => { const r = procOf(w, a); return 'ok' in r ? r : daxMmap(w, r.g, r.p, a.file as number, a.vpn as number, a.write as boolean); },
  },
  {
    name: 'dax.host.write', mechanism: 'shared-page-cache', args: { file: SFILE, index: int(0, SHARED_FILE_PAGES - 1) },
    apply: (w, a) => daxHostWrite(w, a.file as number, a.index as number),
  },
  {
    name: 'dax.host.evict', mechanism: 'shared-page-cache', args: { file: SFILE, index: int(0, SHARED_FILE_PAGES - 1) },
    apply: (w, a) => daxHostEvict(w, a.file as number, a.index as number),
  },
  // ---- cleancache ----
  {
    name: 'cleancache.put', mechanism: 'cleancache', args: { guest: GUEST, pool: int(0, 63), inode: int(0, CC_INODES - 1), index: int(0, CC_INDEXES - 1) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : ccApiPut(w, g, a.pool as number, a.inode as number, a.index as number); },
  },
  {
    name: 'cleancache.get', mechanism: 'cleancache', args: { guest: GUEST, pool: int(0, 63), inode: int(0, CC_INODES - 1), index: int(0, CC_INDEXES - 1) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : ccApiGet(w, g, a.pool as number, a.inode as number, a.index as number); },
  },
  {
    name: 'cleancache.invalidate', mechanism: 'cleancache',
    args: { guest: GUEST, pool: int(0, 63), scope: oneOf('page', 'inode', 'fs'), inode: int(0, CC_INODES - 1), index: int(0, CC_INDEXES - 1) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      return 'ok' in g ? g : ccApiInvalidate(w, g, a.pool as number, a.scope as CcScope, a.inode as number, a.index as number);
    },
  },
  {
    name: 'tmem.host.reclaim', mechanism: 'cleancache', args: { pages: int(1, 64) },
    apply: (w, a) => ok(tmemHostReclaim(w, a.pages as number)),
  },
  // ---- frontswap ----
  {
    name: 'frontswap.store', mechanism: 'frontswap', args: { guest: GUEST, offset: int(0, FS_API_OFFSETS - 1), refused: bool },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : fsApiStore(w, g, a.offset as number, a.refused as boolean); },
  },
  {
    name: 'frontswap.load', mechanism: 'frontswap', args: { guest: GUEST, offset: int(0, FS_API_OFFSETS - 1) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : fsApiLoad(w, g, a.offset as number); },
  },
  {
    name: 'frontswap.invalidate', mechanism: 'frontswap', args: { guest: GUEST, offset: int(0, FS_API_OFFSETS - 1), area: bool },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : fsApiInvalidate(w, g, a.offset as number, a.area as boolean); },
  },
  // ---- swap ----
  {
    name: 'swap.out', mechanism: 'swap', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : swapOut(w, g, a.pid as number, a.vpn as number, false); },
  },
  // ---- reclaim ----
  {
    name: 'mm.populate', mechanism: 'reclaim', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX), pages: int(1, POPULATE_PAGES_MAX) },
    apply: (w, a) => { const r = procOf(w, a); return 'ok' in r ? r : populate(w, r.g, r.p, a.vpn as number, a.pages as number); },
  },
  {
    name: 'mm.hog', mechanism: 'reclaim', args: { guest: GUEST, pages: int(1, HOG_PAGES_MAX) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : hog(w, g, a.pages as number); },
  },
  {
    name: 'mm.unhog', mechanism: 'reclaim', args: { guest: GUEST, hog: int(1, 2 ** 30) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : unhog(w, g, a.hog as number); },
  },
  {
    name: 'reclaim.kswapd', mechanism: 'reclaim', args: { guest: GUEST },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : ok(kswapd(w, g)); },
  },
  {
    name: 'reclaim.shrink', mechanism: 'reclaim', args: { guest: GUEST, pages: int(1, 4096) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : ok(shrinkAllMemory(w, g, a.pages as number)); },
  },
  // ---- OOM ----
  {
    name: 'oom.adj', mechanism: 'oom', args: { guest: GUEST, pid: PID, adj: int(OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : setOomAdj(g, a.pid as number, a.adj as number); },
  },
  {
    name: 'oom.kill', mechanism: 'oom', args: { guest: GUEST },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : oomKill(w, g); },
  },
  {
    name: 'cmm.alloc', mechanism: 'oom', args: { guest: GUEST, pages: int(1, CMM_ALLOC_MAX) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : cmmAlloc(w, g, a.pages as number); },
  },
  {
    name: 'cmm.free', mechanism: 'oom', args: { guest: GUEST, pages: int(1, CMM_ALLOC_MAX) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : ok(cmmFree(w, g, a.pages as number)); },
  },
];
