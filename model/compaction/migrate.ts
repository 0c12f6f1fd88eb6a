/**
 * Page migration as the kernel performs it, one edge per call so that guest accesses, faults
 * and other mechanisms can run between the edges (mm/migrate.c migrate_pages_batch:
 * migrate_folio_unmap for the whole batch, try_to_unmap_flush, then migrate_folio_move).
 *
 * Cycle (see state.ts): locked -> unmapped -> copied -> done; locked | unmapped -> aborted.
 * - locked: the source is isolated from the LRU and locked (folio_trylock), the target taken
 *   from the free scanner's pages.
 * - unmapped: every mapping of the source is replaced by a migration entry and the TLB is
 *   flushed before anything is copied. Guest side: the process PTE becomes a migration entry
 *   (try_to_migrate_one, ptep_clear_flush). Host side: the primary mapping of the gfn holds a
 *   migration entry inside an invalidation: KVM's invalidate_range_start zaps the EPT leaf and
 *   flushes (kvm_mmu_notifier_invalidate_range_start), and faults on the gfn wait.
 * - copied: folio_migrate_copy. A write that reached the source after the copy would be lost,
 *   which is why the flush must come first (migrate_pages_batch calls try_to_unmap_flush
 *   before migrate_folio_move).
 * - done: remove_migration_ptes maps the target where the migration entries were (or finds
 *   the mapping gone, munmap having dropped the entry), the source is freed, and the host
 *   side's invalidation ends.
 */
import { FRAMES_PER_2M } from '../constants';
import { copyContent } from '../content';
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { findSlot, writeEntry } from '../guest/page-tables';
import { physRead, physWrite } from '../guest/phys';
import { hostFree } from '../host/alloc';
import { invalidateBegin, invalidateEnd, invalidateMark, zapAndFlush } from '../mmu/notifier';
import { peekGuestPhysical } from '../mmu/peek';
import { guestEntry, guestPresent, isMigrationEntry, migrationEntry } from '../paging/entries';
import { PTE_RW } from '../constants';
import { isRefusal, ok, refuse, type OpResult, type Refusal } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import {
  compactionState, guestLockedSet, MIGRATIONS_IN_FLIGHT_MAX, NO_PROCESS, prune,
  type Migration, type MigrationReason, type Reach,
} from './state';

export const FAULT_COPY_BEFORE_FLUSH = 'migrate-copy-before-flush';
export const FAULT_SKIP_INVALIDATE = 'migrate-skips-invalidate';
export const FAULT_MIGRATES_UNMOVABLE = 'compaction-migrates-unmovable';

const MECH = 'compaction';

/** Ghost: what reaches guest frame `gfn` of g now (process PTEs and TLB entries). */
export function reachGuestFrame(world: World, g: Guest, gfn: number): Reach {
  return {
    tlb: world.tlb.coveringGuestFrame(g.vpid, gfn).map((e) => `pcid ${e.pcid} va ${hex(e.vpnBase * 4096)}${e.writable ? ' W' : ''}`),
    mappings: g.rmap.reaching(gfn).map((h) => `pid ${h.owner} va ${hex(h.source * 4096)}`),
  };
}

/** Ghost: what reaches host frame `hfn` now (EPT leaves and TLB entries). */
export function reachHostFrame(world: World, hfn: number): Reach {
  return {
    tlb: world.tlb.coveringHost(hfn).map((e) => `vpid ${e.vpid} va ${hex(e.vpnBase * 4096)}${e.writable ? ' W' : ''}`),
    mappings: world.eptRmap.reaching(hfn).map((h) => `g${h.owner} EPT gfn ${hex(h.source)}`),
  };
}

/**
 * isolate_migratepages_block's test for a guest page: an order-0 page on the LRU, i.e. an
 * anonymous page mapped by a 4 KiB PTE of a live process, not locked by another migration.
 * THPs (order 9) are left alone, as compaction does for blocks of pageblock order. Returns the
 * mapping, or why not.
 */
/** guestMovable's reason when the page's own page tables cannot be read at the moment. */
export const UNREACHABLE = 'page tables unreachable';

export function guestMovable(world: World, g: Guest, gfn: number): { pid: number; vpn: number } | string {
  const a = g.buddy.allocatedAt(gfn);
  if (!a || a.order !== 0) return 'not an order-0 allocation';
  if (guestLockedSet(compactionState(world), g.id).has(gfn)) return 'locked by a migration in flight';
  const o = g.owners.get(gfn);
  if (o?.kind !== 'anon') {
    // Hazard: only pages with a migration path may be isolated (PageLRU, __PageMovable); a
    // kernel page or a page table has none, and moving it leaves the kernel's pointers (the
    // allocation, the parent table entry) on the old page.
    if (world.fault(FAULT_MIGRATES_UNMOVABLE) && o !== undefined && o.kind !== 'migrate-target' && o.kind !== 'virtio-mem') return { pid: NO_PROCESS, vpn: -1 };
    return `owner is ${o?.kind ?? 'none'}`;
  }
  const p = g.processes.get(o.pid);
  if (!p) return 'no such process';
  const slot = findSlot(world, g, p, o.vpn, 1);
  // The page's tables cannot be read now (the host is migrating or reclaiming a table frame):
  // the scanner cannot isolate it this time, for a reason outside compaction.
  if (isRefusal(slot)) return `${UNREACHABLE}: ${slot.detail}`;
  if (slot === null || slot.level !== 1 || !guestPresent(slot.entry) || slot.entry.pfn !== gfn) return 'not mapped by a 4 KiB PTE';
  return { pid: o.pid, vpn: o.vpn };
}

/**
 * The host side's test: a 4 KiB frame backing guest memory (not a 2 MiB unit, not a KSM page,
 * not under a reclaim or another migration).
 */
export function hostMovable(world: World, g: Guest, gfn: number): string | null {
  const hfn = g.backing.get(gfn);
  if (hfn === undefined) return 'not backed';
  if (g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))) return 'part of a 2 MiB backing unit';
  const o = world.frames.owner(hfn);
  if (o?.kind !== 'guest-memory' || o.guest !== g.id || o.gfn !== gfn) return `owner is ${o?.kind ?? 'none'}`;
  if (compactionState(world).hostLocked.has(hfn)) return 'locked by a migration in flight';
  const r = g.pendingReclaim;
  if (r && gfn >= r.gfn && gfn < r.gfn + r.frames) return 'under reclaim';
  return null;
}

/**
 * Take the target a single migration uses: the highest free page of a suitable pageblock. With
 * none, `best` stays -1, which allocAt refuses as out of range: the answer is null.
 */
export function takeTarget(b: { freeBlocksAll(): IterableIterator<{ pfn: number; order: number; list: string }>; allocAt(pfn: number, order: number, mt: 'MOVABLE'): number | object; migratetypeOf(pfn: number): string }): number | null {
  let best = -1;
  for (const f of b.freeBlocksAll()) {
    if (f.list === 'ISOLATE' || b.migratetypeOf(f.pfn) !== 'MOVABLE') continue;
    best = Math.max(best, f.pfn + (1 << f.order) - 1);
  }
  const r = b.allocAt(best, 0, 'MOVABLE');
  return typeof r === 'number' ? r : null;
}

function record(world: World, m: Migration): Migration {
  const s = compactionState(world);
  s.active.set(m.id, m);
  world.transition(MECH, 'none', 'locked');
  // migration-only-movable judges the migrations begun in the step by this mark.
  world.journal.mark('compaction:begin', m.id);
  return m;
}

/**
 * Isolate guest page `gfn` and lock it, with `dst` (a free page the caller took from the
 * buddy, or one taken here) as its target.
 */
export function beginGuestMigration(world: World, g: Guest, gfn: number, reason: MigrationReason, dst?: number): Migration | Refusal {
  const s = compactionState(world);
  if (reason === 'single' && s.active.size >= MIGRATIONS_IN_FLIGHT_MAX) return refuse('limit', `${MIGRATIONS_IN_FLIGHT_MAX} migrations in flight`);
  const mv = guestMovable(world, g, gfn);
  if (typeof mv === 'string') return refuse('busy', `g${g.id} gfn ${hex(gfn)} is not movable: ${mv}`);
  let target = dst;
  if (target === undefined) {
    const t = takeTarget(g.buddy);
    if (t === null) return refuse('guest-oom', `g${g.id}: no free page to migrate gfn ${hex(gfn)} to`);
    target = t;
  }
  g.setOwner(target, { kind: 'migrate-target', src: gfn });
  guestLockedSet(s, g.id).add(gfn);
  return record(world, {
    id: s.nextId++, side: 'guest', guest: g.id, gfn, pid: mv.pid, vpn: mv.vpn, src: gfn, dst: target, reason,
    stage: 'locked', flushPending: false, srcGuestOwner: g.owners.get(gfn),
  });
}

/** Isolate the host frame behind (g, gfn) and lock it, with a target host frame. */
export function beginHostMigration(world: World, g: Guest, gfn: number, reason: MigrationReason, dst?: number): Migration | Refusal {
  const s = compactionState(world);
  if (reason === 'single' && s.active.size >= MIGRATIONS_IN_FLIGHT_MAX) return refuse('limit', `${MIGRATIONS_IN_FLIGHT_MAX} migrations in flight`);
  const why = hostMovable(world, g, gfn);
  if (why) return refuse('busy', `g${g.id} gfn ${hex(gfn)}: ${why}`);
  const src = g.backing.get(gfn)!;
  let target = dst;
  if (target === undefined) {
    const t = takeTarget(world.hostBuddy);
    if (t === null) return refuse('host-oom', `host: no free frame to migrate hfn ${hex(src)} to`);
    target = t;
  }
  world.frames.setOwner(target, { kind: 'migrate-target', guest: g.id, gfn }, { site: 'compaction', reason: 'migrate-target', step: world.step, order: 0 });
  s.hostLocked.add(src);
  return record(world, {
    id: s.nextId++, side: 'host', guest: g.id, gfn, pid: NO_PROCESS, vpn: -1, src, dst: target, reason,
    stage: 'locked', flushPending: false, srcHostOwner: world.frames.owner(src), srcHuge: g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M)),
  });
}

/** Advance a migration by one edge of its cycle. */
export function stepMigration(world: World, m: Migration): OpResult {
  const g = world.guests[m.guest]!;
  switch (m.stage) {
    case 'locked':
      return m.side === 'guest' ? unmapGuest(world, g, m) : unmapHost(world, g, m);
    case 'unmapped':
      return m.side === 'guest' ? copyGuest(world, g, m) : copyHost(world, m);
    case 'copied':
      return m.side === 'guest' ? finishGuest(world, g, m) : finishHost(world, g, m);
    case 'done':
    case 'aborted':
      return refuse('invalid', `migration #${m.id} has ended (${m.stage})`);
  }
}

/** Run a migration to its end; a failing edge aborts it (migrate_pages' putback). */
export function runMigration(world: World, m: Migration): OpResult {
  // Bounded: each step that succeeds moves one edge on (at most three), and one that fails ends it.
  while (m.stage !== 'done') {
    const r = stepMigration(world, m);
    if (!r.ok) {
      abortMigration(world, m);
      return r;
    }
  }
  return ok();
}

function advance(world: World, m: Migration, to: 'unmapped' | 'copied' | 'done' | 'aborted'): void {
  world.transition(MECH, m.stage, to);
  m.stage = to;
  world.journal.mark(`compaction:${to}`, m.id);
  if (to === 'done' || to === 'aborted') {
    const s = compactionState(world);
    s.active.delete(m.id);
    s.finished.set(m.id, m);
    prune(s.finished);
    if (m.side === 'guest') guestLockedSet(s, m.guest).delete(m.src);
    else s.hostLocked.delete(m.src);
  }
}

// ---- guest side --------------------------------------------------------------------------

/**
 * The slot of the migrating page's PTE, looked up without building tables (null when the
 * process or the table is gone). Where the walk stops above level 1 (the range was remapped by a
 * THP) the slot holds a PMD leaf or nothing: never the source's PTE nor its migration entry,
 * which every caller looks for (the source is isolated, so no huge page starts at it).
 */
function migrationSlot(world: World, g: Guest, m: Migration) {
  const p = g.processes.get(m.pid);
  if (!p) return null;
  return findSlot(world, g, p, m.vpn, 1);
}

function unmapGuest(world: World, g: Guest, m: Migration): OpResult {
  const slot = migrationSlot(world, g, m);
  if (isRefusal(slot)) return slot;
  if (slot && guestPresent(slot.entry) && slot.entry.pfn === m.src) {
    const e = slot.entry;
    writeEntry(world, g, m.pid, slot.tableGfn, slot.table, slot.index, migrationEntry(m.src, (e.flags & PTE_RW) !== 0, e.nx));
    flushOrDefer(world, m, () => world.tlb.invlpg(g.vpid, m.pid, m.vpn));
  }
  advance(world, m, 'unmapped');
  return ok();
}

/**
 * The TLB flush of the unmap, done now; or, under the injected faults, deferred past the copy
 * (batched and flushed late) or skipped.
 */
function flushOrDefer(world: World, m: Migration, flush: () => void): void {
  // Hazard: the source may be copied only after every translation to it is gone; a write
  // through a stale TLB entry between the copy and a late flush lands in the source and is
  // lost (migrate_pages_batch: try_to_unmap_flush() before migrate_folio_move()).
  if (world.fault(FAULT_SKIP_INVALIDATE)) return;
  if (world.fault(FAULT_COPY_BEFORE_FLUSH)) {
    m.flushPending = true;
    return;
  }
  flush();
}

function copyGuest(world: World, g: Guest, m: Migration): OpResult {
  m.atCopy = reachGuestFrame(world, g, m.src);
  const c = physRead(world, g, m.src);
  if (isRefusal(c)) return c;
  const w = physWrite(world, g, m.dst, copyContent(c));
  if (w !== true) return w;
  advance(world, m, 'copied');
  return ok();
}

function finishGuest(world: World, g: Guest, m: Migration): OpResult {
  // Under migrate-copy-before-flush the batched flush comes only now, after the copy.
  if (m.flushPending) world.tlb.invlpg(g.vpid, m.pid, m.vpn);
  const slot = migrationSlot(world, g, m);
  if (isRefusal(slot)) return slot;
  let remapped = false;
  if (m.pid === NO_PROCESS) {
    // Only under compaction-migrates-unmovable: a kernel page "moved" under its owner (such a
    // page is isolated only with one: guestMovable).
    g.setOwner(m.dst, m.srcGuestOwner!);
    remapped = true;
  } else if (slot && isMigrationEntry(slot.entry) && slot.entry.pfn === m.src) {
    // remove_migration_pte: the write bit comes from the entry (is_writable_migration_entry);
    // an mprotect meanwhile has already downgraded the entry (change_pte_range, kernel.ts).
    const writable = (slot.entry.flags & PTE_RW) !== 0;
    writeEntry(world, g, m.pid, slot.tableGfn, slot.table, slot.index, guestEntry(m.dst, { writable, user: true, nx: slot.entry.nx }));
    g.setOwner(m.dst, { kind: 'anon', pid: m.pid, vpn: m.vpn });
    remapped = true;
  }
  // What the source held when the mapping moved: read before the free (page poisoning
  // overwrites a freed page).
  const srcContent = peekGuestPhysical(world, g, m.src);
  const dstContent = peekGuestPhysical(world, g, m.dst);
  if (!remapped) {
    g.clearOwner(m.dst);
    guestFree(world, g, m.dst, 0);
  }
  g.clearOwner(m.src);
  guestFree(world, g, m.src, 0);
  advance(world, m, 'done');
  m.atDone = { reach: reachGuestFrame(world, g, m.src), src: srcContent, dst: dstContent, remapped };
  world.journal.note(() => `g${g.id}: migrated gfn ${hex(m.src)} -> ${hex(m.dst)}${remapped ? '' : ' (mapping gone)'}`);
  return ok();
}

// ---- host side ---------------------------------------------------------------------------

function unmapHost(world: World, g: Guest, m: Migration): OpResult {
  // Hazard: the EPT leaf must be zapped and the TLB flushed before the copy; the primary
  // mapping holds a migration entry from here on (faults on the gfn wait: the guard below).
  if (world.fault(FAULT_SKIP_INVALIDATE) || world.fault(FAULT_COPY_BEFORE_FLUSH)) {
    invalidateMark(world, g, m.gfn, m.gfn + 1);
    m.flushPending = !world.fault(FAULT_SKIP_INVALIDATE);
  } else {
    invalidateBegin(world, g, m.gfn, m.gfn + 1);
  }
  advance(world, m, 'unmapped');
  return ok();
}

function copyHost(world: World, m: Migration): OpResult {
  m.atCopy = reachHostFrame(world, m.src);
  const c = world.frames.read(m.src);
  world.frames.write(m.dst, copyContent(c));
  advance(world, m, 'copied');
  return ok();
}

function finishHost(world: World, g: Guest, m: Migration): OpResult {
  if (m.flushPending) zapAndFlush(world, g, m.gfn, m.gfn + 1);
  world.frames.setOwner(m.dst, { kind: 'guest-memory', guest: g.id, gfn: m.gfn }, { site: 'compaction', reason: 'migrate-target', step: world.step, order: 0 });
  g.setBacking(m.gfn, m.dst);
  const srcContent = world.frames.read(m.src);
  hostFree(world, m.src, 0);
  invalidateEnd(world, g);
  advance(world, m, 'done');
  m.atDone = { reach: reachHostFrame(world, m.src), src: srcContent, dst: world.frames.read(m.dst), remapped: true };
  world.journal.note(() => `g${g.id}: host migrated gfn ${hex(m.gfn)}: hfn ${hex(m.src)} -> ${hex(m.dst)}`);
  return ok();
}

/**
 * migrate_pages' failure path: put the source back where it was and free the target. False
 * when the page tables cannot be read now (the migration stays in flight and is retried).
 *
 * A flush the unmap left pending (under migrate-copy-before-flush) is not done here: the source
 * goes back under the translation it had, so a translation the TLB kept still matches a fresh
 * walk. On the guest side an mprotect meanwhile has flushed its range itself; on the host side
 * the EPT leaf was never zapped and the backing never changed.
 */
export function abortMigration(world: World, m: Migration): boolean {
  const g = world.guests[m.guest]!;
  if (m.stage === 'done' || m.stage === 'aborted') return true;
  if (m.side === 'guest') {
    if (m.pid !== NO_PROCESS) {
      const slot = migrationSlot(world, g, m);
      if (isRefusal(slot)) return false;
      if (slot && isMigrationEntry(slot.entry) && slot.entry.pfn === m.src) {
        // As in finishGuest: the entry's write bit, which mprotect keeps within the VMA's.
        const writable = (slot.entry.flags & PTE_RW) !== 0;
        writeEntry(world, g, m.pid, slot.tableGfn, slot.table, slot.index, guestEntry(m.src, { writable, user: true, nx: slot.entry.nx }));
      } else if (!(slot && guestPresent(slot.entry) && slot.entry.pfn === m.src)) {
        // The mapping went away meanwhile (its free was left to us): nobody holds the source.
        g.clearOwner(m.src);
        guestFree(world, g, m.src, 0);
      }
    }
    g.clearOwner(m.dst);
    guestFree(world, g, m.dst, 0);
  } else {
    if (m.stage !== 'locked') invalidateEnd(world, g);
    hostFree(world, m.dst, 0);
  }
  advance(world, m, 'aborted');
  return true;
}

/** Host faults on a gfn whose primary mapping holds a migration entry wait (migration_entry_wait). */
export function hostMigrationEntryAt(world: World, g: Guest, gfn: number): Migration | undefined {
  for (const m of compactionState(world).active.values())
    if (m.side === 'host' && m.guest === g.id && m.gfn === gfn && (m.stage === 'unmapped' || m.stage === 'copied')) return m;
  return undefined;
}
