/**
 * The host taking back or moving a frame that backs a guest: swap-out (mm/vmscan.c
 * shrink_folio_list -> try_to_unmap, which calls the mmu notifiers) and migration
 * (mm/migrate.c). Both run inside the invalidation protocol (mmu/notifier.ts): begin (zap the
 * EPT leaves, flush the TLBs), change the primary mapping, free the old frame, end.
 *
 * Swap-out is two steps so a guest access can race it: between begin and end the guest's
 * fault resolves the old frame but must retry (the range is being invalidated).
 *
 * The swap side (mm/vmscan.c shrink_folio_list -> add_to_swap -> pageout): begin reserves a
 * slot on the host swap device for every frame of the unit before anything is unmapped (no
 * slot, no swap-out: the operation is refused and nothing changes); between begin and end the
 * write to the slot is in flight, so the frame must stay allocated (a folio under writeback is
 * never freed: shrink_folio_list keeps it until end_page_writeback); end completes the write
 * (the slot gets the frame's contents as they are then) and only then frees the frame.
 */
import { FRAMES_PER_2M } from '../constants';
import { copyContent, type Content } from '../content';
import type { Guest } from '../guest/guest';
import type { World } from '../world';
import { ok, refuse, type OpResult } from '../result';
import { invalidateBegin, invalidateEnd, invalidateMark, zapAndFlush } from '../mmu/notifier';
import { hostAlloc, hostFree } from './alloc';
import { hex } from '../../properties/violation';

function unitOf(g: Guest, gfn: number): { base: number; frames: number } {
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  return g.hugeBacked.has(unit) ? { base: unit * FRAMES_PER_2M, frames: FRAMES_PER_2M } : { base: gfn, frames: 1 };
}

/** Only anonymous guest memory is swapped: device windows (DAX) are file pages of the host. */
function notGuestMemory(world: World, g: Guest, gfn: number): OpResult | null {
  const hfn = g.backing.get(gfn);
  const o = hfn === undefined ? undefined : world.frames.owner(hfn);
  if (o?.kind === 'guest-memory') return null;
  return refuse('invalid', `g${g.id} gfn ${hex(gfn)} is not anonymous guest memory`);
}

/**
 * Why a mechanism holds the unit's frames (folio_trylock failing on a page under migration, a
 * KSM page the model leaves to KSM), or null: shrink_folio_list and migrate_pages skip it.
 */
function heldBy(world: World, g: Guest, base: number, frames: number): string | null {
  for (const h of g.backingHooks) {
    if (!h.busy) continue;
    for (let i = 0; i < frames; i++) {
      const why = h.busy(world, g, base + i);
      if (why) return why;
    }
  }
  return null;
}

export function reclaimBegin(world: World, g: Guest, gfn: number): OpResult {
  if (g.pendingReclaim) return refuse('busy', `g${g.id}: a reclaim of gfn ${hex(g.pendingReclaim.gfn)} is in flight`);
  if (!g.backing.has(gfn)) return refuse('no-such-mapping', `g${g.id} gfn ${hex(gfn)} is not backed`);
  const { base, frames } = unitOf(g, gfn);
  const held = heldBy(world, g, base, frames);
  if (held) return refuse('busy', `g${g.id} gfn ${hex(gfn)}: ${held}`);
  const bad = notGuestMemory(world, g, gfn);
  if (bad) return bad;
  const unit = Array.from({ length: frames }, (_, i) => base + i);
  const mlocked = unit.find((u) => g.reclaimVetoes.some((v) => v(g, u)));
  if (mlocked !== undefined) return refuse('busy', `g${g.id} gfn ${hex(mlocked)} is unevictable (mlocked)`);
  // add_to_swap: a slot for every frame first; a full device refuses with nothing changed.
  const reserved: number[] = [];
  for (const u of unit) {
    if (!g.hostSwap.has(u) && g.hostSwap.reserve(u)) reserved.push(u);
    else if (!g.hostSwap.has(u)) {
      for (const r of reserved) g.hostSwap.delete(r);
      return refuse('limit', `host swap device full (${world.hostSwapDevice.capacity} slots)`);
    }
  }
  const hfn = g.backing.get(base)!;
  let early: Map<number, Content> | null = null;
  if (world.fault('reclaim-copies-before-zap')) {
    // Hazard: the contents may be copied out only after the zap and the flush; a copy taken
    // while the guest still has a writable translation misses its later writes (the rule
    // behind try_to_unmap_flush_dirty, d950c9477d51).
    early = new Map(unit.map((u) => [u, copyContent(world.frames.read(g.backing.get(u)!))]));
    invalidateMark(world, g, base, base + frames);
  } else if (world.fault('ept-kept-after-free')) {
    // Hazard: changing the primary mapping without zapping the EPT leaves the guest a path
    // to a frame the host is about to free (f268f6cf875f; CVE-2021-22543).
    invalidateMark(world, g, base, base + frames);
  } else {
    invalidateBegin(world, g, base, base + frames);
  }
  g.pendingReclaim = { gfn: base, frames, early, hfn };
  // Hazard: the write to the slot is still in flight; freeing the frame now lets the next
  // allocation reuse it and the slot receive whatever that writes (a folio must stay allocated
  // until end_page_writeback; shrink_folio_list skips folio_test_writeback folios).
  if (world.fault('host-swap-frees-before-writeback')) hostFree(world, hfn, frames === 1 ? 0 : 9);
  world.transition('nested-mmu', 'backed', 'reclaiming');
  world.transition('swap', 'host-backed', 'host-writeback');
  return ok();
}

export function reclaimEnd(world: World, g: Guest): OpResult {
  const r = g.pendingReclaim;
  if (!r) return refuse('no-such-mapping', `g${g.id}: no reclaim in flight`);
  g.pendingReclaim = null;
  const first = g.backing.get(r.gfn);
  for (let i = 0; i < r.frames; i++) {
    const gfn = r.gfn + i;
    const hfn = g.backing.get(gfn);
    if (hfn === undefined) {
      // Dropped meanwhile (discarded): its reservation goes back unwritten.
      g.hostSwap.delete(gfn);
      continue;
    }
    g.hostSwap.set(gfn, r.early?.get(gfn) ?? copyContent(world.frames.read(hfn)));
    g.setBacking(gfn, undefined);
  }
  world.transition('swap', 'host-writeback', 'host-swapped');
  if (r.early) zapAndFlush(world, g, r.gfn, r.gfn + r.frames);
  g.hugeBacked.delete(Math.floor(r.gfn / FRAMES_PER_2M));
  // Hazard: a frame whose backing is gone must go back to the allocator; keeping it leaks it
  // with an owner record that nothing refers to.
  if (first !== undefined && !world.fault('host-reclaim-skips-free') && !world.fault('host-swap-frees-before-writeback')) hostFree(world, first, r.frames === 1 ? 0 : 9);
  // Hazard: every invalidate_range_start needs its _end; a missing end leaves the range
  // invalidating forever and every fault in it retrying.
  if (!world.fault('invalidate-end-skipped')) invalidateEnd(world, g);
  world.journal.note(() => `g${g.id}: host swapped out gfn ${hex(r.gfn)} +${r.frames}`);
  world.transition('nested-mmu', 'reclaiming', 'swapped');
  return ok();
}

/**
 * A vCPU whose fault retries because the host is invalidating its gfn spins until the host's
 * invalidate_range_end; in a one-thread model that means the host's pending reclaim runs to
 * its end now. Returns whether there was one to finish (false: the retry stands).
 */
export function waitForInvalidation(world: World, g: Guest, gfn: number): boolean {
  const r = g.pendingReclaim;
  if (!r || gfn < r.gfn || gfn >= r.gfn + r.frames) return false;
  world.journal.note(() => `g${g.id}: vCPU waits for the host's reclaim of gfn ${hex(r.gfn)} to end`);
  reclaimEnd(world, g);
  return true;
}

/** Move the frame(s) behind gfn to a new host block: begin, copy, remap, free, end. */
export function migrate(world: World, g: Guest, gfn: number): OpResult {
  if (g.pendingReclaim) return refuse('busy', `g${g.id}: a reclaim is in flight`);
  const old = g.backing.get(gfn);
  if (old === undefined) return refuse('no-such-mapping', `g${g.id} gfn ${hex(gfn)} is not backed`);
  const { base, frames } = unitOf(g, gfn);
  const held = heldBy(world, g, base, frames);
  if (held) return refuse('busy', `g${g.id} gfn ${hex(gfn)}: ${held}`);
  const bad = notGuestMemory(world, g, gfn);
  if (bad) return bad;
  const order = frames === 1 ? 0 : 9;
  const oldBase = g.backing.get(base)!;
  const target = hostAlloc(world, order, 'MOVABLE', (i) => ({ kind: 'guest-memory', guest: g.id, gfn: base + i }), 'migrate', 'migrate-target');
  if (typeof target !== 'number') return target;
  invalidateBegin(world, g, base, base + frames);
  for (let i = 0; i < frames; i++) {
    world.frames.write(target + i, copyContent(world.frames.read(oldBase + i)));
    g.setBacking(base + i, target + i);
  }
  hostFree(world, oldBase, order);
  invalidateEnd(world, g);
  world.journal.note(() => `g${g.id}: host migrated gfn ${hex(base)} +${frames}: hfn ${hex(oldBase)} -> ${hex(target)}`);
  world.transition('nested-mmu', 'backed', 'migrated');
  return ok();
}
