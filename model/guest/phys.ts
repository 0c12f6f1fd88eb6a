/**
 * The guest kernel's own accesses to guest-physical memory (its direct map): each goes
 * through the EPT like any other access, so touching an unbacked gfn takes an EPT violation
 * that the host serves (host/ept-fault.ts) before the kernel's access completes.
 */
import { ACCESS_RETRIES_MAX, EPT_WRITE } from '../constants';
import { type Content } from '../content';
import { eptFault } from '../host/ept-fault';
import { waitForInvalidation } from '../host/reclaim';
import type { World } from '../world';
import { refuse, type Refusal } from '../result';
import type { Guest } from './guest';
import { hex } from '../../properties/violation';

/**
 * Host frame behind gfn, faulting it in if needed. A write needs a writable EPT leaf: the
 * kernel's own stores go through the EPT like any other (a read-only KSM page is copied first;
 * memory the host mprotected read-only refuses the write).
 */
export function touch(world: World, g: Guest, gfn: number, write = false): number | Refusal {
  for (let attempt = 0; attempt < ACCESS_RETRIES_MAX; attempt++) {
    const h = g.ept.lookup(world, gfn);
    if (h.kind === 'leaf' && (!write || (h.entry.flags & EPT_WRITE) !== 0)) return h.hfn;
    if (h.kind === 'misconfig') return refuse('invalid', `g${g.id} gfn ${hex(gfn)}: EPT table at hfn ${hex(h.tableHfn)} is not a table`);
    const f = eptFault(world, g, gfn, write);
    if (f !== true && !(f.error === 'retry' && waitForInvalidation(world, g, gfn))) return f;
  }
  return refuse('retry', `g${g.id} gfn ${hex(gfn)}: EPT fault did not settle`);
}

/** The kernel writes `c` to gfn (clear_page, a table, kernel data). */
export function physWrite(world: World, g: Guest, gfn: number, c: Content): true | Refusal {
  const hfn = touch(world, g, gfn, true);
  if (typeof hfn !== 'number') return hfn;
  world.frames.write(hfn, c);
  world.journal.gfn(g.id, gfn);
  // A store into a live page-table page (tables change through writeEntry; this is a stray
  // one, e.g. a page reused while still linked) changes every translation below it.
  const t = g.tables.get(gfn);
  if (t) world.journal.range(g.id, t.pid, t.vpnBase, t.vpnBase + 512 ** t.level);
  world.journal.access(g.id, gfn);
  return true;
}

export function physRead(world: World, g: Guest, gfn: number): Content | Refusal {
  const hfn = touch(world, g, gfn);
  if (typeof hfn !== 'number') return hfn;
  world.journal.access(g.id, gfn);
  return world.frames.read(hfn);
}
