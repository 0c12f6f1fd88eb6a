/**
 * The virtio-mem device's request handling (QEMU hw/virtio/virtio-mem.c virtio_mem_handle_request)
 * and the guest driver's side (drivers/virtio/virtio_mem.c): plug and online, offline and
 * unplug, unplug-all, state, and the work the driver does when requested_size changes.
 *
 * Offlining is the path of alloc_contig_range / offline_pages: isolate the range
 * (start_isolate_page_range, which fails with EBUSY when has_unmovable_pages finds a page with
 * no migration path), migrate every movable page out (do_migrate_range; a THP is split first),
 * check the range is all free (test_pages_isolated), take it, and only then ask the device to
 * unplug it: the driver MUST NOT request unplug of memory still in use (VIRTIO 1.2 5.15.6, driver requirements of Device Operation).
 */
import { PAGEBLOCK_ORDER } from '../constants';
import type { Content } from '../content';
import { describeGuestOwner, type Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { hostFree } from '../host/alloc';
import { invalidateBegin, invalidateEnd } from '../mmu/notifier';
import { ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { beginGuestMigration, runMigration } from '../compaction/migrate';
import { compactionState, guestLockedSet } from '../compaction/state';
import { pageblockBlocks } from '../compaction/zone';
import { ksmDropSharer } from '../ksm/ksm';
import { splitGuestHuge } from '../thp/split';
import {
  BLOCK_FRAMES, blockBase, deviceOf, recordExchange, recordUnplug, VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_STATE,
  VIRTIO_MEM_REQ_UNPLUG, VIRTIO_MEM_REQ_UNPLUG_ALL, VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_BUSY, VIRTIO_MEM_RESP_ERROR,
  VIRTIO_MEM_RESP_NACK, VIRTIO_MEM_STATE_MIXED, VIRTIO_MEM_STATE_PLUGGED, VIRTIO_MEM_STATE_UNPLUGGED, type Device,
} from './device';

export const FAULT_PLUG_BEYOND_REQUESTED = 'virtio-mem-plug-beyond-requested';
export const FAULT_OFFLINE_SKIPS_UNMOVABLE = 'virtio-mem-offline-skips-unmovable';
export const FAULT_UNPLUG_KEEPS_BACKING = 'virtio-mem-unplug-keeps-backing';
export const FAULT_DISCARD_LEAKS_FRAMES = 'virtio-mem-discard-leaks-frames';
export const FAULT_CONFIG_CHANGE_LOST = 'virtio-mem-config-change-lost';

const MECH = 'virtio-mem';

// ---- device ------------------------------------------------------------------------------

/** The host holds frames of the block (a reclaim or a migration in flight): the device answers BUSY. */
function hostBusy(w: World, g: Guest, d: Device, block: number): boolean {
  const base = blockBase(d, block);
  const r = g.pendingReclaim;
  if (r && r.gfn < base + BLOCK_FRAMES && base < r.gfn + r.frames) return true;
  const locked = compactionState(w).hostLocked;
  for (let gfn = base; gfn < base + BLOCK_FRAMES; gfn++) {
    const hfn = g.backing.get(gfn);
    if (hfn !== undefined && locked.has(hfn)) return true;
  }
  return false;
}

/**
 * QEMU's discard of an unplugged block (ram_block_discard_range: MADV_DONTNEED on the range),
 * which runs KVM's invalidation: the EPT leaves go, the TLB is flushed, the frames go back to
 * the host (cleared again before anyone's next use: the host's zero-fill on fault). Returns
 * the frames that backed it and the contents thrown away.
 */
function discardBlock(w: World, g: Guest, d: Device, block: number): { frames: number[]; lost: Content[] } {
  const base = blockBase(d, block);
  const frames: number[] = [];
  const lost: Content[] = [];
  // Hazard: an acknowledged unplug must give the memory back; keeping it populated leaves the
  // guest a path to memory that is no longer its (VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE).
  if (w.fault(FAULT_UNPLUG_KEEPS_BACKING)) return { frames, lost };
  invalidateBegin(w, g, base, base + BLOCK_FRAMES);
  const unit = base / BLOCK_FRAMES;
  const huge = g.hugeBacked.has(unit);
  const hugeHfn = huge ? g.backing.get(base) : undefined;
  for (let gfn = base; gfn < base + BLOCK_FRAMES; gfn++) {
    g.hostSwap.delete(gfn);
    if (ksmDropSharer(w, g, gfn)) continue;
    const hfn = g.backing.get(gfn);
    if (hfn === undefined) continue;
    frames.push(hfn);
    lost.push(w.frames.read(hfn));
    g.setBacking(gfn, undefined);
    // Hazard: the frames must go back to the host allocator; dropping only the mapping leaks
    // them (the leak class mm/page_owner.c exists to find).
    if (!huge && !w.fault(FAULT_DISCARD_LEAKS_FRAMES)) hostFree(w, hfn, 0);
  }
  // A 2 MiB backing page goes back whole (neither line does anything for a block backed by 4 KiB pages).
  g.hugeBacked.delete(unit);
  if (hugeHfn !== undefined && !w.fault(FAULT_DISCARD_LEAKS_FRAMES)) hostFree(w, hugeHfn, PAGEBLOCK_ORDER);
  invalidateEnd(w, g);
  return { frames, lost };
}

/** The device's answer to a request (VIRTIO 1.2 5.15.6: the PLUG, UNPLUG, UNPLUG ALL and STATE requests' device requirements). */
export function deviceRequest(w: World, g: Guest, d: Device, request: number, block: number, count = 1): number {
  const inRegion = block >= 0 && count > 0 && block + count <= d.blocks;
  let resp: number;
  switch (request) {
    case VIRTIO_MEM_REQ_PLUG:
      // ERROR outside the usable region or on a plugged block; NACK once plugged_size reaches
      // requested_size ("It is impossible to plug more memory than requested").
      if (!inRegion || d.state[block] !== 'unplugged') resp = VIRTIO_MEM_RESP_ERROR;
      else if (d.plugged >= d.requested && !w.fault(FAULT_PLUG_BEYOND_REQUESTED)) resp = VIRTIO_MEM_RESP_NACK;
      else {
        d.state[block] = 'plugged';
        d.plugged++;
        w.transition(MECH, 'unplugged', 'plugged');
        resp = VIRTIO_MEM_RESP_ACK;
      }
      break;
    case VIRTIO_MEM_REQ_UNPLUG:
      if (!inRegion || d.state[block] === 'unplugged') resp = VIRTIO_MEM_RESP_ERROR;
      else if (hostBusy(w, g, d, block)) resp = VIRTIO_MEM_RESP_BUSY;
      else {
        const inUse: string[] = [];
        const base = blockBase(d, block);
        for (let gfn = base; gfn < base + BLOCK_FRAMES; gfn++) {
          const o = g.owners.get(gfn);
          if (o?.kind !== 'virtio-mem') inUse.push(`gfn ${hex(gfn)}: ${describeGuestOwner(o)}`);
        }
        const { frames, lost } = discardBlock(w, g, d, block);
        d.state[block] = 'unplugged';
        d.plugged--;
        w.transition(MECH, 'offlining', 'unplugged');
        recordUnplug(w, { guest: g.id, block, inUse, frames, lost });
        resp = VIRTIO_MEM_RESP_ACK;
      }
      break;
    case VIRTIO_MEM_REQ_UNPLUG_ALL: {
      const plugged = d.state.map((s, b) => (s === 'unplugged' ? -1 : b)).filter((b) => b >= 0);
      if (plugged.some((b) => hostBusy(w, g, d, b))) resp = VIRTIO_MEM_RESP_BUSY;
      else {
        for (const b of plugged) {
          const { frames, lost } = discardBlock(w, g, d, b);
          d.state[b] = 'unplugged';
          recordUnplug(w, { guest: g.id, block: b, inUse: [], frames, lost });
        }
        d.plugged = 0;
        resp = VIRTIO_MEM_RESP_ACK;
      }
      break;
    }
    case VIRTIO_MEM_REQ_STATE: {
      if (!inRegion) {
        resp = VIRTIO_MEM_RESP_ERROR;
        break;
      }
      // A block being offlined is still plugged: only an ACKed UNPLUG unplugs it.
      const states = d.state.slice(block, block + count);
      recordExchange(w, d, request, block, VIRTIO_MEM_RESP_ACK);
      if (states.every((x) => x !== 'unplugged')) return VIRTIO_MEM_STATE_PLUGGED;
      return states.every((x) => x === 'unplugged') ? VIRTIO_MEM_STATE_UNPLUGGED : VIRTIO_MEM_STATE_MIXED;
    }
    default:
      resp = VIRTIO_MEM_RESP_ERROR;
  }
  recordExchange(w, d, request, block, resp);
  return resp;
}

// ---- driver ------------------------------------------------------------------------------

function deviceOrRefuse(w: World, g: Guest): Device | OpResult {
  return deviceOf(w, g) ?? refuse('no-such-mapping', `g${g.id} has no virtio-mem device`);
}

/** Take the block's pages out of the guest's allocator as device memory (offline). */
function takeBlock(g: Guest, d: Device, block: number): boolean {
  return takeFree(g, blockBase(d, block), PAGEBLOCK_ORDER, block);
}

/** A free buddy block leaves the allocator and becomes the device's; false if it is not free. */
function takeFree(g: Guest, pfn: number, order: number, block: number): boolean {
  if (typeof g.buddy.allocAt(pfn, order, 'MOVABLE') !== 'number') return false;
  for (let gfn = pfn; gfn < pfn + (1 << order); gfn++) g.setOwner(gfn, { kind: 'virtio-mem', block });
  return true;
}

/**
 * online_pages: the block's pages join the guest's allocator, and its pageblock ends MOVABLE
 * whatever it was while offline (undo_isolate_page_range(..., MIGRATE_MOVABLE)): the swarm's
 * boot-time offlining (reclaim/hog.ts offlineAtBoot) may have isolated it.
 */
function onlineBlock(w: World, g: Guest, d: Device, block: number): void {
  const base = blockBase(d, block);
  for (let gfn = base; gfn < base + BLOCK_FRAMES; gfn++) g.clearOwner(gfn);
  guestFree(w, g, base, PAGEBLOCK_ORDER);
  if (g.buddy.migratetypeOf(base) === 'ISOLATE') g.buddy.unisolatePageblock(base, 'MOVABLE');
}

/** The driver plugs a block and onlines it. Returns the device's response. */
export function plug(w: World, g: Guest, block: number): OpResult {
  const d = deviceOrRefuse(w, g);
  if ('ok' in d) return d;
  const resp = deviceRequest(w, g, d, VIRTIO_MEM_REQ_PLUG, block);
  if (resp === VIRTIO_MEM_RESP_ACK) onlineBlock(w, g, d, block);
  return ok(resp);
}

/** Whether every allocated page of the block has a migration path (has_unmovable_pages). */
function unmovableIn(w: World, g: Guest, base: number): string | null {
  const locked = guestLockedSet(compactionState(w), g.id);
  for (const blk of pageblockBlocks(g.buddy, base)) {
    if (blk.free) continue;
    const o = g.owners.get(blk.pfn);
    // No page of a plugged block is the device's: onlining and abortOffline give every one back
    // (only FAULT_OFFLINE_SKIPS_UNMOVABLE leaves some taken, and it skips this test).
    if (o?.kind !== 'anon') return `gfn ${hex(blk.pfn)}: ${describeGuestOwner(o)}`;
    // Only order-0 pages are ever locked (guestMovable), so the head is the page to ask about.
    if (locked.has(blk.pfn)) return `gfn ${hex(blk.pfn)} is under migration`;
  }
  return null;
}

/** Offline step 1: isolate the block's pageblock; EBUSY if something unmovable is in it. */
export function unplugBegin(w: World, g: Guest, block: number): OpResult {
  const d = deviceOrRefuse(w, g);
  if ('ok' in d) return d;
  // A block outside the device has no state: not plugged either.
  if (d.state[block] !== 'plugged') return refuse('invalid', `g${g.id} virtio-mem block ${block} is not plugged and online`);
  const base = blockBase(d, block);
  const before = g.buddy.migratetypeOf(base);
  const iso = g.buddy.isolatePageblock(base);
  if (iso !== undefined) return refuse('busy', `g${g.id} block ${block}: ${iso.error}`);
  // Hazard: a page with no migration path makes the range unofflinable (EBUSY); going on
  // unplugs memory the kernel still uses.
  const why = w.fault(FAULT_OFFLINE_SKIPS_UNMOVABLE) ? null : unmovableIn(w, g, base);
  if (why) {
    // mm/page_isolation.c set_migratetype_isolate runs has_unmovable_pages before
    // set_pageblock_migratetype(MIGRATE_ISOLATE): on EBUSY the pageblock keeps the type it had
    // (UNMOVABLE when a fallback stole it), so put that one back, not MOVABLE.
    g.buddy.unisolatePageblock(base, before);
    return refuse('busy', `g${g.id} block ${block}: EBUSY, ${why}`);
  }
  d.state[block] = 'offlining';
  w.transition(MECH, 'plugged', 'offlining');
  return ok();
}

/** Give up offlining: the block goes back to the allocator, plugged and online. */
export function abortOffline(w: World, g: Guest, d: Device, block: number): void {
  const base = blockBase(d, block);
  if (g.owners.get(base)?.kind === 'virtio-mem') onlineBlock(w, g, d, block);
  // undo_isolate_page_range; a pageblock something else already unisolated is left alone
  // (unset_migratetype_isolate, like unisolatePageblock, refuses one that is not isolated).
  else g.buddy.unisolatePageblock(base, 'MOVABLE');
  d.state[block] = 'plugged';
  w.transition(MECH, 'offlining', 'plugged');
}

/** Offline step 2: migrate everything movable out, take the range, request UNPLUG. */
export function unplugFinish(w: World, g: Guest, block: number): OpResult {
  const d = deviceOrRefuse(w, g);
  if ('ok' in d) return d;
  if (d.state[block] !== 'offlining') return refuse('invalid', `g${g.id} virtio-mem block ${block} is not being offlined`);
  const base = blockBase(d, block);
  const busy = (why: string): OpResult => {
    abortOffline(w, g, d, block);
    return refuse('busy', `g${g.id} block ${block}: EBUSY, ${why}`);
  };
  const skip = w.fault(FAULT_OFFLINE_SKIPS_UNMOVABLE);
  if (g.owners.get(base)?.kind !== 'virtio-mem') {
    if (g.buddy.migratetypeOf(base) !== 'ISOLATE') return busy('the range is no longer isolated');
    for (const blk of pageblockBlocks(g.buddy, base)) {
      const o = g.owners.get(blk.pfn);
      // Only anonymous memory migrates; free blocks have no owner. unplugBegin refused a range
      // with anything else in it, and the isolation keeps new allocations out, so only the
      // fault (or the pageblock unisolated between the steps) leaves such a page here, and
      // test_pages_isolated below finds it.
      if (o?.kind !== 'anon') continue;
      // do_migrate_range: a THP is split, then its pages move one by one.
      if (blk.order > 0) {
        const p = g.processes.get(o.pid);
        const s = p ? splitGuestHuge(w, g, p, o.vpn) : refuse('no-such-process', 'gone');
        if (!s.ok) return busy(`THP at gfn ${hex(blk.pfn)} could not be split: ${s.detail}`);
      }
      // Every page of the block is anonymous (a THP's too, once split).
      for (let pfn = blk.pfn; pfn < blk.pfn + (1 << blk.order); pfn++) {
        // alloc_migration_target: an ordinary movable allocation (fallbacks allowed; never
        // from the isolated range).
        const dst = g.buddy.alloc(0, 'MOVABLE');
        if (typeof dst !== 'number') return busy('no free page to migrate to');
        const m = beginGuestMigration(w, g, pfn, 'offline', dst);
        if ('ok' in m) {
          g.buddy.free(dst, 0);
          if (skip) continue;
          return busy(m.detail);
        }
        const r = runMigration(w, m);
        if (!r.ok && !skip) return busy(`migration of gfn ${hex(pfn)} failed: ${r.detail}`);
      }
    }
    // test_pages_isolated: a page still in use makes the offline fail (EBUSY). Under the
    // injected fault the driver goes on and unplugs the block with it in use.
    const blocks = pageblockBlocks(g.buddy, base);
    const used = blocks.find((b) => !b.free);
    if (used && !skip) return busy(`gfn ${hex(used.pfn)} is still in use: ${describeGuestOwner(g.owners.get(used.pfn))}`);
    g.buddy.unisolatePageblock(base, 'MOVABLE');
    // __offline_isolated_pages: each free buddy block of the range leaves the allocator (one
    // block of order PAGEBLOCK_ORDER unless the fault left pages in use; takeFree leaves those).
    // A free block larger than the pageblock (merged with a neighbour while both were isolated)
    // is taken for this pageblock only: the neighbour is not the device's.
    for (const b of blocks) takeFree(g, Math.max(b.pfn, base), Math.min(b.order, PAGEBLOCK_ORDER), block);
  }
  const resp = deviceRequest(w, g, d, VIRTIO_MEM_REQ_UNPLUG, block);
  // BUSY: the block stays taken and offlining; the driver retries later (virtio_mem_retry).
  return resp === VIRTIO_MEM_RESP_BUSY ? refuse('busy', `g${g.id} block ${block}: device BUSY`) : ok(resp);
}

/** UNPLUG_ALL: only when nothing of the device is online (the driver's initialisation path). */
export function unplugAll(w: World, g: Guest): OpResult {
  const d = deviceOrRefuse(w, g);
  if ('ok' in d) return d;
  for (let b = 0; b < d.blocks; b++)
    if (d.state[b] !== 'unplugged' && g.owners.get(blockBase(d, b))?.kind !== 'virtio-mem')
      return refuse('busy', `g${g.id} block ${b} is online: the driver sends UNPLUG_ALL only when no plugged memory is in use`);
  return ok(deviceRequest(w, g, d, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, d.blocks));
}

export function stateRequest(w: World, g: Guest, block: number, count: number): OpResult {
  const d = deviceOrRefuse(w, g);
  if ('ok' in d) return d;
  return ok(deviceRequest(w, g, d, VIRTIO_MEM_REQ_STATE, block, count));
}

/** The host changes requested_size and notifies the driver (a configuration change). */
export function resize(w: World, g: Guest, blocks: number): OpResult {
  const d = deviceOrRefuse(w, g);
  if ('ok' in d) return d;
  if (blocks < 0 || blocks > d.blocks) return refuse('out-of-range', `g${g.id}: requested ${blocks} blocks of ${d.blocks}`);
  d.requested = blocks;
  // Hazard: the driver must see every configuration change (virtio_mem_config_changed ->
  // virtio_mem_retry); a lost notification leaves plugged_size where it was.
  if (!w.fault(FAULT_CONFIG_CHANGE_LOST)) d.configChanged = true;
  w.journal.mark('virtio-mem:resize', g.id);
  return ok();
}

/** The driver's work (virtio_mem_run_wq): finish or give up offlining, then follow requested_size. */
export function driverWork(w: World, g: Guest): void {
  const d = deviceOf(w, g);
  if (!d) return;
  const blocks = [...d.state.keys()];
  // unplugFinish refuses a block that is not offlining and changes nothing.
  for (const b of blocks) finishOrGiveUp(w, g, d, b);
  if (!d.configChanged) return;
  d.configChanged = false;
  for (const b of blocks) if (d.plugged < d.requested && d.state[b] === 'unplugged') plug(w, g, b);
  // unplugBegin refuses a block that is not plugged and online, changing nothing.
  for (const b of blocks.reverse()) if (d.plugged > d.requested && unplugBegin(w, g, b).ok) finishOrGiveUp(w, g, d, b);
}

/**
 * Finish offlining block b, or give it up. unplugFinish gives a block up itself on EBUSY; only
 * the device's BUSY leaves it offlining (and taken), for the driver to give up here.
 */
function finishOrGiveUp(w: World, g: Guest, d: Device, b: number): void {
  if (!unplugFinish(w, g, b).ok && d.state[b] === 'offlining') abortOffline(w, g, d, b);
}

/**
 * Create the device of g: its blocks start unplugged, their pages outside the allocator. The
 * device region ends at `top` (the end of guest memory, or below memory reserved there at
 * boot: memctl's region); null, with nothing taken, when the blocks do not fit.
 */
export function createDevice(g: Guest, blocks: number, top = g.config.frames): Device | null {
  if (blocks <= 0) return null;
  const base = top - blocks * BLOCK_FRAMES;
  if (base < g.config.frames / 2) return null;
  const d: Device = { guest: g.id, base, blocks, requested: 0, plugged: 0, state: new Array(blocks).fill('unplugged'), configChanged: false };
  for (let b = 0; b < blocks; b++) {
    if (takeBlock(g, d, b)) continue;
    for (let t = 0; t < b; t++) {
      const tb = blockBase(d, t);
      for (let gfn = tb; gfn < tb + BLOCK_FRAMES; gfn++) g.clearOwner(gfn);
      g.buddy.free(tb, PAGEBLOCK_ORDER);
    }
    return null;
  }
  return d;
}
