/**
 * The host dropping the backing of guest memory on a device's behalf: QEMU's
 * ram_block_discard_range (softmmu/physmem.c; MADV_DONTNEED for private anonymous memory,
 * fallocate(PUNCH_HOLE) for shared), called by virtio-balloon inflation
 * (hw/virtio/virtio-balloon.c balloon_inflate_page), free page reporting
 * (virtio_balloon_handle_report), the VMware backend and memctl's DONTNEED/REMOVE. It runs
 * inside the invalidation protocol (mmu/notifier.ts): zap the EPT leaves and flush, forget the
 * primary mapping, free the frame; the next guest touch faults in a cleared frame
 * (host/ept-fault.ts), so the guest sees zero.
 *
 * A 2 MiB host page is discarded only whole (ram_block_discard_range requires the RAM block's
 * page size alignment; QEMU 483f13524bb2 "virtio-balloon: Safely handle BALLOON_PAGE_SIZE <
 * host page size" stopped discarding a whole host huge page for one inflated 4 KiB sub-page).
 * Callers decide when a whole unit may go; `discardRange` skips units it covers only in part.
 *
 * Every discarded gfn is logged with the guest's owner of that gfn at that moment, so the
 * property device-discards-only-donated can tell a discard of a donated page from data loss.
 */
import { FRAMES_PER_2M } from '../constants';
import type { Guest, GuestFrameOwner } from '../guest/guest';
import { hostFree } from '../host/alloc';
import { ksmDropSharer } from '../ksm/ksm';
import { compactionState } from '../compaction/state';
import { runMigration } from '../compaction/migrate';
import { reclaimEnd } from '../host/reclaim';
import { invalidateBegin, invalidateEnd } from '../mmu/notifier';
import { memslotEnd, windowAt } from '../host/ept-fault';

/**
 * The guest's owner of gfn: RAM's owner record, or what a memslot above RAM is (memctl's
 * region). Windows never overlap RAM, so at most one of the two answers.
 */
function ownerAt(g: Guest, gfn: number): GuestFrameOwner | undefined {
  return g.owners.get(gfn) ?? windowAt(g, gfn)?.owner;
}
import type { World } from '../world';
import { hex } from '../../properties/violation';

/** Who asked the host to discard. */
export type Discarder = 'virtio-balloon' | 'vmware-balloon' | 'free-page-reporting' | 'free-page-hinting' | 'memctl';

export interface DiscardEvent {
  readonly guest: number;
  readonly gfn: number;
  readonly device: Discarder;
  /** The guest's owner of gfn when the host discarded it (undefined: free in the guest). */
  readonly owner: GuestFrameOwner | undefined;
  /** The guest on whose behalf the request was made (memctl: the caller). */
  readonly caller: number;
  readonly step: number;
}

/** Journal mark key: ids are indexes into discardLog(world). */
export const DISCARD_MARK = 'device-discard';

const logs = new WeakMap<World, DiscardEvent[]>();

export function discardLog(world: World): readonly DiscardEvent[] {
  return logs.get(world) ?? [];
}

function log(world: World, e: DiscardEvent): void {
  let l = logs.get(world);
  if (!l) logs.set(world, (l = []));
  world.journal.mark(DISCARD_MARK, l.length);
  l.push(e);
}

/**
 * A host reclaim in flight holds the pages of its range (locked, under writeback); madvise
 * and fallocate wait for it. In the one-thread model the reclaim runs to its end first, and
 * the discard then drops the swapped copy.
 */
function waitForReclaim(world: World, g: Guest, start: number, end: number): void {
  const r = g.pendingReclaim;
  if (r !== null && r.gfn < end && start < r.gfn + r.frames) {
    world.journal.note(() => `g${g.id}: discard waits for the host's reclaim of gfn ${hex(r.gfn)}`);
    reclaimEnd(world, g);
  }
}

/**
 * A host-side page migration in flight holds its source frame locked behind a migration entry
 * in the primary mapping; zap_pte_range of a madvise or fallocate waits on the entry
 * (migration_entry_wait). In the one-thread model the migration runs to its end first (or is
 * put back when an edge fails), and the discard then drops whichever frame backs the gfn.
 */
function waitForMigrations(world: World, g: Guest, start: number, end: number): void {
  for (const m of [...compactionState(world).active.values()]) {
    if (m.side !== 'host' || m.guest !== g.id || m.gfn < start || m.gfn >= end) continue;
    world.journal.note(() => `g${g.id}: discard waits for the host's migration of gfn ${hex(m.gfn)}`);
    runMigration(world, m); // a failing edge puts the migration back (runMigration aborts it)
  }
}

function dropOne(world: World, g: Guest, gfn: number, device: Discarder, caller: number): void {
  log(world, { guest: g.id, gfn, device, owner: ownerAt(g, gfn), caller, step: world.step });
  g.hostSwap.delete(gfn);
  // A merged page: only this sharer's mapping goes; the KSM page stays with the others.
  if (ksmDropSharer(world, g, gfn)) return;
  const hfn = g.backing.get(gfn);
  if (hfn === undefined) {
    g.setBacking(gfn, undefined); // journals the gfn: its contents changed (swap copy gone)
    return;
  }
  g.setBacking(gfn, undefined);
  hostFree(world, hfn, 0);
}

/**
 * Discard the host page holding gfn: the 4 KiB frame, or the whole 2 MiB unit when the host
 * backs it with one huge page. Returns the gfns discarded.
 */
export function discardHostPage(world: World, g: Guest, gfn: number, device: Discarder, caller = g.id): number {
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  waitForReclaim(world, g, unit * FRAMES_PER_2M, (unit + 1) * FRAMES_PER_2M);
  waitForMigrations(world, g, unit * FRAMES_PER_2M, (unit + 1) * FRAMES_PER_2M);
  if (!g.hugeBacked.has(unit)) {
    // Even a gfn nothing backs goes through the invalidation: madvise and fallocate start the
    // MMU notifier's range whether or not anything is mapped there.
    invalidateBegin(world, g, gfn, gfn + 1);
    dropOne(world, g, gfn, device, caller);
    invalidateEnd(world, g);
    world.journal.note(() => `g${g.id}: ${device} discard gfn ${hex(gfn)}`);
    return 1;
  }
  const base = unit * FRAMES_PER_2M;
  const head = g.backing.get(base);
  invalidateBegin(world, g, base, base + FRAMES_PER_2M);
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    log(world, { guest: g.id, gfn: base + i, device, owner: ownerAt(g, base + i), caller, step: world.step });
    g.setBacking(base + i, undefined);
  }
  g.hugeBacked.delete(unit);
  if (head !== undefined) hostFree(world, head, 9);
  invalidateEnd(world, g);
  world.journal.note(() => `g${g.id}: ${device} discard 2M host page at gfn ${hex(base)}`);
  return FRAMES_PER_2M;
}

/**
 * Discard [start, start + count): 4 KiB-backed frames one by one, 2 MiB host pages only when
 * the range covers them whole. Returns the gfns discarded.
 */
export function discardRange(world: World, g: Guest, start: number, count: number, device: Discarder, caller = g.id): number {
  // Hazard: the bound is the RAM block that holds the range (ram_block_discard_range checks
  // start + length against that RAMBlock); bounding it by the guest's main RAM instead leaves a
  // memslot above RAM (memctl's 1 GiB region) backed, so DONTNEED hands back the old frame.
  const end = Math.min(start + count, world.fault('memctl-discard-main-ramblock') ? g.config.frames : memslotEnd(g, start));
  if (end <= start) return 0;
  waitForReclaim(world, g, start - (start % FRAMES_PER_2M), end);
  waitForMigrations(world, g, start - (start % FRAMES_PER_2M), end);
  // One invalidation for the whole range, as one madvise/fallocate call makes.
  invalidateBegin(world, g, start, end);
  let done = 0;
  for (let gfn = start; gfn < end; ) {
    const unit = Math.floor(gfn / FRAMES_PER_2M);
    if (g.hugeBacked.has(unit)) {
      const base = unit * FRAMES_PER_2M;
      if (base >= start && base + FRAMES_PER_2M <= end) {
        const head = g.backing.get(base);
        for (let i = 0; i < FRAMES_PER_2M; i++) {
          log(world, { guest: g.id, gfn: base + i, device, owner: ownerAt(g, base + i), caller, step: world.step });
          g.setBacking(base + i, undefined);
        }
        g.hugeBacked.delete(unit);
        if (head !== undefined) hostFree(world, head, 9);
        done += FRAMES_PER_2M;
      }
      gfn = base + FRAMES_PER_2M;
      continue;
    }
    dropOne(world, g, gfn, device, caller);
    done++;
    gfn++;
  }
  invalidateEnd(world, g);
  world.journal.note(() => `g${g.id}: ${device} discard gfn ${hex(start)}..${hex(end)} (${done} frames)`);
  return done;
}
