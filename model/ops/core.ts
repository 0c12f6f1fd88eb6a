/**
 * The core operations: guest processes (spawn, exit, mmap, munmap, mprotect, read, write),
 * the guest kernel's allocator, the host's reclaim and migration of guest memory, the host's
 * allocator, split EPT faults (to race invalidations), and TLB invalidations.
 */
import { MAX_PAGE_ORDER, PAGEBLOCK_FRAMES } from '../constants';
import type { MigrateType } from '../buddy/migratetype';
import { exit, kalloc, kfree, kwrite, mmap, mprotect, munmap, spawn } from '../guest/kernel';
import { physRead } from '../guest/phys';
import type { Guest } from '../guest/guest';
import { access } from '../mmu/access';
import { installResolved, resolveBacking } from '../host/ept-fault';
import { hostAlloc, hostFree } from '../host/alloc';
import { migrate, reclaimBegin, reclaimEnd } from '../host/reclaim';
import { isRefusal, ok, refuse, type OpResult } from '../result';
import { bool, FRAME_MAX, int, oneOf, PAGES_MAX, VPN_MAX, type OperationDef } from './operation';
import { hex } from '../../properties/violation';
import { GUEST, PID, guestOf, procOf } from './lookup';

function gfnIn(g: Guest, gfn: number): OpResult | null {
  return gfn < g.config.frames ? null : refuse('out-of-range', `g${g.id} gfn ${hex(gfn)} beyond ${hex(g.config.frames)}`);
}

const MT = oneOf('UNMOVABLE', 'MOVABLE', 'RECLAIMABLE');

export const coreOperations: readonly OperationDef[] = [
  {
    name: 'guest.spawn', mechanism: 'nested-mmu', args: { guest: GUEST },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : spawn(w, g); },
  },
  {
    name: 'guest.exit', mechanism: 'nested-mmu', args: { guest: GUEST, pid: PID },
    apply: (w, a) => { const r = procOf(w, a); return 'ok' in r ? r : exit(w, r.g, r.p); },
  },
  {
    name: 'guest.mmap', mechanism: 'nested-mmu',
    args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX), pages: int(1, PAGES_MAX), write: bool, exec: bool, huge: bool },
    apply: (w, a) => {
      const r = procOf(w, a);
      if ('ok' in r) return r;
      const end = (a.vpn as number) + (a.pages as number);
      if (end > 2 ** (9 * r.g.config.guestLevels - 1)) return refuse('out-of-range', `va beyond the user half of a ${r.g.config.guestLevels}-level space`);
      return mmap(w, r.g, r.p, a.vpn as number, a.pages as number, { write: a.write as boolean, exec: a.exec as boolean }, a.huge as boolean);
    },
  },
  {
    name: 'guest.munmap', mechanism: 'nested-mmu', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX), pages: int(1, PAGES_MAX) },
    apply: (w, a) => { const r = procOf(w, a); return 'ok' in r ? r : munmap(w, r.g, r.p, a.vpn as number, a.pages as number); },
  },
  {
    name: 'guest.mprotect', mechanism: 'nested-mmu',
    args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX), pages: int(1, PAGES_MAX), write: bool, exec: bool },
    apply: (w, a) => {
      const r = procOf(w, a);
      return 'ok' in r ? r : mprotect(w, r.g, r.p, a.vpn as number, a.pages as number, { write: a.write as boolean, exec: a.exec as boolean });
    },
  },
  {
    name: 'guest.read', mechanism: 'nested-mmu', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX) },
    apply: (w, a) => {
      const r = procOf(w, a);
      if ('ok' in r) return r;
      const x = access(w, r.g, r.p, a.vpn as number, 'read');
      return x.ok ? ok() : x;
    },
  },
  {
    name: 'guest.write', mechanism: 'nested-mmu', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX) },
    apply: (w, a) => {
      const r = procOf(w, a);
      if ('ok' in r) return r;
      const x = access(w, r.g, r.p, a.vpn as number, 'write');
      return x.ok ? ok(x.version) : x;
    },
  },
  {
    name: 'guest.kalloc', mechanism: 'buddy', args: { guest: GUEST, order: int(0, MAX_PAGE_ORDER), mt: MT },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : kalloc(w, g, a.order as number, a.mt as MigrateType); },
  },
  {
    name: 'guest.kfree', mechanism: 'buddy', args: { guest: GUEST, alloc: int(1, 2 ** 30) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : kfree(w, g, a.alloc as number); },
  },
  {
    name: 'guest.kwrite', mechanism: 'buddy', args: { guest: GUEST, alloc: int(1, 2 ** 30) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : kwrite(w, g, a.alloc as number); },
  },
  {
    name: 'guest.kread', mechanism: 'buddy', args: { guest: GUEST, alloc: int(1, 2 ** 30) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const k = g.kernelAllocs.get(a.alloc as number);
      if (!k) return refuse('no-such-allocation', `g${g.id} has no kernel allocation #${String(a.alloc)}`);
      const c = physRead(w, g, k.gfn);
      if (isRefusal(c)) return c;
      w.journal.reads.push({ guest: g.id, pid: 0, vpn: -(a.alloc as number), got: c });
      return ok();
    },
  },
  {
    name: 'guest.isolate', mechanism: 'buddy', args: { guest: GUEST, pageblock: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const pfn = (a.pageblock as number) * PAGEBLOCK_FRAMES;
      if (pfn >= g.config.frames) return refuse('out-of-range', `g${g.id} pageblock ${String(a.pageblock)}`);
      const r = g.buddy.isolatePageblock(pfn);
      return r === undefined ? ok() : refuse('invalid', r.error);
    },
  },
  {
    name: 'guest.unisolate', mechanism: 'buddy', args: { guest: GUEST, pageblock: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const pfn = (a.pageblock as number) * PAGEBLOCK_FRAMES;
      if (pfn >= g.config.frames) return refuse('out-of-range', `g${g.id} pageblock ${String(a.pageblock)}`);
      const r = g.buddy.unisolatePageblock(pfn, 'MOVABLE');
      return r === undefined ? ok() : refuse('invalid', r.error);
    },
  },
  {
    name: 'host.kalloc', mechanism: 'buddy', args: { order: int(0, MAX_PAGE_ORDER), mt: MT },
    apply: (w, a) => {
      const id = w.nextHostAlloc;
      const hfn = hostAlloc(w, a.order as number, a.mt as MigrateType, () => ({ kind: 'host-kernel', tag: `alloc #${id}` }), 'host.kalloc', 'operation');
      if (typeof hfn !== 'number') return hfn;
      w.nextHostAlloc++;
      w.hostAllocs.set(id, { hfn, order: a.order as number });
      return ok(id);
    },
  },
  {
    name: 'host.kfree', mechanism: 'buddy', args: { alloc: int(1, 2 ** 30) },
    apply: (w, a) => {
      const b = w.hostAllocs.get(a.alloc as number);
      if (!b) return refuse('no-such-allocation', `host has no allocation #${String(a.alloc)}`);
      w.hostAllocs.delete(a.alloc as number);
      hostFree(w, b.hfn, b.order);
      return ok();
    },
  },
  {
    name: 'host.isolate', mechanism: 'buddy', args: { pageblock: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const pfn = (a.pageblock as number) * PAGEBLOCK_FRAMES;
      if (pfn >= w.config.hostFrames) return refuse('out-of-range', `host pageblock ${String(a.pageblock)}`);
      const r = w.hostBuddy.isolatePageblock(pfn);
      return r === undefined ? ok() : refuse('invalid', r.error);
    },
  },
  {
    name: 'host.unisolate', mechanism: 'buddy', args: { pageblock: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const pfn = (a.pageblock as number) * PAGEBLOCK_FRAMES;
      if (pfn >= w.config.hostFrames) return refuse('out-of-range', `host pageblock ${String(a.pageblock)}`);
      const r = w.hostBuddy.unisolatePageblock(pfn, 'MOVABLE');
      return r === undefined ? ok() : refuse('invalid', r.error);
    },
  },
  {
    name: 'host.reclaim.begin', mechanism: 'nested-mmu', args: { guest: GUEST, gfn: int(0, FRAME_MAX) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : gfnIn(g, a.gfn as number) ?? reclaimBegin(w, g, a.gfn as number); },
  },
  {
    name: 'host.reclaim.end', mechanism: 'nested-mmu', args: { guest: GUEST },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : reclaimEnd(w, g); },
  },
  {
    name: 'host.migrate', mechanism: 'nested-mmu', args: { guest: GUEST, gfn: int(0, FRAME_MAX) },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : gfnIn(g, a.gfn as number) ?? migrate(w, g, a.gfn as number); },
  },
  {
    name: 'host.fault.begin', mechanism: 'nested-mmu', args: { guest: GUEST, gfn: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const gfn = a.gfn as number;
      const bad = gfnIn(g, gfn);
      if (bad) return bad;
      if (g.pendingFault) return refuse('busy', `g${g.id}: a fault on gfn ${hex(g.pendingFault.gfn)} is in flight`);
      if (g.ept.lookup(w, gfn).kind === 'leaf') return refuse('invalid', `g${g.id} gfn ${hex(gfn)} is mapped: no fault`);
      const seq = g.invalidation.seq;
      const r = resolveBacking(w, g, gfn);
      if ('ok' in r) return r;
      g.pendingFault = { gfn, hfn: r.hfn, frames: r.frames, seq };
      w.transition('nested-mmu', 'idle', 'fault');
      return ok();
    },
  },
  {
    name: 'host.fault.finish', mechanism: 'nested-mmu', args: { guest: GUEST },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const f = g.pendingFault;
      if (!f) return refuse('no-such-mapping', `g${g.id}: no fault in flight`);
      g.pendingFault = null;
      if (g.ept.lookup(w, f.gfn).kind === 'leaf') return ok(); // another fault installed it meanwhile
      const r = installResolved(w, g, f.gfn, { hfn: f.hfn, frames: f.frames }, f.seq);
      return r === true ? ok() : r;
    },
  },
  {
    name: 'tlb.invlpg', mechanism: 'tlb', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX) },
    apply: (w, a) => { const r = procOf(w, a); if ('ok' in r) return r; w.tlb.invlpg(r.g.vpid, r.p.pid, a.vpn as number); return ok(); },
  },
  {
    name: 'tlb.invept', mechanism: 'tlb', args: { guest: GUEST, global: bool },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      if (a.global) w.tlb.inveptGlobal();
      else w.tlb.inveptSingle(g.ept.root);
      return ok();
    },
  },
  {
    name: 'tlb.invvpid', mechanism: 'tlb', args: { guest: GUEST },
    apply: (w, a) => { const g = guestOf(w, a); if ('ok' in g) return g; w.tlb.invvpid(g.vpid); return ok(); },
  },
];
