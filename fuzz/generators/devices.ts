/**
 * Generators for the reclamation devices (issue 3): virtio-balloon, balloon-compaction,
 * vmware-balloon, free-page-reporting, free-page-hinting, memctl. Each picks from the live
 * state (requests in flight, pages in the balloon, blocks being reported, hints the device
 * holds, the memctl region); when its own operation has nothing to act on it proposes the step
 * that moves its protocol forward instead (ack what is queued, release what is acked, fill
 * towards the target), so that runs reach the deep states of each protocol. Edges are biased in:
 * targets just past one request (257 pages), far away, zero, the whole guest; memctl requests
 * misaligned, past the end of guest memory, outside the region.
 */
import fc from 'fast-check';
import { FRAMES_PER_1G, FRAMES_PER_2M, MAX_PAGE_ORDER } from '../../model/constants';
import type { Guest } from '../../model/guest/guest';
import type { World } from '../../model/world';
import {
  balloonOf, deviceMayModify, driverBusy, FEATURES_OPTION, PRESENT_OPTION, towardsTarget, VIRTIO_BALLOON_ARRAY_PFNS_MAX,
  VIRTIO_BALLOON_F_PAGE_POISON, VIRTIO_BALLOON_FEATURES_ALL, type VirtioBalloon,
} from '../../model/balloon/virtio-balloon';
import { migrationsOf } from '../../model/balloon/balloon-compaction';
import { CAPS_OPTION, VMW_BALLOON_BASIC_CMDS, VMW_BALLOON_BATCHED_2M_CMDS, VMW_BALLOON_CAPABILITIES, vmwOf, type VmwBalloon } from '../../model/balloon/vmware-balloon';
import { ORDER_OPTION, reportingOf, type FreePageReporting } from '../../model/reporting/free-page-reporting';
import { hintingOf, VIRTIO_BALLOON_CMD_ID_DONE, type FreePageHinting } from '../../model/reporting/free-page-hinting';
import { ENABLED_OPTION, hostPageFrames, isHanded, MEMCTL_FUNCS, memctlOf, REGION_OPTION, type Memctl } from '../../model/memctl/memctl';
import { memslotEnd } from '../../model/host/ept-fault';
import { POISON_MODES, POISON_OPTION } from '../../model/devices/page-poison';
import type { Operation } from '../contract';
import { nthKey, pick, type Choice, type Gen } from './pick';

/** A guest for which `has` holds, starting from the one c names. */
function guestWith<T>(w: World, c: number, of: (g: Guest) => T | undefined | null, has: (d: T, g: Guest) => boolean = () => true): { g: Guest; d: T } | null {
  const n = w.guests.length;
  for (let i = 0; i < n; i++) {
    const g = w.guests[(c + i) % n]!;
    const d = of(g);
    if (d !== undefined && d !== null && has(d, g)) return { g, d };
  }
  return null;
}

function op(kind: string, args: Operation['args']): Operation {
  return { kind, args };
}

/** A target near the edges: zero, one request past, far away, the whole guest, a little off. */
function targetFor(g: Guest, current: number, c: Choice): number {
  switch (c[2] % 7) {
    case 0: return 0;
    case 1: return current + 1 + (c[3] % 64);
    case 2: return Math.max(0, current - 1 - (c[3] % 64));
    case 3: return current + VIRTIO_BALLOON_ARRAY_PFNS_MAX + 1 + (c[3] % 300);
    case 4: return g.config.frames / 4;
    case 5: return Math.max(0, current - VIRTIO_BALLOON_ARRAY_PFNS_MAX - 1);
    default: return c[3] % (g.config.frames / 2);
  }
}

// ---------------------------------------------------------------------------------------------
// virtio-balloon

/**
 * The step that moves this guest's balloon protocol forward. The same virtio device serves
 * free_page_vq (hinting) and reporting_vq: a third of the time a step it has pending there goes
 * first, so that those protocols, with few operation kinds of their own, get through a round.
 */
function vbProgress(w: World, g: Guest, vb: VirtioBalloon, c: Choice): Operation {
  if (c[3] % 3 === 1) {
    const f = reportingOf(g);
    const r = f && fprPending(w, g, f, c);
    if (r) return r;
    const h = hintingOf(g);
    const q = h && fphRound(g, h, c);
    if (q) return q;
  }
  const unacked = vb.requests.find((r) => !r.acked);
  if (unacked && c[3] % 4 !== 0) return op('vballoon.ack', { guest: g.id, queue: unacked.queue, discard: c[2] % 3 !== 0 });
  const rel = vb.requests.find((r) => r.queue === 'deflate' && !r.released && !r.migration && (r.acked || c[2] % 2 === 0));
  if (rel && c[3] % 5 !== 0) return op('vballoon.release', { guest: g.id });
  const diff = towardsTarget(vb);
  if (!driverBusy(vb) && diff > 0 && c[2] % 5 !== 0) return op('vballoon.fill', { guest: g.id });
  if ((!driverBusy(vb) || c[3] % 3 === 0) && diff < 0 && c[2] % 5 !== 0) return op('vballoon.leak', { guest: g.id });
  if (unacked) return op('vballoon.ack', { guest: g.id, queue: unacked.queue, discard: c[2] % 3 !== 0 });
  return op('vballoon.host.target', { guest: g.id, pages: targetFor(g, vb.count, c) });
}

function vb(w: World, c: Choice): { g: Guest; d: VirtioBalloon } | null {
  return guestWith(w, c[1], balloonOf);
}

function vbGen(own: (g: Guest, d: VirtioBalloon, c: Choice) => Operation | null): Gen {
  return (w, c) => {
    const x = vb(w, c);
    return x ? own(x.g, x.d, c) ?? vbProgress(w, x.g, x.d, c) : null;
  };
}

const virtioBalloon: Record<string, Gen> = {
  'vballoon.host.target': vbGen((g, d, c) => op('vballoon.host.target', { guest: g.id, pages: targetFor(g, d.count, c) })),
  'vballoon.fill': vbGen((g, d) => (!driverBusy(d) && towardsTarget(d) > 0 ? op('vballoon.fill', { guest: g.id }) : null)),
  'vballoon.leak': vbGen((g, d, c) => (towardsTarget(d) < 0 && (!driverBusy(d) || c[3] % 2 === 0) ? op('vballoon.leak', { guest: g.id }) : null)),
  'vballoon.ack': vbGen((g, d, c) => {
    const r = d.requests.find((x) => !x.acked && (c[3] % 2 === 0 || x.queue === 'deflate'));
    return r ? op('vballoon.ack', { guest: g.id, queue: r.queue, discard: c[2] % 3 !== 0 }) : null;
  }),
  'vballoon.discard': vbGen((g, d, c) => {
    const may = [...d.pages.keys()].filter((gfn) => deviceMayModify(d, gfn));
    const gfn = pick(may, c[2]);
    return gfn === undefined ? null : op('vballoon.discard', { guest: g.id, gfn });
  }),
  'vballoon.release': vbGen((g, d) => (d.requests.some((r) => r.queue === 'deflate' && !r.released && !r.migration) ? op('vballoon.release', { guest: g.id }) : null)),
  'vballoon.update': vbGen((g) => op('vballoon.update', { guest: g.id })),
  'vballoon.oom': vbGen((g, d) => (d.count > 0 ? op('vballoon.oom', { guest: g.id }) : null)),
  'vballoon.stats.request': vbGen((g, d) => (d.stats && !d.stats.used ? op('vballoon.stats.request', { guest: g.id }) : null)),
  'vballoon.stats.update': vbGen((g, d) => (d.stats?.used ? op('vballoon.stats.update', { guest: g.id }) : d.stats ? op('vballoon.stats.request', { guest: g.id }) : null)),
};

// ---------------------------------------------------------------------------------------------
// balloon-compaction

const balloonCompaction: Record<string, Gen> = {
  'bcomp.isolate': vbGen((g, d, c) => {
    const gfn = pick(d.list.filter((x) => d.pages.get(x) === 'ballooned' && !d.isolated.has(x)), c[2]);
    return gfn === undefined ? null : op('bcomp.isolate', { guest: g.id, gfn });
  }),
  'bcomp.putback': vbGen((g, d, c) => {
    const gfn = nthKey(new Map([...d.isolated].map((x) => [x, 0])), c[2]);
    return gfn === undefined ? null : op('bcomp.putback', { guest: g.id, gfn });
  }),
  'bcomp.migrate': vbGen((g, d, c) => {
    const gfn = pick([...d.isolated], c[2]);
    return gfn === undefined ? null : op('bcomp.migrate', { guest: g.id, gfn });
  }),
  'bcomp.finish': vbGen((g, _d, c) => {
    const m = pick(migrationsOf(g), c[2]);
    return m ? op('bcomp.finish', { guest: g.id, gfn: m.old }) : null;
  }),
};

// ---------------------------------------------------------------------------------------------
// vmware-balloon

function vmwProgress(g: Guest, b: VmwBalloon, c: Choice): Operation {
  if (b.batch.length > 0) return op('vmw.lock', { guest: g.id, refuse: c[2] % 3 === 0 ? c[3] >>> 0 : c[2] % 7 === 1 ? 0xffffffff : 0 });
  if (b.size < b.target && c[2] % 4 !== 0) return op('vmw.inflate', { guest: g.id, small: c[3] % 4 === 0 });
  if (b.size > b.target && c[2] % 4 !== 0) return op('vmw.deflate', { guest: g.id });
  return op('vmw.host.target', { guest: g.id, pages: c[2] % 3 === 0 ? FRAMES_PER_2M + (c[3] % 700) : targetFor(g, b.size, c) });
}

function vmwGen(own: (g: Guest, b: VmwBalloon, c: Choice) => Operation | null): Gen {
  return (w, c) => {
    const x = guestWith(w, c[1], vmwOf);
    return x ? own(x.g, x.d, c) ?? vmwProgress(x.g, x.d, c) : null;
  };
}

const vmwareBalloon: Record<string, Gen> = {
  'vmw.host.target': vmwGen((g, b, c) => op('vmw.host.target', { guest: g.id, pages: c[2] % 3 === 0 ? FRAMES_PER_2M + (c[3] % 700) : targetFor(g, b.size, c) })),
  'vmw.inflate': vmwGen((g, b, c) => (b.batch.length === 0 && b.size < b.target ? op('vmw.inflate', { guest: g.id, small: c[3] % 4 === 0 }) : null)),
  'vmw.lock': vmwGen(() => null),
  'vmw.deflate': vmwGen((g, b) => (b.size > b.target ? op('vmw.deflate', { guest: g.id }) : null)),
  'vmw.host.discard': vmwGen((g, b, c) => {
    const p = pick(b.pages, c[2]);
    return p ? op('vmw.host.discard', { guest: g.id, gfn: p.head }) : null;
  }),
};

// ---------------------------------------------------------------------------------------------
// free-page-reporting

/** The step the reporting protocol has pending: the device's ack, or the work (due, or mid-pass). */
function fprPending(w: World, g: Guest, f: FreePageReporting, c: Choice): Operation | null {
  if (f.inFlight && !f.inFlight.acked) return op('fpr.device.report', { guest: g.id, discard: c[2] % 4 !== 0 });
  if (f.inFlight || f.cursor || (f.scheduled && w.step >= f.dueAt)) return op('fpr.work', { guest: g.id });
  return null;
}

/**
 * Nothing pending: feed reporting. Free a kernel block of at least the reporting order (such a
 * free requests a pass, and with page poisoning its pages carry the poison the guest checks), or
 * allocate from a block already Reported (the guest's next use of reported memory: where a
 * discard the guest was not promised shows), or allocate a block to free later.
 */
function fprFeed(g: Guest, f: FreePageReporting, c: Choice): Operation {
  const big = [...g.kernelAllocs].filter(([, a]) => a.order >= f.order);
  if (big.length > 0 && c[2] % 3 !== 2) return op('guest.kfree', { guest: g.id, alloc: pick(big, c[3])![0] });
  if (c[2] % 3 !== 0)
    for (let o = MAX_PAGE_ORDER; o >= f.order; o--)
      if (g.buddy.freeListBlocks(o, 'MOVABLE').some((pfn) => g.buddy.isReported(pfn))) return op('guest.kalloc', { guest: g.id, order: o, mt: 'MOVABLE' });
  return op('guest.kalloc', { guest: g.id, order: f.order + (c[3] % (MAX_PAGE_ORDER + 1 - f.order)), mt: 'MOVABLE' });
}

function fprGen(w: World, c: Choice): Operation | null {
  const x = guestWith(w, c[1], reportingOf);
  return x ? fprPending(w, x.g, x.d, c) ?? fprFeed(x.g, x.d, c) : null;
}

const freePageReporting: Record<string, Gen> = {
  'fpr.work': fprGen,
  'fpr.device.report': fprGen,
};

// ---------------------------------------------------------------------------------------------
// free-page-hinting

/**
 * The next step of a hinting round, in the order a round runs: the host's new id, the driver's
 * output buffer, its hints, the device taking the buffers; then, with hints held, the host's
 * STOP or DONE or the device skipping a hinted block; after DONE the driver's release. Null when
 * no round is under way (the host starts one).
 */
function fphRound(g: Guest, h: FreePageHinting, c: Choice): Operation | null {
  if (h.cmdId >= 2 && h.cmdId !== h.active) return op('fph.driver.config', { guest: g.id });
  if (h.vq.length > 0 && (c[2] % 3 === 0 || h.stopped || h.blocks.size >= 1 + (c[3] % 3))) return op('fph.device.process', { guest: g.id });
  if (!h.stopped && h.active >= 2 && h.cmdId === h.active && c[2] % 4 !== 0) return op('fph.driver.hint', { guest: g.id });
  if (h.vq.length > 0) return op('fph.device.process', { guest: g.id });
  const head = nthKey(h.deviceHints, c[3]);
  // Hints still held after DONE: a device that kept them must not touch the pages now.
  if (head !== undefined && h.cmdId === VIRTIO_BALLOON_CMD_ID_DONE && c[2] % 5 !== 0) return op('fph.device.discard', { guest: g.id, gfn: head });
  if (head !== undefined) {
    // Hints held: the device may skip them (before DONE), or the host ends the round.
    switch (c[2] % 5) {
      case 0: case 1: return op('fph.device.discard', { guest: g.id, gfn: head });
      case 2: return op('fph.host.stop', { guest: g.id });
      default: if (h.cmdId !== VIRTIO_BALLOON_CMD_ID_DONE) return op('fph.host.done', { guest: g.id });
    }
  }
  if (h.cmdId === VIRTIO_BALLOON_CMD_ID_DONE && h.blocks.size > 0) return op('fph.driver.config', { guest: g.id });
  if (h.cmdId >= 2 && h.blocks.size > 0) return op(c[2] % 2 === 0 ? 'fph.host.done' : 'fph.host.stop', { guest: g.id });
  return null;
}

function fphProgress(w: World, c: Choice): Operation | null {
  const x = guestWith(w, c[1], hintingOf);
  if (!x) return null;
  const { g, d: h } = x;
  const next = fphRound(g, h, c);
  if (next) return next;
  switch (c[3] % 6) {
    case 0: return op('fph.host.done', { guest: g.id });
    case 1: return op('fph.host.stop', { guest: g.id });
    default: return op('fph.host.start', { guest: g.id });
  }
}

function fphGen(own: (g: Guest, c: Choice) => Operation | null): Gen {
  return (w, c) => {
    const x = guestWith(w, c[1], hintingOf);
    return x ? own(x.g, c) ?? fphProgress(w, c) : null;
  };
}

/** The host's own commands mostly when they change something: a start between rounds, STOP or DONE during one. */
const duringRound = (g: Guest): boolean => {
  const h = hintingOf(g)!;
  return h.cmdId >= 2 || h.deviceHints.size > 0;
};

const freePageHinting: Record<string, Gen> = {
  'fph.host.start': fphGen((g, c) => (!duringRound(g) || c[2] % 4 === 0 ? op('fph.host.start', { guest: g.id }) : null)),
  'fph.host.stop': fphGen((g, c) => (duringRound(g) && c[2] % 2 === 0 ? op('fph.host.stop', { guest: g.id }) : null)),
  'fph.host.done': fphGen((g, c) => (duringRound(g) && c[2] % 2 === 0 ? op('fph.host.done', { guest: g.id }) : null)),
  'fph.driver.config': fphGen(() => null),
  'fph.driver.hint': fphGen(() => null),
  'fph.driver.release': fphGen((g, c) => ((hintingOf(g)?.blocks.size ?? 0) > 0 && c[2] % 3 === 0 ? op('fph.driver.release', { guest: g.id, blocks: 1 + (c[3] % 2) }) : null)),
  'fph.device.process': fphGen(() => null),
  'fph.device.discard': fphGen((g, c) => {
    const head = nthKey(hintingOf(g)!.deviceHints, c[2]);
    return head === undefined ? null : op('fph.device.discard', { guest: g.id, gfn: head });
  }),
};

// ---------------------------------------------------------------------------------------------
// memctl

/**
 * The frames requests and accesses aim at: the whole 4 MiB region, or, in the 1 GiB one, its
 * first 4 MiB (and, below, its last host page): a request over the whole gigabyte would log
 * 262,144 discards a step.
 */
function working(m: Memctl): number {
  return m.mode === 'giga' ? 2 * FRAMES_PER_2M : m.region.frames;
}

const memctl: Record<string, Gen> = {
  'memctl.request': (w, c) => {
    const x = guestWith(w, c[1], memctlOf);
    if (!x) return null;
    const { g, d: m } = x;
    const hp = hostPageFrames(g);
    const span = working(m);
    const units = span / hp;
    // Half the requests use the functions with effects on frames, the rest any function.
    const func = c[1] % 2 === 0 ? pick(['DONTNEED', 'REMOVE', 'MLOCK', 'PAGEOUT', 'FREE', 'MUNLOCK'] as const, c[3] >> 3)! : pick(MEMCTL_FUNCS, c[3] >> 3)!;
    let gfn = m.region.gfn + hp * (c[3] % units);
    let pages = hp * (1 + ((c[3] >> 4) % Math.max(1, Math.min(4, units - (gfn - m.region.gfn) / hp))));
    switch (c[2] % 6) {
      case 0: pages = span + hp * (1 + (c[3] % 4)); gfn = memslotEnd(g, m.region.gfn) - hp; break; // past the end of the caller's memslot
      case 1: gfn += 1; break; // misaligned
      case 2: gfn = m.region.gfn; pages = span; break; // the whole region (1 GiB: its working part)
      case 3: if (m.mode === 'giga') { gfn = m.region.gfn + m.region.frames - hp; pages = hp; } else { gfn = m.region.gfn; pages = span; } break; // the last host page
      default: break;
    }
    if (func === 'PAGEOUT' && m.mlocked.size > 0 && c[3] % 2 === 0) {
      // Page out what is locked: the host must leave it resident.
      const x = m.mlocked.values().next().value!;
      gfn = x - (x % hp);
      pages = hp;
    }
    if (func === 'FREE' && c[3] % 2 === 0) {
      // MADV_FREE matters on memory in use: a page touched since it was handed over.
      for (let x = m.region.gfn; x < m.region.gfn + span; x += hp)
        if (!isHanded(m, x)) {
          gfn = x;
          pages = hp;
          break;
        }
    }
    return op('memctl.request', { guest: g.id, func, gfn, pages });
  },
  'memctl.read': (w, c) => memctlAccess(w, c, 'memctl.read'),
  'memctl.write': (w, c) => memctlAccess(w, c, 'memctl.write'),
  'memctl.host.reclaim': (w, c) => {
    const x = guestWith(w, c[1], memctlOf, (m) => m.lazy.size > 0);
    return x ? op('memctl.host.reclaim', { guest: x.g.id }) : memctlAccess(w, c, 'memctl.read');
  },
  // A process maps the 1 GiB region at 1 GiB or 2 GiB (process accesses then reach it through
  // the core's guest.read/guest.write, which pick pages of every VMA).
  'memctl.mmap': (w, c) => {
    const x = guestWith(w, c[1], memctlOf, (m) => m.mode === 'giga');
    const p = x && pick([...x.g.processes.values()], c[2]);
    if (!x || !p) return memctlAccess(w, c, 'memctl.write');
    return op('memctl.mmap', { guest: x.g.id, pid: p.pid, vpn: FRAMES_PER_1G * (1 + (c[3] % 2)), write: c[3] % 5 !== 4 });
  },
};

function memctlAccess(w: World, c: Choice, kind: string): Operation | null {
  const x = guestWith(w, c[1], memctlOf);
  if (!x) return null;
  const m = x.d;
  let handed = nthKey(m.handed, c[3]);
  if (c[2] % 4 === 0) for (const k of m.handed.keys()) handed = k; // the most recently handed
  const gfn = handed !== undefined && c[2] % 2 === 0 ? handed : c[2] % 5 === 1 ? m.region.gfn + m.region.frames - 1 : m.region.gfn + (c[3] % working(m));
  return op(kind, { guest: x.g.id, gfn });
}

export const deviceGenerators: Record<string, Gen> = {
  ...virtioBalloon,
  ...balloonCompaction,
  ...vmwareBalloon,
  ...freePageReporting,
  ...freePageHinting,
  ...memctl,
};

/** Swarm options of the device mechanisms. */
export const deviceOptionArbs: Record<string, fc.Arbitrary<number | boolean | string>> = {
  [PRESENT_OPTION]: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  // All six; a host without PAGE_POISON support offering reporting (fb69c2c896fc's case); any.
  [FEATURES_OPTION]: fc.oneof(
    { weight: 2, arbitrary: fc.constant(VIRTIO_BALLOON_FEATURES_ALL) },
    { weight: 2, arbitrary: fc.constant(VIRTIO_BALLOON_FEATURES_ALL & ~(1 << VIRTIO_BALLOON_F_PAGE_POISON)) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: VIRTIO_BALLOON_FEATURES_ALL }) },
  ),
  // Poisoning backs every freed page (as in a real guest): page_poisoning in a third of the
  // runs, init_on_free in a sixth.
  [POISON_OPTION]: fc.oneof({ weight: 3, arbitrary: fc.constant(POISON_MODES[0]!) }, { weight: 2, arbitrary: fc.constant(POISON_MODES[1]!) }, { weight: 1, arbitrary: fc.constant(POISON_MODES[2]!) }),
  [ORDER_OPTION]: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(5, 6) }, { weight: 1, arbitrary: fc.constantFrom(7, 8, 9) }),
  // None (no VMware balloon); everything; 2 MiB without batching (the vmw_balloon fix's case); any.
  [CAPS_OPTION]: fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.constant(VMW_BALLOON_CAPABILITIES) },
    { weight: 1, arbitrary: fc.constant(VMW_BALLOON_BASIC_CMDS | VMW_BALLOON_BATCHED_2M_CMDS) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 63 }) },
  ),
  [ENABLED_OPTION]: fc.boolean(),
  [REGION_OPTION]: fc.constantFrom('ram', 'giga'),
};
