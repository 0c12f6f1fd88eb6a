/**
 * State-following generation: each step draws a few natural numbers (fast-check shrinks them
 * towards 0) and turns them into an operation chosen from what exists now: existing
 * processes, VMAs, mapped pages, backed frames, allocations in flight. Edge values are biased
 * in on purpose: first and last page of a VMA, the last page of a 2 MiB unit, the page just
 * past a VMA, order 0 and MAX_PAGE_ORDER, the 33-page TLB flush ceiling.
 */
import { FRAMES_PER_2M, MAX_PAGE_ORDER, PAGEBLOCK_FRAMES } from '../model/constants';
import type { Guest } from '../model/guest/guest';
import type { Process, Vma } from '../model/guest/process';
import type { World } from '../model/world';
import type { Operation } from './contract';

export type Choice = readonly [number, number, number, number];

function pick<T>(xs: readonly T[], c: number): T | undefined {
  return xs.length === 0 ? undefined : xs[c % xs.length];
}

function nthKey<K>(m: Map<K, unknown>, c: number): K | undefined {
  if (m.size === 0) return undefined;
  let i = c % m.size;
  for (const k of m.keys()) if (i-- === 0) return k;
  return undefined;
}

function guestOf(w: World, c: number): Guest {
  return w.guests[c % w.guests.length]!;
}

function procOf(w: World, c: number): { g: Guest; p: Process } | undefined {
  const all: { g: Guest; p: Process }[] = [];
  for (const g of w.guests) for (const p of g.processes.values()) all.push({ g, p });
  return pick(all, c);
}

/** A page in or next to a VMA, edges first. */
function vpnIn(v: Vma, c: number): number {
  const len = v.end - v.start;
  switch (c % 8) {
    case 0: return v.start;
    case 1: return v.end - 1;
    case 2: return v.start + Math.min(len - 1, FRAMES_PER_2M - 1);
    case 3: return v.end; // just past the VMA: must fault
    default: return v.start + (Math.floor(c / 8) % len);
  }
}

function pagesFor(c: number): number {
  switch (c % 6) {
    case 0: return 1;
    case 1: return 33; // tlb_single_page_flush_ceiling
    case 2: return 34;
    default: return 1 + (Math.floor(c / 6) % 64);
  }
}

type Gen = (w: World, c: Choice) => Operation | null;

const gens: Record<string, Gen> = {
  'guest.spawn': (w, c) => ({ kind: 'guest.spawn', args: { guest: guestOf(w, c[1]).id } }),
  'guest.exit': (w, c) => {
    const x = procOf(w, c[1]);
    return x ? { kind: 'guest.exit', args: { guest: x.g.id, pid: x.p.pid } } : null;
  },
  'guest.mmap': (w, c) => {
    const x = procOf(w, c[1]);
    if (!x) return null;
    const huge = x.g.config.hugePages && c[2] % 3 === 0;
    const slot = 1 + (c[3] % 48);
    const vpn = slot * FRAMES_PER_2M * 2 + (huge ? 0 : Math.floor(c[3] / 48) % 3 === 0 ? 0 : 1);
    const pages = huge ? FRAMES_PER_2M * (1 + (c[2] % 2)) : pagesFor(c[2] >> 1);
    return { kind: 'guest.mmap', args: { guest: x.g.id, pid: x.p.pid, vpn, pages, write: c[2] % 5 !== 1, exec: c[2] % 7 === 0, huge } };
  },
  'guest.munmap': (w, c) => {
    const x = procOf(w, c[1]);
    const v = x && pick(x.p.vmas, c[2]);
    if (!x || !v) return null;
    if (v.huge || c[3] % 3 === 0) return { kind: 'guest.munmap', args: { guest: x.g.id, pid: x.p.pid, vpn: v.start, pages: v.end - v.start } };
    const start = vpnIn(v, c[3]);
    return { kind: 'guest.munmap', args: { guest: x.g.id, pid: x.p.pid, vpn: Math.min(start, v.end - 1), pages: 1 + (c[3] % Math.max(1, v.end - start)) } };
  },
  'guest.mprotect': (w, c) => {
    const x = procOf(w, c[1]);
    const v = x && pick(x.p.vmas, c[2]);
    if (!x || !v) return null;
    const whole = v.huge || c[3] % 2 === 0;
    const start = whole ? v.start : Math.min(vpnIn(v, c[3]), v.end - 1);
    const pages = whole ? v.end - v.start : 1;
    return { kind: 'guest.mprotect', args: { guest: x.g.id, pid: x.p.pid, vpn: start, pages, write: c[2] % 2 === 0, exec: c[2] % 5 === 0 } };
  },
  'guest.read': (w, c) => access(w, c, 'guest.read'),
  'guest.write': (w, c) => access(w, c, 'guest.write'),
  'guest.kalloc': (w, c) => ({ kind: 'guest.kalloc', args: { guest: guestOf(w, c[1]).id, order: orderFor(c[2]), mt: pick(['UNMOVABLE', 'MOVABLE', 'RECLAIMABLE'], c[3])! } }),
  'guest.kfree': (w, c) => kernelAlloc(w, c, 'guest.kfree'),
  'guest.kwrite': (w, c) => kernelAlloc(w, c, 'guest.kwrite'),
  'guest.kread': (w, c) => kernelAlloc(w, c, 'guest.kread'),
  'guest.isolate': (w, c) => ({ kind: 'guest.isolate', args: { guest: guestOf(w, c[1]).id, pageblock: pageblockOf(guestOf(w, c[1]).config.frames, c[2]) } }),
  'guest.unisolate': (w, c) => ({ kind: 'guest.unisolate', args: { guest: guestOf(w, c[1]).id, pageblock: pageblockOf(guestOf(w, c[1]).config.frames, c[2]) } }),
  'host.kalloc': (_w, c) => ({ kind: 'host.kalloc', args: { order: orderFor(c[2]), mt: pick(['UNMOVABLE', 'MOVABLE', 'RECLAIMABLE'], c[3])! } }),
  'host.kfree': (w, c) => {
    const id = nthKey(w.hostAllocs, c[1]);
    return id === undefined ? null : { kind: 'host.kfree', args: { alloc: id } };
  },
  'host.isolate': (w, c) => ({ kind: 'host.isolate', args: { pageblock: pageblockOf(w.config.hostFrames, c[2]) } }),
  'host.unisolate': (w, c) => ({ kind: 'host.unisolate', args: { pageblock: pageblockOf(w.config.hostFrames, c[2]) } }),
  'host.reclaim.begin': (w, c) => backedGfn(w, c, 'host.reclaim.begin'),
  'host.reclaim.end': (w, c) => {
    const g = w.guests.find((x, i) => x.pendingReclaim && i >= c[1] % w.guests.length) ?? w.guests.find((x) => x.pendingReclaim);
    return g ? { kind: 'host.reclaim.end', args: { guest: g.id } } : null;
  },
  'host.migrate': (w, c) => backedGfn(w, c, 'host.migrate'),
  'host.fault.begin': (w, c) => {
    const g = guestOf(w, c[1]);
    const swapped = nthKey(g.hostSwap, c[2]);
    const gfn = g.pendingReclaim && c[3] % 2 === 0 ? g.pendingReclaim.gfn : swapped !== undefined && c[3] % 3 !== 0 ? swapped : c[2] % g.config.frames;
    return { kind: 'host.fault.begin', args: { guest: g.id, gfn } };
  },
  'host.fault.finish': (w) => {
    const g = w.guests.find((x) => x.pendingFault);
    return g ? { kind: 'host.fault.finish', args: { guest: g.id } } : null;
  },
  'tlb.invlpg': (w, c) => {
    const x = procOf(w, c[1]);
    const v = x && pick(x.p.vmas, c[2]);
    return x && v ? { kind: 'tlb.invlpg', args: { guest: x.g.id, pid: x.p.pid, vpn: vpnIn(v, c[3]) } } : null;
  },
  'tlb.invept': (w, c) => ({ kind: 'tlb.invept', args: { guest: guestOf(w, c[1]).id, global: c[2] % 4 === 0 } }),
  'tlb.invvpid': (w, c) => ({ kind: 'tlb.invvpid', args: { guest: guestOf(w, c[1]).id } }),
};

function orderFor(c: number): number {
  switch (c % 8) {
    case 0: return MAX_PAGE_ORDER;
    case 1: return 9;
    case 2: return 3;
    default: return c % 3 === 0 ? 1 : 0;
  }
}

function pageblockOf(frames: number, c: number): number {
  const n = frames / PAGEBLOCK_FRAMES;
  return c % 4 === 0 ? n - 1 : c % n;
}

function access(w: World, c: Choice, kind: 'guest.read' | 'guest.write'): Operation | null {
  const x = procOf(w, c[1]);
  const v = x && pick(x.p.vmas, c[2]);
  if (!x || !v) return null;
  return { kind, args: { guest: x.g.id, pid: x.p.pid, vpn: vpnIn(v, c[3]) } };
}

function kernelAlloc(w: World, c: Choice, kind: string): Operation | null {
  const g = guestOf(w, c[1]);
  const id = nthKey(g.kernelAllocs, c[2]);
  return id === undefined ? null : { kind, args: { guest: g.id, alloc: id } };
}

function backedGfn(w: World, c: Choice, kind: string): Operation | null {
  const g = guestOf(w, c[1]);
  const gfn = nthKey(g.backing, c[2]);
  return gfn === undefined ? null : { kind, args: { guest: g.id, gfn } };
}

/** Cumulative weights for drawing a kind. */
export class KindTable {
  private readonly kinds: string[] = [];
  private readonly cumulative: number[] = [];
  readonly total: number;

  constructor(weights: Readonly<Record<string, number>>) {
    let sum = 0;
    for (const [k, wgt] of Object.entries(weights)) {
      if (wgt <= 0 || !gens[k]) continue;
      sum += wgt;
      this.kinds.push(k);
      this.cumulative.push(sum);
    }
    this.total = sum;
  }

  draw(c: number): string {
    const x = c % this.total;
    for (let i = 0; i < this.cumulative.length; i++) if (x < this.cumulative[i]!) return this.kinds[i]!;
    return this.kinds[this.kinds.length - 1]!;
  }
}

/**
 * The operation for one step: the drawn kind; when that kind has nothing to act on, the step
 * builds what it lacked: a mapping for a process without one, else a process.
 */
export function generate(w: World, table: KindTable, c: Choice): Operation {
  const kind = table.draw(c[0]);
  return gens[kind]!(w, c) ?? gens['guest.mmap']!(w, c) ?? gens['guest.spawn']!(w, c)!;
}

export function generatorKinds(): string[] {
  return Object.keys(gens);
}
