/**
 * A guest process's memory access as the CPU performs it: TLB lookup (tagged by VPID, PCID
 * and EPT root), else the nested walk; a guest page fault goes to the guest kernel
 * (guest/fault.ts), an EPT violation to the host (host/ept-fault.ts); then the access is
 * retried, a bounded number of times. A successful walk fills the TLB with an entry of the
 * smaller of the guest and host page sizes (SDM vol. 3C 29.4.2).
 */
import { ACCESS_RETRIES_MAX } from '../constants';
import { type Content, data } from '../content';
import { framesAtLevel } from '../paging/entries';
import { eptFault } from '../host/ept-fault';
import { waitForInvalidation } from '../host/reclaim';
import { handlePageFault, vmaAllows } from '../guest/fault';
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import type { World } from '../world';
import { refuse, type Refusal } from '../result';
import { nestedWalk, type AccessKind, type WalkOk } from './walk';
import type { TlbEntry } from './tlb';
import { hex } from '../../properties/violation';

export type AccessResult = { readonly ok: true; readonly content: Content; readonly version: number } | Refusal;

function permits(e: { writable: boolean; nx: boolean; dirty: boolean }, access: AccessKind): boolean {
  if (access === 'write') return e.writable && e.dirty;
  if (access === 'exec') return !e.nx;
  return true;
}

/**
 * `fill`, for a write, is what the store leaves in the page (a memset pattern); by default a
 * fresh data version of the guest.
 */
export function access(world: World, g: Guest, p: Process, vpn: number, kind: AccessKind, fill?: Content): AccessResult {
  for (let attempt = 0; attempt < ACCESS_RETRIES_MAX; attempt++) {
    const hit = world.tlb.lookup(g.vpid, p.pid, g.ept.root, vpn);
    if (hit && permits(hit, kind)) {
      world.journal.tlbHits.push({ guest: g.id, pid: p.pid, vpn });
      return perform(world, g, p, vpn, hit.hfnBase + (vpn - hit.vpnBase), hit.gfnBase + (vpn - hit.vpnBase), kind, fill);
    }
    const w = nestedWalk(world, g, p.cr3, vpn, kind, true);
    switch (w.kind) {
      case 'ok': {
        const guestOk = kind === 'write' ? w.writable : kind === 'exec' ? !w.nx : true;
        if (!guestOk) {
          // A protection fault: the guest kernel decides (segv, or a spurious fault).
          const f = handlePageFault(world, g, p, vpn, kind);
          if (f !== true) return f;
          const denied = vmaAllows(p, vpn, kind);
          if (denied) return denied;
          continue;
        }
        if ((kind === 'write' && !w.eptWrite) || (kind === 'exec' && !w.eptExec) || !w.eptRead) {
          const f = eptFault(world, g, w.gfn, kind === 'write');
          if (f !== true) return f;
          continue;
        }
        world.journal.walks.push({
          guest: g.id, pid: p.pid, vpn, refs: w.refs, gfns: w.gfns, finalGfn: w.gfn, guestLevelsWalked: w.guestLevelsWalked,
        });
        world.tlb.insert(tlbEntryFor(world, g, p, vpn, w));
        world.journal.tlbHits.push({ guest: g.id, pid: p.pid, vpn });
        return perform(world, g, p, vpn, w.hfn, w.gfn, kind, fill);
      }
      case 'guest-fault': {
        const f = handlePageFault(world, g, p, vpn, kind);
        if (f !== true) return f;
        continue;
      }
      case 'ept-violation': {
        const f = eptFault(world, g, w.gfn, kind === 'write');
        if (f !== true && !(f.error === 'retry' && waitForInvalidation(world, g, w.gfn))) return f;
        continue;
      }
      case 'bad-table':
        return refuse('invalid', `g${g.id} pid ${p.pid} va ${hex(vpn * 4096)}: walk met a non-table at gfn ${hex(w.gfn)} (L${w.level})`);
    }
  }
  return refuse('retry', `g${g.id} pid ${p.pid} va ${hex(vpn * 4096)}: access did not complete in ${ACCESS_RETRIES_MAX} tries`);
}

function tlbEntryFor(world: World, g: Guest, p: Process, vpn: number, w: WalkOk): TlbEntry {
  const guestFrames = framesAtLevel(w.guestLeafLevel);
  const hostFrames = framesAtLevel(w.eptLeafLevel);
  // Hazard: a combined entry may cover only the smaller of the two pages (SDM 29.4.2); sized by
  // the guest page alone it would translate neighbouring 4 KiB host pages that are not contiguous.
  // Both are page sizes (framesAtLevel of a leaf level: 1, 512 or 262144), so the entry's size is one too.
  const size = world.fault('tlb-entry-uses-guest-size') ? guestFrames : Math.min(guestFrames, hostFrames);
  const off = vpn % size;
  return {
    vpid: g.vpid, pcid: p.pid, eptRoot: g.ept.root, vpnBase: vpn - off, frames: size,
    hfnBase: w.hfn - off, gfnBase: w.gfn - off,
    writable: w.writable && w.eptWrite, nx: w.nx || !w.eptExec, dirty: w.dirty,
  };
}

function perform(world: World, g: Guest, p: Process, vpn: number, hfn: number, gfn: number, kind: AccessKind, fill?: Content): AccessResult {
  world.journal.gfn(g.id, gfn);
  world.journal.access(g.id, gfn);
  if (kind === 'write') {
    const v = world.nextVersion();
    const c = fill ?? data(g.id, v);
    world.frames.write(hfn, c);
    world.journal.note(() => `g${g.id} pid ${p.pid}: write va ${hex(vpn * 4096)} -> gfn ${hex(gfn)} hfn ${hex(hfn)} v${v}`);
    for (const h of g.touchHooks) h(world, g, gfn, true);
    return { ok: true, content: c, version: v };
  }
  const c = world.frames.read(hfn);
  for (const h of g.touchHooks) h(world, g, gfn, false);
  world.journal.reads.push({ guest: g.id, pid: p.pid, vpn, got: c });
  return { ok: true, content: c, version: 0 };
}
