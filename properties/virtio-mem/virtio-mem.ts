/**
 * Properties of virtio-mem (VIRTIO 1.2 section 5.15):
 * - virtio-mem-plugged-within-requested: after an ACK to PLUG, plugged_size does not exceed
 *   requested_size, and plugged_size always counts the plugged blocks ("The device MUST change
 *   plugged_size to reflect the size of plugged memory blocks");
 * - virtio-mem-unplugged-inaccessible: no gfn of an unplugged block is backed, swapped, mapped
 *   by the EPT, or accessed by the guest (VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE);
 * - virtio-mem-unplug-no-data-loss: when the device acknowledges an UNPLUG, nothing in the
 *   guest used the block any more (everything movable was moved; the rest blocked the unplug);
 * - virtio-mem-frames-returned: the host frames of an unplugged block are back in the host's
 *   allocator (their next owner gets them cleared: the host's zero-fill on fault, checked by
 *   no-cross-tenant-leak across guests);
 * - virtio-mem-converges (liveness): after the settle phase plugged_size equals requested_size,
 *   or every plugged block beyond it is held by an unmovable page or by a lack of free memory
 *   to move its pages to ("The driver MAY not reach the requested size").
 */
import { EPT_READ } from '../../model/constants';
import { describeOwner } from '../../model/host/frames';
import type { Guest } from '../../model/guest/guest';
import { BLOCK_FRAMES, blockBase, blockOf, deviceOf, virtioMemState, VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_RESP_ACK, type Device } from '../../model/virtio-mem/device';
import { pageblockBlocks } from '../../model/compaction/zone';
import type { World } from '../../model/world';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const PLUGGED = 'virtio-mem-plugged-within-requested';
const INACCESSIBLE = 'virtio-mem-unplugged-inaccessible';
const NO_LOSS = 'virtio-mem-unplug-no-data-loss';
const RETURNED = 'virtio-mem-frames-returned';
const CONVERGES = 'virtio-mem-converges';

function countPlugged(d: Device): number {
  return d.state.filter((s) => s !== 'unplugged').length;
}

function checkPlugged(ctx: StepContext, r: Reporter, all: boolean): void {
  const s = virtioMemState(ctx.world);
  for (const id of ctx.journal.marks.get('virtio-mem:exchange') ?? []) {
    const e = s.exchanges.get(id);
    if (e && e.request === VIRTIO_MEM_REQ_PLUG && e.response === VIRTIO_MEM_RESP_ACK && e.plugged > e.requested)
      r.report({ property: PLUGGED, kind: 'plugged-beyond-requested', subject: `g${e.guest} virtio-mem block ${e.block}`, message: 'the device acknowledged a PLUG that takes plugged_size beyond requested_size', expected: `plugged_size <= ${e.requested} blocks`, actual: `${e.plugged} blocks` });
  }
  const guests = all ? [...s.devices.keys()] : [...new Set([...(ctx.journal.marks.get('virtio-mem:exchange') ?? [])].map((id) => s.exchanges.get(id)?.guest ?? -1))];
  for (const gid of guests) {
    const d = s.devices.get(gid);
    if (d && d.plugged !== countPlugged(d))
      r.report({ property: PLUGGED, kind: 'plugged-size-wrong', subject: `g${gid} virtio-mem`, message: 'plugged_size does not reflect the plugged blocks', expected: `${countPlugged(d)} blocks`, actual: `${d.plugged} blocks` });
  }
}

export const virtioMemPluggedWithinRequested: Property = {
  name: PLUGGED,
  mechanism: 'virtio-mem',
  kind: 'safety',
  description: 'plugged_size never exceeds requested_size after an ACK, and always counts the plugged blocks',
  checkStep: (ctx, r) => checkPlugged(ctx, r, false),
  checkAll: (ctx, r) => checkPlugged(ctx, r, true),
};

function checkUnpluggedGfn(w: World, g: Guest, d: Device, gfn: number, accessed: boolean, r: Reporter): void {
  const b = blockOf(d, gfn);
  if (b < 0 || d.state[b] !== 'unplugged') return;
  const subject = `g${g.id} gfn ${hex(gfn)} (virtio-mem block ${b}, unplugged)`;
  const hfn = g.backing.get(gfn);
  if (hfn !== undefined || g.hostSwap.has(gfn))
    r.report({ property: INACCESSIBLE, kind: 'backed-unplugged', subject, message: 'unplugged memory is still populated on the host', expected: 'no backing', actual: hfn !== undefined ? `hfn ${hex(hfn)} (${describeOwner(w.frames.owner(hfn))})` : 'swapped contents' });
  else {
    const l = g.ept.lookup(w, gfn);
    if (l.kind === 'leaf' && (l.entry.flags & EPT_READ) !== 0)
      r.report({ property: INACCESSIBLE, kind: 'mapped-unplugged', subject, message: 'the EPT still maps unplugged memory', expected: 'no EPT leaf', actual: `EPT -> hfn ${hex(l.hfn)}` });
  }
  if (accessed) r.report({ property: INACCESSIBLE, kind: 'accessed-unplugged', subject, message: 'the guest accessed unplugged memory', expected: 'no access', actual: 'accessed' });
}

/**
 * Accesses this step to blocks unplugged this step came before the unplug (the driver's own
 * migration reads while offlining): those are not checked, the ones of later steps are.
 */
function accessedAfterUnplug(ctx: StepContext, gid: number, d: Device): Set<number> | undefined {
  const acc = ctx.journal.accessed.get(gid);
  if (!acc) return undefined;
  const s = virtioMemState(ctx.world);
  const fresh = new Set<number>();
  for (const id of ctx.journal.marks.get('virtio-mem:unplug') ?? []) {
    const u = s.unplugs.get(id);
    if (u?.guest === gid) fresh.add(u.block);
  }
  if (fresh.size === 0) return acc;
  return new Set([...acc].filter((gfn) => !fresh.has(blockOf(d, gfn))));
}

export const virtioMemUnpluggedInaccessible: Property = {
  name: INACCESSIBLE,
  mechanism: 'virtio-mem',
  kind: 'safety',
  description: 'no access to an unplugged block succeeds: nothing backs or maps it',
  checkStep(ctx, r) {
    const { world: w, journal: j } = ctx;
    for (const [gid, d] of virtioMemState(w).devices) {
      const g = w.guests[gid]!;
      const acc = accessedAfterUnplug(ctx, gid, d);
      const seen = new Set<number>([...(j.gfns.get(gid) ?? []), ...(acc ?? [])]);
      for (const gfn of seen) checkUnpluggedGfn(w, g, d, gfn, acc?.has(gfn) === true, r);
      for (const id of j.marks.get('virtio-mem:unplug') ?? []) {
        const u = virtioMemState(w).unplugs.get(id);
        if (u?.guest !== gid) continue;
        for (let gfn = blockBase(d, u.block); gfn < blockBase(d, u.block) + BLOCK_FRAMES; gfn++) if (!seen.has(gfn)) checkUnpluggedGfn(w, g, d, gfn, false, r);
      }
    }
  },
  checkAll(ctx, r) {
    const w = ctx.world;
    for (const [gid, d] of virtioMemState(w).devices) {
      const g = w.guests[gid]!;
      const acc = accessedAfterUnplug(ctx, gid, d);
      for (let b = 0; b < d.blocks; b++) {
        if (d.state[b] !== 'unplugged') continue;
        for (let gfn = blockBase(d, b); gfn < blockBase(d, b) + BLOCK_FRAMES; gfn++) checkUnpluggedGfn(w, g, d, gfn, acc?.has(gfn) === true, r);
      }
    }
  },
};

function checkUnplugs(ctx: StepContext, r: Reporter): void {
  const w = ctx.world;
  const s = virtioMemState(w);
  for (const id of ctx.journal.marks.get('virtio-mem:unplug') ?? []) {
    const u = s.unplugs.get(id);
    if (!u) continue;
    const subject = `g${u.guest} virtio-mem block ${u.block}`;
    if (u.inUse.length > 0)
      r.report({ property: NO_LOSS, kind: 'unplugged-in-use', subject, message: `the device unplugged a block the guest still used (${u.inUse.length} pages)`, expected: 'every page migrated out or the unplug refused (EBUSY)', actual: u.inUse.slice(0, 3).join('; ') });
    const g = w.guests[u.guest]!;
    const d = deviceOf(w, g)!;
    for (const hfn of u.frames) {
      const o = w.frames.owner(hfn);
      if (o?.kind === 'guest-memory' && o.guest === u.guest && blockOf(d, o.gfn) === u.block)
        r.report({ property: RETURNED, kind: 'frame-kept', subject: `${subject} hfn ${hex(hfn)}`, message: 'a host frame of an unplugged block did not go back to the host', expected: 'free in the host allocator', actual: describeOwner(o) });
    }
  }
}

export const virtioMemUnplugNoDataLoss: Property = {
  name: NO_LOSS,
  mechanism: 'virtio-mem',
  kind: 'safety',
  description: 'unplug never loses data: everything movable was moved, the rest blocked the unplug',
  checkStep: (ctx, r) => checkUnplugs(ctx, { step: r.step, report: (v) => v.property === NO_LOSS && r.report(v) }),
  checkAll: (ctx, r) => checkUnplugs(ctx, { step: r.step, report: (v) => v.property === NO_LOSS && r.report(v) }),
};

export const virtioMemFramesReturned: Property = {
  name: RETURNED,
  mechanism: 'virtio-mem',
  kind: 'safety',
  description: 'the host frames of an unplugged block return to the host (and are zeroed before reuse)',
  checkStep: (ctx, r) => checkUnplugs(ctx, { step: r.step, report: (v) => v.property === RETURNED && r.report(v) }),
  checkAll: (ctx, r) => checkUnplugs(ctx, { step: r.step, report: (v) => v.property === RETURNED && r.report(v) }),
};

/** Why a plugged block may legitimately stay plugged: an unmovable page, no room to move its pages, or an isolation not the driver's. */
function heldBy(g: Guest, d: Device, block: number): string | null {
  const base = blockBase(d, block);
  // Someone else isolated it (another offlining, CMA): start_isolate_page_range fails.
  if (g.buddy.migratetypeOf(base) === 'ISOLATE') return 'isolated by someone else';
  let movable = 0;
  for (const blk of pageblockBlocks(g.buddy, base)) {
    if (blk.free) continue;
    const o = g.owners.get(blk.pfn);
    if (o?.kind !== 'anon') return `an unmovable page at gfn ${hex(blk.pfn)}`;
    movable += 1 << blk.order;
  }
  const freeElsewhere = g.buddy.freePages() - (BLOCK_FRAMES - movable);
  return freeElsewhere < movable ? `${movable} pages to move, ${freeElsewhere} free elsewhere` : null;
}

export const virtioMemConverges: Property = {
  name: CONVERGES,
  mechanism: 'virtio-mem',
  kind: 'liveness',
  description: 'after settling, plugged_size equals requested_size unless unmovable pages (or no room) prevent it',
  checkStep() {},
  checkAll() {},
  settled({ world: w }, r) {
    for (const [gid, d] of virtioMemState(w).devices) {
      if (d.plugged === d.requested) continue;
      const g = w.guests[gid]!;
      const subject = `g${gid} virtio-mem`;
      if (d.plugged < d.requested) {
        r.report({ property: CONVERGES, kind: 'not-converged', subject, message: 'the driver left fewer blocks plugged than requested', expected: `${d.requested} blocks`, actual: `${d.plugged} blocks` });
        continue;
      }
      const free = d.state.map((s, b) => (s === 'plugged' && heldBy(g, d, b) === null ? b : -1)).filter((b) => b >= 0);
      if (free.length > 0)
        r.report({ property: CONVERGES, kind: 'not-converged', subject, message: 'the driver left more blocks plugged than requested though it could unplug some', expected: `${d.requested} blocks`, actual: `${d.plugged} blocks; block ${free[0]} could be unplugged` });
    }
  },
};
