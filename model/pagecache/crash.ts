/**
 * A crash of the guest (panic, then reboot): the virtual disk is reset, which drains the
 * requests already submitted (QEMU hw/block/virtio-blk.c virtio_blk_reset -> blk_drain), every
 * process dies, and the page cache, the swap device's contents and the guest's cleancache and
 * frontswap pages mean nothing to the next kernel: they are dropped without writeback. What
 * survives is what reached the disk: the host page cache of a cache=writeback image survives
 * a guest crash, so a block written back and not yet flushed may still read back; only
 * fsync made it durable on the medium.
 *
 * (Assumption: the guest kernel's own allocations, the hogs and the CMM pages stand for
 * boot-time memory and are kept; the host's grants of shared files are unchanged.)
 */
import type { Guest } from '../guest/guest';
import { ok, refuse, type OpResult } from '../result';
import { killProcess } from '../reclaim/kill';
import { reclaimOf } from '../reclaim/state';
import { swapCrash } from '../swap/guest-swap';
import { ccInvalidateGuest } from '../tmem/cleancache';
import type { World } from '../world';
import { removePage } from './cache';
import { completeAll } from './io';
import { cacheOf } from './state';

export function crashGuest(w: World, g: Guest): OpResult {
  // The vCPUs cannot run (to panic, or to reboot) while the host holds part of the guest's
  // memory invalidated: the crash waits for that to end.
  if (g.invalidation.inProgress > 0 || g.pendingReclaim || g.pendingFault) return refuse('busy', `g${g.id}: the host is invalidating guest memory`);
  completeAll(w, g);
  let killed = 0;
  for (const p of [...g.processes.values()]) {
    killProcess(w, g, p);
    killed++;
  }
  const c = cacheOf(g);
  for (const page of [...c.pages.values()]) removePage(w, g, page);
  c.active.clear();
  c.referenced.clear();
  ccInvalidateGuest(w, g);
  swapCrash(w, g);
  const st = reclaimOf(g);
  st.oomPending = null;
  st.activeAnon.clear();
  w.transition('page-cache', 'running', 'crashed');
  return ok(killed);
}
