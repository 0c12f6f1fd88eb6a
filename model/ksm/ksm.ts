/**
 * Kernel samepage merging on the host (mm/ksm.c) over the guest memory QEMU marked
 * MADV_MERGEABLE: identical 4 KiB pages, within one guest or across guests, become one
 * read-only KSM page (a stable node) that every sharer's EPT maps without W; a write to it
 * takes a write-protection fault and gets a private copy first (do_wp_page on a KSM page
 * always copies).
 *
 * A page's cycle: private -> merged (stable node sharer) -> private (copy-on-write, unmerge,
 * discard). ksmd's pass (ksm_do_scan, pages_to_scan at a time) walks the mergeable ranges of
 * the guests that opted in: a candidate equal to a stable node's contents joins it
 * (stable_tree_search, try_to_merge_with_ksm_page); one equal to a page seen earlier in the
 * pass (the unstable tree) merges with it into a new stable node (try_to_merge_two_pages).
 * Each merge is write_protect_page (the mmu notifier zaps the EPT leaf and flushes), a compare
 * of the write-protected contents (pages_identical), and replace_page (the primary mapping
 * now names the KSM page; the private frame is freed), inside one invalidation.
 *
 * Assumptions: ksmd merges on the first pass that sees two equal pages (the kernel first waits
 * for a page's checksum to stay stable over one pass; a heuristic, not a rule); only 4 KiB
 * backed gfns merge (KSM splits THPs before merging; here 2 MiB units are skipped); page-table
 * contents are never merged (the model writes guest tables in place); a KSM page is left
 * alone by the host's reclaim and compaction (KSM migrates its pages with its own rmap walk,
 * not modelled).
 *
 * Swarm options: "ksm.cross-guest" (default true) allows sharers from several guests; off,
 * nodes stay within one guest (as hypervisors that salt KSM per VM do: VMware's
 * Mem.ShareForceSalting, inter-VM TPS off by default since 2014).
 */
import { EPT_RWX, FRAMES_PER_2M } from '../constants';
import { copyContent, type Content } from '../content';
import type { Guest } from '../guest/guest';
import { hostAlloc, hostFree } from '../host/alloc';
import { invalidateBegin, invalidateEnd, zapAndFlush } from '../mmu/notifier';
import { ok, refuse, type OpResult, type Refusal } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { compactionState } from '../compaction/state';

export const FAULT_MERGE_LEAVES_WRITABLE = 'ksm-merge-leaves-writable';
export const FAULT_COW_WRITES_SHARED = 'ksm-cow-writes-shared';
export const FAULT_UNMERGEABLE_KEEPS_MERGED = 'ksm-unmergeable-keeps-merged';

/** mm/ksm.c ksm_thread_pages_to_scan default. */
export const PAGES_TO_SCAN_DEFAULT = 100;

export interface StableNode {
  readonly id: number;
  readonly hfn: number;
  /** The contents every sharer saw when it merged; the KSM page must keep them. */
  readonly content: Content;
  /** Sharers as keys guest * 2^24 + gfn. */
  readonly sharers: Set<number>;
}

/** A write to a merged page, as the writer could time it (the side channel). */
export interface CowObservation {
  readonly id: number;
  readonly step: number;
  readonly guest: number;
  readonly gfn: number;
  readonly node: number;
  /** Other guests that shared the page when the write copied it. */
  readonly otherGuests: readonly number[];
}

export interface KsmState {
  nextNode: number;
  readonly nodes: Map<number, StableNode>;
  readonly byHfn: Map<number, number>;
  /** The stable tree's index: content key -> node ids. */
  readonly byContent: Map<string, Set<number>>;
  /** Per guest: MADV_MERGEABLE ranges [start, end) of gfns, disjoint, sorted. */
  readonly mergeable: Map<number, [number, number][]>;
  /** ksmd's position: index into the flattened candidate list of one pass. */
  cursor: number;
  /** The unstable tree of the current pass: content key -> (guest, gfn). */
  readonly unstable: Map<string, number>;
  readonly cowFaults: Map<number, number>;
  nextObservation: number;
  readonly observations: Map<number, CowObservation>;
}

export const OBSERVATIONS_KEPT_MAX = 256;
const states = new WeakMap<World, KsmState>();

export function ksmState(w: World): KsmState {
  let s = states.get(w);
  if (!s) {
    s = { nextNode: 1, nodes: new Map(), byHfn: new Map(), byContent: new Map(), mergeable: new Map(), cursor: 0, unstable: new Map(), cowFaults: new Map(), nextObservation: 1, observations: new Map() };
    states.set(w, s);
  }
  return s;
}

export function sharerKey(guest: number, gfn: number): number {
  return guest * 2 ** 24 + gfn;
}

export function sharerOf(key: number): { guest: number; gfn: number } {
  return { guest: Math.floor(key / 2 ** 24), gfn: key % 2 ** 24 };
}

/** The stable node whose KSM page is hfn. */
export function nodeOfFrame(w: World, hfn: number): StableNode | undefined {
  const id = ksmState(w).byHfn.get(hfn);
  return id === undefined ? undefined : ksmState(w).nodes.get(id);
}

/** The stable node (g, gfn) shares, if its backing is a KSM page that lists it. */
export function nodeOfGfn(w: World, g: Guest, gfn: number): StableNode | undefined {
  const hfn = g.backing.get(gfn);
  if (hfn === undefined) return undefined;
  const n = nodeOfFrame(w, hfn);
  return n && n.sharers.has(sharerKey(g.id, gfn)) ? n : undefined;
}

export function isMergeable(w: World, guest: number, gfn: number): boolean {
  for (const [s, e] of ksmState(w).mergeable.get(guest) ?? []) if (gfn >= s && gfn < e) return true;
  return false;
}

/** Contents KSM compares: equal keys, equal bytes. Tables are never merged (null). */
function contentKey(c: Content): string | null {
  switch (c.kind) {
    case 'zero':
      return 'z';
    case 'poison':
      return `p${c.value}`;
    case 'data':
      return `d${c.writer}:${c.version}`;
    case 'table':
      return null;
  }
}

function touchNode(w: World, n: StableNode): void {
  w.journal.mark('ksm:node', n.id);
  w.journal.frame(n.hfn);
}

/**
 * MADV_MERGEABLE / MADV_UNMERGEABLE on [gfnStart, gfnEnd) of g's memory (mm/ksm.c
 * ksm_madvise). Unmerging breaks copy-on-write on every merged page of the range
 * (unmerge_ksm_pages) before the range stops being mergeable. For memctl's MERGEABLE and
 * UNMERGEABLE (function codes 13 and 14) too.
 */
export function ksmSetMergeable(w: World, g: Guest, gfnStart: number, gfnEnd: number, on: boolean): OpResult {
  const end = Math.min(gfnEnd, g.config.frames);
  if (gfnStart < 0 || gfnStart >= end) return refuse('out-of-range', `g${g.id}: empty range ${hex(gfnStart)}..${hex(gfnEnd)}`);
  const s = ksmState(w);
  if (!on) {
    // Hazard: the guest opts out; its merged pages must be unmerged, or it keeps sharing
    // frames (and the side channel) it said it does not want (unmerge_ksm_pages).
    if (!w.fault(FAULT_UNMERGEABLE_KEEPS_MERGED)) {
      for (const n of [...s.nodes.values()])
        for (const key of [...n.sharers]) {
          const x = sharerOf(key);
          if (x.guest === g.id && x.gfn >= gfnStart && x.gfn < end) {
            const r = breakCow(w, g, x.gfn, 'unmerge');
            if (r !== true) return r;
          }
        }
    }
  }
  const ranges = cut(s.mergeable.get(g.id) ?? [], gfnStart, end);
  if (on) ranges.push([gfnStart, end]);
  s.mergeable.set(g.id, merge(ranges));
  for (const n of s.nodes.values()) for (const key of n.sharers) if (sharerOf(key).guest === g.id) w.journal.mark('ksm:node', n.id);
  w.journal.mark('ksm:guest', g.id);
  w.transition('ksm', on ? 'unmergeable' : 'mergeable', on ? 'mergeable' : 'unmergeable');
  return ok();
}

/** What is left of each range outside [s, e): its part below s and its part above e. */
function cut(ranges: [number, number][], s: number, e: number): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of ranges) {
    if (a < s) out.push([a, Math.min(b, s)]);
    if (b > e) out.push([Math.max(a, e), b]);
  }
  return out;
}

function merge(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** Why (g, gfn) cannot be merged now, or null. */
function unmergeable(w: World, g: Guest, gfn: number): string | null {
  const hfn = g.backing.get(gfn);
  if (hfn === undefined) return 'not backed';
  if (g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))) return 'part of a 2 MiB unit';
  // (A backed gfn of guest memory that no stable node lists is backed by its own guest-memory
  // frame: ksmSetMergeable keeps the ranges inside RAM, and ownership-partition checks the rest.)
  if (compactionState(w).hostLocked.has(hfn)) return 'locked for migration';
  const r = g.pendingReclaim;
  if (r && gfn >= r.gfn && gfn < r.gfn + r.frames) return 'under reclaim';
  return null;
}

/**
 * replace_page for (g, gfn) onto the KSM page of n, inside write_protect_page's invalidation.
 * The caller has checked the contents are equal after write protection.
 */
function joinNode(w: World, g: Guest, gfn: number, n: StableNode): void {
  invalidateBegin(w, g, gfn, gfn + 1);
  const old = g.backing.get(gfn)!;
  g.setBacking(gfn, n.hfn);
  n.sharers.add(sharerKey(g.id, gfn));
  hostFree(w, old, 0);
  invalidateEnd(w, g);
  // Hazard: a merged page must be mapped read-only everywhere; mapping it writable (here
  // eagerly, with the VMA's protection) lets this guest write into the page others read.
  if (w.fault(FAULT_MERGE_LEAVES_WRITABLE)) g.ept.mapLeaf(w, gfn, n.hfn, 1, EPT_RWX);
  touchNode(w, n);
  w.transition('ksm', 'private', 'merged');
}

/** Turn (g, gfn)'s own frame into a KSM page: a new stable node with one sharer. */
function newNode(w: World, g: Guest, gfn: number, content: Content): StableNode {
  const s = ksmState(w);
  invalidateBegin(w, g, gfn, gfn + 1);
  const hfn = g.backing.get(gfn)!;
  const n: StableNode = { id: s.nextNode++, hfn, content: copyContent(content), sharers: new Set([sharerKey(g.id, gfn)]) };
  s.nodes.set(n.id, n);
  s.byHfn.set(hfn, n.id);
  const key = contentKey(n.content)!;
  (s.byContent.get(key) ?? s.byContent.set(key, new Set()).get(key)!).add(n.id);
  w.frames.setOwner(hfn, { kind: 'ksm', node: n.id }, { site: 'ksm', reason: 'stable node', step: w.step, order: 0 });
  w.journal.gfn(g.id, gfn);
  invalidateEnd(w, g);
  if (w.fault(FAULT_MERGE_LEAVES_WRITABLE)) g.ept.mapLeaf(w, gfn, hfn, 1, EPT_RWX);
  touchNode(w, n);
  w.transition('ksm', 'private', 'merged');
  return n;
}

function crossGuestAllowed(w: World): boolean {
  return w.option('ksm.cross-guest', true);
}

/** The candidate list of one pass: every mergeable gfn of every guest, in order. */
function candidates(w: World): { g: Guest; gfn: number }[] {
  const out: { g: Guest; gfn: number }[] = [];
  const s = ksmState(w);
  for (const g of w.guests) for (const [a, b] of s.mergeable.get(g.id) ?? []) for (let gfn = a; gfn < b; gfn++) if (g.backing.has(gfn)) out.push({ g, gfn });
  return out;
}

/** ksmd: examine up to `pages` mergeable pages from where the last pass stopped. */
export function ksmScan(w: World, pages: number): OpResult {
  const s = ksmState(w);
  const list = candidates(w);
  let merged = 0;
  for (let i = 0; i < Math.min(pages, list.length); i++) {
    if (s.cursor >= list.length) {
      // A pass ends: the unstable tree is rebuilt from scratch each pass (ksm_scan.seqnr).
      s.cursor = 0;
      s.unstable.clear();
    }
    const { g, gfn } = list[s.cursor++]!;
    if (nodeOfGfn(w, g, gfn) || unmergeable(w, g, gfn)) continue;
    const c = w.frames.read(g.backing.get(gfn)!);
    const key = contentKey(c);
    if (key === null) continue;
    const cross = crossGuestAllowed(w);
    // stable_tree_search: a KSM page with these contents (within the guest unless cross-guest merging is on).
    let joined = false;
    for (const id of s.byContent.get(key) ?? []) {
      const n = s.nodes.get(id)!;
      // Without cross-guest merging a node's sharers are all of one guest (and a node has one).
      if (!cross && sharerOf(n.sharers.values().next().value!).guest !== g.id) continue;
      joinNode(w, g, gfn, n);
      merged++;
      joined = true;
      break;
    }
    if (joined) continue;
    // unstable_tree_search_insert: an earlier page of this pass with the same contents.
    const ukey = cross ? key : `${g.id}|${key}`;
    const prev = s.unstable.get(ukey);
    if (prev !== undefined) {
      s.unstable.delete(ukey);
      const x = sharerOf(prev);
      const pg = w.guests[x.guest]!;
      // The earlier page may have left its MADV_MERGEABLE range since (find_mergeable_vma
      // fails on an unmerged VMA): it no longer merges.
      const still = isMergeable(w, pg.id, x.gfn) && !unmergeable(w, pg, x.gfn) && !nodeOfGfn(w, pg, x.gfn) && contentKey(w.frames.read(pg.backing.get(x.gfn)!)) === key && !(pg === g && x.gfn === gfn);
      if (still) {
        const n = newNode(w, pg, x.gfn, c);
        joinNode(w, g, gfn, n);
        merged += 2;
        continue;
      }
    }
    s.unstable.set(ukey, sharerKey(g.id, gfn));
  }
  return ok(merged);
}

/**
 * Copy-on-write of a merged page (do_wp_page -> wp_page_copy for a KSM page; also
 * unmerge_ksm_pages and a discard): (g, gfn) gets a private copy, the node loses a sharer and
 * the KSM page is freed with its last one. Inside an invalidation: the read-only EPT leaf is
 * zapped and the TLB flushed before the primary mapping changes.
 */
export function breakCow(w: World, g: Guest, gfn: number, why: 'write' | 'unmerge'): true | Refusal {
  const n = nodeOfGfn(w, g, gfn);
  if (!n) return refuse('no-such-mapping', `g${g.id} gfn ${hex(gfn)} is not merged`);
  if (why === 'write' && w.fault(FAULT_COW_WRITES_SHARED)) {
    // Hazard: the copy must be made and mapped before the write; making the KSM page itself
    // writable lands the write where every other sharer reads (the Dirty COW class, CVE-2016-5195).
    zapAndFlush(w, g, gfn, gfn + 1);
    g.ept.mapLeaf(w, gfn, n.hfn, 1, EPT_RWX);
    return true;
  }
  const others = [...n.sharers].map((k) => sharerOf(k).guest).filter((x) => x !== g.id);
  invalidateBegin(w, g, gfn, gfn + 1);
  const copy = hostAlloc(w, 0, 'MOVABLE', () => ({ kind: 'guest-memory', guest: g.id, gfn }), 'ksm', 'copy-on-write');
  if (typeof copy !== 'number') {
    invalidateEnd(w, g);
    return copy;
  }
  w.frames.write(copy, copyContent(w.frames.read(n.hfn)));
  g.setBacking(gfn, copy);
  n.sharers.delete(sharerKey(g.id, gfn));
  touchNode(w, n);
  if (n.sharers.size === 0) dropNode(w, n);
  invalidateEnd(w, g);
  w.transition('ksm', 'merged', 'private');
  if (why === 'write') {
    const s = ksmState(w);
    s.cowFaults.set(g.id, (s.cowFaults.get(g.id) ?? 0) + 1);
    const id = s.nextObservation++;
    s.observations.set(id, { id, step: w.step, guest: g.id, gfn, node: n.id, otherGuests: [...new Set(others)] });
    if (s.observations.size > OBSERVATIONS_KEPT_MAX) s.observations.delete(s.observations.keys().next().value as number);
    w.journal.mark('ksm:cow', id);
  }
  return true;
}

function dropNode(w: World, n: StableNode): void {
  const s = ksmState(w);
  s.nodes.delete(n.id);
  s.byHfn.delete(n.hfn);
  s.byContent.get(contentKey(n.content)!)?.delete(n.id);
  hostFree(w, n.hfn, 0);
  w.transition('ksm', 'merged', 'freed');
}

/**
 * The host drops (g, gfn)'s mapping of a KSM page without copying (a discard: virtio-mem
 * unplug, a balloon or reporting discard, VM teardown). The caller holds the invalidation (the
 * EPT leaf is zapped here as well) and removes nothing else. Returns whether gfn was merged.
 */
export function ksmDropSharer(w: World, g: Guest, gfn: number): boolean {
  const n = nodeOfGfn(w, g, gfn);
  if (!n) return false;
  zapAndFlush(w, g, gfn, gfn + 1);
  g.setBacking(gfn, undefined);
  n.sharers.delete(sharerKey(g.id, gfn));
  touchNode(w, n);
  if (n.sharers.size === 0) dropNode(w, n);
  return true;
}

/** VM teardown: every page this guest shares is let go first. */
export function ksmTeardown(w: World, g: Guest): void {
  for (const n of [...ksmState(w).nodes.values()])
    for (const key of [...n.sharers]) {
      const x = sharerOf(key);
      if (x.guest === g.id) ksmDropSharer(w, g, x.gfn);
    }
  ksmState(w).mergeable.delete(g.id);
}
