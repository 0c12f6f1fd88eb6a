/**
 * Generators for the core operations (model/ops/core.ts).
 */
import { FRAMES_PER_2M, MAX_PAGE_ORDER, PAGEBLOCK_FRAMES } from '../../model/constants';
import type { World } from '../../model/world';
import type { Operation } from '../contract';
import { guestOf, nthKey, pagesFor, pick, procOf, vpnIn, type Choice, type Gen } from './pick';

/** Processes per guest past which spawns are mostly declined (1 in 8 still goes through). */
const PROCESSES_PER_GUEST_MAX = 3;

export const coreGenerators: Record<string, Gen> = {
  // A few processes per guest: more would spread the other operations too thin to interact.
  'guest.spawn': (w, c) => {
    const g = guestOf(w, c[1]);
    return g.processes.size >= PROCESSES_PER_GUEST_MAX && c[2] % 8 !== 0 ? null : { kind: 'guest.spawn', args: { guest: g.id } };
  },
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

