/**
 * khugepaged on the host, over QEMU's mapping of guest memory: 512 gfns of a 2 MiB unit backed
 * by 4 KiB frames (or swapped, or never touched) become one 2 MiB host block.
 * - scan: the unit is not 2 MiB backed, no reclaim is in flight in it, every backed gfn is a
 *   4 KiB frame owned as this guest's memory at this gfn and not locked (KSM pages and pages
 *   under migration are barriers: the model's choice for KSM, whose pages Linux counts against
 *   max_ptes_shared), no gfn is a collapse barrier (an unplugged virtio-mem block, memory the
 *   balloon or free page reporting gave back: never repopulated), at most max_ptes_none are
 *   none and max_ptes_swap swapped.
 * - collapse: allocate the 2 MiB block (direct compaction on failure, khugepaged's defrag),
 *   revalidate, and then inside the invalidation protocol (f268f6cf875f: khugepaged must run
 *   the mmu notifiers, or KVM keeps EPT entries to the freed 4 KiB frames): copy (swapped
 *   contents come back, none gfns become zeroes), switch the primary mapping, free the old
 *   frames, end. KVM's next fault maps one 2 MiB EPT leaf.
 */
import { FRAMES_PER_2M } from '../constants';
import { copyContent, ZERO } from '../content';
import type { Guest } from '../guest/guest';
import { hostAlloc, hostFree } from '../host/alloc';
import { describeOwner, type HostOwner } from '../host/frames';
import { invalidateBegin, invalidateEnd } from '../mmu/notifier';
import { ok, refuse, type OpResult } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { compactZone } from '../compaction/compact';
import { compactionState } from '../compaction/state';
import { imageHost } from './ghost';
import { MAX_PTES_NONE_DEFAULT, MAX_PTES_SWAP_DEFAULT, recordChange, thpState, type CollapseSource } from './state';

export const FAULT_COLLAPSE_SKIPS_NOTIFIER = 'thp-collapse-skips-notifier';

/** Barriers in the unit right now (ghost and scan alike). */
export function collapseBarriers(world: World, g: Guest, base: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    for (const h of g.backingHooks) {
      const why = h.collapseBarrier?.(world, g, base + i);
      if (why) {
        out.push(`gfn ${hex(base + i)}: ${why}`);
        break;
      }
    }
  }
  return out;
}

function examine(world: World, g: Guest, unit: number): Map<number, number> | string {
  const base = unit * FRAMES_PER_2M;
  if (base + FRAMES_PER_2M > g.config.frames) return 'beyond guest memory';
  if (g.hugeBacked.has(unit)) return 'already 2 MiB backed';
  const r = g.pendingReclaim;
  if (r && r.gfn < base + FRAMES_PER_2M && base < r.gfn + r.frames) return 'a reclaim is in flight';
  const barriers = collapseBarriers(world, g, base);
  if (barriers.length > 0) return barriers[0]!;
  const locked = compactionState(world).hostLocked;
  const backed = new Map<number, number>();
  let none = 0;
  let swapped = 0;
  for (let gfn = base; gfn < base + FRAMES_PER_2M; gfn++) {
    const hfn = g.backing.get(gfn);
    if (hfn === undefined) {
      if (g.hostSwap.has(gfn)) swapped++;
      else none++;
      continue;
    }
    const o = world.frames.owner(hfn);
    if (o?.kind !== 'guest-memory' || o.guest !== g.id || o.gfn !== gfn) return `gfn ${hex(gfn)} is backed by ${describeOwner(o)}`;
    if (locked.has(hfn)) return `hfn ${hex(hfn)} is locked for migration`;
    backed.set(gfn, hfn);
  }
  const maxNone = world.option('thp.max-ptes-none', MAX_PTES_NONE_DEFAULT);
  if (none > maxNone) return `${none} none > max_ptes_none ${maxNone}`;
  if (swapped > MAX_PTES_SWAP_DEFAULT) return `${swapped} swapped > max_ptes_swap ${MAX_PTES_SWAP_DEFAULT}`;
  return backed;
}

export function hostKhugepagedScan(world: World, g: Guest, gfn: number): OpResult {
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  const v = examine(world, g, unit);
  if (typeof v === 'string') return refuse('busy', `host khugepaged: g${g.id} gfn ${hex(unit * FRAMES_PER_2M)}: ${v}`);
  thpState(world).hostCandidate.set(g.id, { unit, scanned: v });
  world.transition('thp', 'idle', 'host-scanned');
  return ok(v.size);
}

export function hostKhugepagedCollapse(world: World, g: Guest): OpResult {
  const s = thpState(world);
  const c = s.hostCandidate.get(g.id);
  if (!c) return refuse('no-such-mapping', `host khugepaged: g${g.id} has no scanned unit`);
  s.hostCandidate.delete(g.id);
  const base = c.unit * FRAMES_PER_2M;
  const abort = (r: OpResult): OpResult => {
    world.transition('thp', 'host-scanned', 'aborted');
    return r;
  };
  const take = () => hostAlloc(world, 9, 'MOVABLE', () => ({ kind: 'host-kernel', tag: 'khugepaged collapse' }), 'khugepaged', 'collapse');
  let block = take();
  if (typeof block !== 'number') {
    compactZone(world, null, { order: 9, proactive: false });
    block = take();
    if (typeof block !== 'number') return abort(block);
  }
  const stale = world.fault('thp-collapse-uses-stale-scan');
  const v = examine(world, g, c.unit);
  if (typeof v === 'string' && !stale) {
    hostFree(world, block, 9);
    return abort(refuse('busy', `host khugepaged: revalidation failed: ${v}`));
  }
  const pre = imageHost(world, g, base);
  const barriers = collapseBarriers(world, g, base);
  // Hazard: the primary mapping may change only inside the invalidation (f268f6cf875f).
  const notify = !world.fault(FAULT_COLLAPSE_SKIPS_NOTIFIER);
  if (notify) invalidateBegin(world, g, base, base + FRAMES_PER_2M);
  const sources: CollapseSource<HostOwner>[] = [];
  const old: number[] = [];
  const empty: number[] = [];
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    const gfn = base + i;
    // Under the stale-scan fault the copy reads the frames the scan saw, whoever has them now.
    const src = stale ? c.scanned.get(gfn) : g.backing.get(gfn);
    if (src !== undefined) sources.push({ index: i, frame: src, owner: world.frames.owner(src) });
    if (src === undefined && !g.hostSwap.has(gfn)) empty.push(i);
    const content = src !== undefined ? world.frames.read(src) : (g.hostSwap.get(gfn) ?? ZERO);
    world.frames.write(block + i, copyContent(content));
    const cur = g.backing.get(gfn);
    if (cur !== undefined) old.push(cur);
  }
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    const gfn = base + i;
    world.frames.setOwner(block + i, { kind: 'guest-memory', guest: g.id, gfn }, { site: 'khugepaged', reason: 'collapse', step: world.step, order: 9 });
    g.hostSwap.delete(gfn);
    g.setBacking(gfn, block + i);
  }
  // __collapse_huge_page_copy clears the subpages nothing backed (clear_user_highpage): a clear
  // of the frame that now backs the gfn, counted as the host's zeroing of it.
  for (const i of empty) world.frames.clear(block + i, ZERO);
  g.hugeBacked.add(c.unit);
  for (const hfn of old) hostFree(world, hfn, 0);
  if (notify) invalidateEnd(world, g);
  world.transition('thp', 'host-scanned', 'host-collapsed');
  recordChange(world, { kind: 'host-collapse', guest: g.id, base, pre, post: imageHost(world, g, base), sources, barriers });
  world.journal.note(() => `g${g.id}: host khugepaged collapsed gfn ${hex(base)} into hfn ${hex(block as number)}`);
  return ok(block);
}
