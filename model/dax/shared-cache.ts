/**
 * A shared page cache: one host copy of a file page mapped straight into the guests the host
 * lets see the file, instead of one copy per guest page cache (virtio-fs DAX windows,
 * FUSE_SETUPMAPPING / FUSE_REMOVEMAPPING over the device's cache window; virtio-pmem, guest
 * DAX over a host file mapping). The host's page-cache frame of the file page (owner
 * 'shared-page-cache') backs a gfn in each such guest's window, a memslot above guest RAM:
 * gfn = RAM frames + file * SHARED_FILE_PAGES + index.
 *
 * The host decides, per guest and per file, what the guest may see (a grant: read-only, or
 * writable to that guest alone). A guest's write to a page it may only read goes to a private
 * copy (owner 'dax-private'; the window is a MAP_PRIVATE mapping of the file: copy-on-write);
 * with the writable grant it goes to the shared page.
 *
 * A window page's cycle, per guest:
 *   unmapped -> shared (EPT maps the host frame: read-only, or writable under a rw grant)
 *            -> private (a write without the rw grant copied it) -> unmapped (revoked: the EPT
 *            leaves are zapped and the TLB flushed before anything is freed).
 * The host evicts a shared page only after unmapping it from every guest that maps it
 * (the rule fs/fuse/dax.c follows when it reclaims a range: fuse_dax_break_layouts waits for
 * the last user of the pages before FUSE_REMOVEMAPPING).
 */
import { EPT_EXEC, EPT_READ, EPT_RWX } from '../constants';
import { copyContent, data, HOST_DOMAIN, ZERO, type Content } from '../content';
import type { Guest } from '../guest/guest';
import type { Process, VmaObject } from '../guest/process';
import { hostAlloc, hostFree } from '../host/alloc';
import { invalidateBegin, invalidateEnd, invalidateMark } from '../mmu/notifier';
import type { AccessKind } from '../mmu/walk';
import { reuseSharedPage } from '../guest/fault';
import { slotFor, writeEntry } from '../guest/page-tables';
import { guestEntry, guestPresent } from '../paging/entries';
import { ok, refuse, type OpResult, type Refusal } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';

export const SHARED_FILES = 2;
export const SHARED_FILE_PAGES = 8;
export const DAX_OBJECT = 'dax';

export type Grant = 'ro' | 'rw';

interface SharedPage {
  readonly hfn: number;
  /** Guests whose window is bound to this frame (their primary mapping points at it). */
  readonly mappers: Set<number>;
}

interface DaxWorld {
  /** The host file's durable contents by page key. */
  readonly medium: Map<number, Content>;
  /** The host page cache of the shared files. */
  readonly cache: Map<number, SharedPage>;
  /** "guest:file" -> grant. */
  readonly grants: Map<string, Grant>;
  /**
   * Frames saved against one copy per guest: the sum over cached pages of (mappers - 1).
   * Kept up to date at every bind and unbind; properties/dax/ checks it against a recount.
   */
  savings: number;
}

const worlds = new WeakMap<World, DaxWorld>();

export function daxWorld(w: World): DaxWorld {
  let s = worlds.get(w);
  if (!s) worlds.set(w, (s = { medium: new Map(), cache: new Map(), grants: new Map(), savings: 0 }));
  return s;
}

export function sharedKey(file: number, index: number): number {
  return file * SHARED_FILE_PAGES + index;
}

export function windowGfn(g: Guest, file: number, index: number): number {
  return g.config.frames + sharedKey(file, index);
}

/** The (file, index) a window gfn of g stands for, or null outside the window. */
export function windowPage(g: Guest, gfn: number): { file: number; index: number } | null {
  const k = gfn - g.config.frames;
  if (k < 0 || k >= SHARED_FILES * SHARED_FILE_PAGES) return null;
  return { file: Math.floor(k / SHARED_FILE_PAGES), index: k % SHARED_FILE_PAGES };
}

export function grantOf(w: World, guest: number, file: number): Grant | undefined {
  return daxWorld(w).grants.get(`${guest}:${file}`);
}

function mark(w: World, file: number, index: number): void {
  w.journal.mark('dax', sharedKey(file, index));
}

/** Swarm option "shared-page-cache.grants": what the host exports at boot. */
export function daxInit(w: World): void {
  const s = daxWorld(w);
  const mode = w.option<string>('shared-page-cache.grants', 'ro');
  for (const g of w.guests) {
    if (mode === 'ro' || mode === 'mixed') s.grants.set(`${g.id}:0`, 'ro');
    if (mode === 'ro') s.grants.set(`${g.id}:1`, 'ro');
  }
  if (mode === 'mixed') s.grants.set('0:1', 'rw');
  for (const g of w.guests) {
    g.windows.push({ start: g.config.frames, end: g.config.frames + SHARED_FILES * SHARED_FILE_PAGES, ram: false, fault: windowFault, frameOk: windowFrameOk });
    g.pageFaultHooks.push(daxMapFault);
    // A DAX VMA is exactly its file's SHARED_FILE_PAGES pages (daxMmap), so index is one of them.
    g.objectResolvers.push((obj: VmaObject, index: number) => (obj.kind === DAX_OBJECT ? windowGfn(g, obj.id, index) : undefined));
  }
}

// ---- binding window gfns to frames (the memslot's primary mapping) ----

function bind(w: World, g: Guest, gfn: number, file: number, index: number, page: SharedPage): void {
  // g is not a mapper yet: bind runs only for an unbacked window gfn, and whatever drops the
  // backing (unbind) drops g from the mappers with it.
  g.setBacking(gfn, page.hfn);
  // Hazard: a page mapped by n guests saves n - 1 copies; counting the first mapper too (an
  // off-by-one in the accounting, the statistics-drift class of bbbc709a0fbf) inflates the
  // figure the shared cache exists to report.
  if (page.mappers.size >= 1 || w.fault('dax-savings-miscount')) daxWorld(w).savings++;
  page.mappers.add(g.id);
  mark(w, file, index);
}

/** Drop g's binding of a window gfn (inside an invalidation). */
function unbind(w: World, g: Guest, gfn: number): void {
  const hfn = g.backing.get(gfn);
  const wp = windowPage(g, gfn);
  if (hfn === undefined || !wp) return;
  g.setBacking(gfn, undefined);
  const o = w.frames.owner(hfn);
  if (o?.kind === 'dax-private') {
    hostFree(w, hfn, 0);
  } else {
    const page = daxWorld(w).cache.get(sharedKey(wp.file, wp.index));
    if (page?.mappers.delete(g.id) && page.mappers.size >= 1) daxWorld(w).savings--;
  }
  mark(w, wp.file, wp.index);
}

/** The host's page-cache page of a shared file page, read from the host file on a miss. */
function sharedPage(w: World, file: number, index: number): SharedPage | Refusal {
  const s = daxWorld(w);
  const k = sharedKey(file, index);
  const have = s.cache.get(k);
  if (have) return have;
  const hfn = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'shared-page-cache', file, index }), 'shared-page-cache', 'read');
  if (typeof hfn !== 'number') return hfn;
  w.frames.write(hfn, s.medium.get(k) ?? ZERO);
  const page = { hfn, mappers: new Set<number>() };
  // Journaled by bind, which always follows (windowFault).
  s.cache.set(k, page);
  w.transition('shared-page-cache', 'absent', 'cached');
  return page;
}

/** The EPT violation handler of the window memslot (host/ept-fault.ts eptFault delegates here). */
function windowFault(w: World, g: Guest, gfn: number, write: boolean): true | Refusal {
  const wp = windowPage(g, gfn);
  if (!wp) return refuse('sigbus', `g${g.id} gfn ${hex(gfn)}: no memslot`);
  const grant = grantOf(w, g.id, wp.file);
  if (!grant) return refuse('sigbus', `g${g.id}: no mapping of shared file ${wp.file} in the DAX window`);
  let hfn = g.backing.get(gfn);
  if (hfn === undefined) {
    const page = sharedPage(w, wp.file, wp.index);
    if ('ok' in page) return page;
    bind(w, g, gfn, wp.file, wp.index, page);
    hfn = page.hfn;
    w.transition('shared-page-cache', 'unmapped', 'shared');
  }
  const isPrivate = w.frames.owner(hfn)?.kind === 'dax-private';
  const mayWriteShared = grant === 'rw' || w.fault('dax-ro-write-hits-shared');
  if (write && !isPrivate && !mayWriteShared) return copyOnWrite(w, g, gfn, hfn);
  // Hazard (above): a write by a guest that may only read must not reach the shared frame;
  // every other guest reading the file would see it (CVE-2016-5195, Dirty COW: a write landed
  // in a read-only page-cache page instead of a private copy).
  // No leaf is here to upgrade: the only EPT violation on a mapped window gfn is a write to a
  // read-only leaf, which without the writable grant is the copy above; every leaf is made with
  // all its grant allows, and a change of grant revokes (zaps) first (daxGrant).
  const flags = isPrivate || mayWriteShared ? EPT_RWX : EPT_READ | EPT_EXEC;
  return g.ept.mapLeaf(w, gfn, hfn, 1, flags);
}

/** A write without the rw grant: the guest gets its own copy of the page (MAP_PRIVATE CoW). */
function copyOnWrite(w: World, g: Guest, gfn: number, shared: number): true | Refusal {
  const priv = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'dax-private', guest: g.id, gfn }), 'shared-page-cache', 'copy-on-write');
  if (typeof priv !== 'number') return priv;
  w.frames.write(priv, copyContent(w.frames.read(shared)));
  invalidateBegin(w, g, gfn, gfn + 1);
  unbind(w, g, gfn); // journals the page
  g.setBacking(gfn, priv);
  invalidateEnd(w, g);
  w.transition('shared-page-cache', 'shared', 'private');
  return g.ept.mapLeaf(w, gfn, priv, 1, EPT_RWX);
}

// ---- guest side: mmap of a shared file maps the window ----

export function daxMmap(_w: World, g: Guest, p: Process, file: number, vpn: number, write: boolean): OpResult {
  if (file < 0 || file >= SHARED_FILES) return refuse('out-of-range', `no shared file ${file}`);
  if (vpn + SHARED_FILE_PAGES > 2 ** (9 * g.config.guestLevels - 1)) return refuse('out-of-range', 'va beyond the user half');
  if (p.overlaps(vpn, vpn + SHARED_FILE_PAGES)) return refuse('overlap', `va ${hex(vpn * 4096)} +${SHARED_FILE_PAGES} overlaps a VMA`);
  // Nothing to journal: the range held no VMA, so no leaf, TLB entry or oracle page to check.
  p.addVma({
    start: vpn,
    end: vpn + SHARED_FILE_PAGES,
    // Never executable here (daxMapFault's PTEs are NX whatever the VMA says).
    prot: { write, exec: false },
    huge: false,
    object: { kind: DAX_OBJECT, id: file, vpnOrigin: vpn },
  });
  return ok();
}

/** A fault in a DAX VMA maps the window gfn (the guest's dax_iomap_fault; the EPT does the rest). */
function daxMapFault(w: World, g: Guest, p: Process, vpn: number, access: AccessKind): true | Refusal | null {
  const obj = p.vmaAt(vpn)?.object;
  if (obj?.kind !== DAX_OBJECT) return null;
  const slot = slotFor(w, g, p, vpn, 1);
  if ('ok' in slot) return slot;
  const gfn = windowGfn(g, obj.id, vpn - obj.vpnOrigin);
  // A write-protect fault: the window's frame is reused in place.
  if (guestPresent(slot.entry)) return reuseSharedPage(w, g, p, slot, access, gfn);
  const prot = p.vmaAt(vpn)!.prot;
  writeEntry(w, g, p.pid, slot.tableGfn, slot.table, slot.index, guestEntry(gfn, { writable: prot.write, user: true, nx: true }));
  return true;
}

// ---- the host's decisions ----

export function daxGrant(w: World, g: Guest, file: number, writable: boolean): OpResult {
  if (file < 0 || file >= SHARED_FILES) return refuse('out-of-range', `no shared file ${file}`);
  const s = daxWorld(w);
  const others = w.guests.filter((x) => x.id !== g.id && s.grants.has(`${x.id}:${file}`));
  if (writable && others.length > 0) return refuse('busy', `shared file ${file} is exported to other guests: writable only to one guest alone`);
  if (others.some((x) => s.grants.get(`${x.id}:${file}`) === 'rw')) return refuse('busy', `shared file ${file} is exported writable to another guest`);
  // A change of grant first revokes the old one, so no leaf keeps more than the new grant allows
  // (with no grant yet, daxRevoke refuses and changes nothing).
  daxRevoke(w, g, file);
  s.grants.set(`${g.id}:${file}`, writable ? 'rw' : 'ro');
  w.transition('shared-page-cache', 'not-exported', writable ? 'exported-rw' : 'exported-ro');
  return ok();
}

/**
 * Revoke g's access to a file: zap its window's EPT leaves and flush the TLB (the MMU-notifier
 * invalidation of the memslot range), and only then unbind (free private copies).
 */
export function daxRevoke(w: World, g: Guest, file: number): OpResult {
  const s = daxWorld(w);
  if (!s.grants.has(`${g.id}:${file}`)) return refuse('no-such-mapping', `g${g.id} has no grant on shared file ${file}`);
  s.grants.delete(`${g.id}:${file}`);
  const base = windowGfn(g, file, 0);
  const end = base + SHARED_FILE_PAGES;
  // Hazard: zapping the EPT leaves is not enough while the TLB still holds translations built
  // from them (a835429cda91, "KVM: x86/mmu: Ensure TLBs are flushed when yielding during GFN
  // range zap"): the guest keeps reaching the frame after revocation.
  if (w.fault('dax-revoke-skips-tlb-flush')) {
    invalidateMark(w, g, base, end);
    for (let gfn = base; gfn < end; gfn++) g.ept.zap(w, gfn);
  } else invalidateBegin(w, g, base, end);
  for (let gfn = base; gfn < end; gfn++) unbind(w, g, gfn);
  invalidateEnd(w, g);
  w.transition('shared-page-cache', 'shared', 'revoked');
  return ok();
}

/** The host updates a shared file page (its own write to the file). */
export function daxHostWrite(w: World, file: number, index: number): OpResult {
  if (file < 0 || file >= SHARED_FILES || index < 0 || index >= SHARED_FILE_PAGES) return refuse('out-of-range', `shared file ${file} page ${index}`);
  const s = daxWorld(w);
  const v = w.nextVersion();
  const c = data(HOST_DOMAIN, v);
  const page = s.cache.get(sharedKey(file, index));
  if (page) w.frames.write(page.hfn, c);
  else s.medium.set(sharedKey(file, index), c);
  mark(w, file, index);
  return ok(v);
}

/**
 * The host evicts a shared page: unmap it from every guest first (invalidate each window gfn
 * bound to it), write it back to the host file, then free it.
 */
export function daxHostEvict(w: World, file: number, index: number): OpResult {
  const s = daxWorld(w);
  const k = sharedKey(file, index);
  const page = s.cache.get(k);
  if (!page) return refuse('no-such-mapping', `shared file ${file} page ${index} is not cached`);
  // Hazard: freeing the frame while a guest window still maps it hands that guest whatever the
  // frame holds next (the DAX rule of fuse_dax_break_layouts; f268f6cf875f for the KVM side).
  if (!w.fault('dax-evict-while-mapped')) {
    for (const g of w.guests) {
      const gfn = windowGfn(g, file, index);
      if (g.backing.get(gfn) !== page.hfn) continue;
      invalidateBegin(w, g, gfn, gfn + 1);
      unbind(w, g, gfn);
      invalidateEnd(w, g);
    }
  }
  s.medium.set(k, w.frames.read(page.hfn));
  s.cache.delete(k);
  hostFree(w, page.hfn, 0);
  mark(w, file, index);
  w.transition('shared-page-cache', 'cached', 'absent');
  return ok();
}

/**
 * Teardown: every guest's windows go, then the host's pages of the shared files. Revoking every
 * grant unbinds every window gfn (a gfn is bound only under its file's grant, and a revocation
 * unbinds all of the file's pages), so no frame is left for the guests' teardown to free twice.
 */
export function daxTeardown(w: World): void {
  const s = daxWorld(w);
  for (const key of [...s.grants.keys()]) {
    const [guest, file] = key.split(':').map(Number) as [number, number];
    daxRevoke(w, w.guests[guest]!, file);
  }
  for (const [k, page] of [...s.cache]) {
    s.cache.delete(k);
    hostFree(w, page.hfn, 0);
  }
}

/** Whether hfn may back window gfn of g (ownership and EPT checks). */
export function windowFrameOk(w: World, g: Guest, gfn: number, hfn: number): boolean {
  const wp = windowPage(g, gfn);
  if (!wp) return false;
  const o = w.frames.owner(hfn);
  if (o?.kind === 'dax-private') return o.guest === g.id && o.gfn === gfn;
  if (o?.kind === 'shared-page-cache') return o.file === wp.file && o.index === wp.index && daxWorld(w).cache.get(sharedKey(wp.file, wp.index))?.hfn === hfn;
  return false;
}

/** Whether hfn is the cached frame of (file, index) (ownership check). */
export function sharedCacheHolds(w: World, file: number, index: number, hfn: number): boolean {
  return daxWorld(w).cache.get(sharedKey(file, index))?.hfn === hfn;
}

/** The savings figure recounted from the bindings (the property's side). */
export function recountSavings(w: World): number {
  let n = 0;
  for (const [k, page] of daxWorld(w).cache) {
    const file = Math.floor(k / SHARED_FILE_PAGES);
    const index = k % SHARED_FILE_PAGES;
    const bound = w.guests.filter((g) => g.backing.get(windowGfn(g, file, index)) === page.hfn).length;
    n += Math.max(0, bound - 1);
  }
  return n;
}
