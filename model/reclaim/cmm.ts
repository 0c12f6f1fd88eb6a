/**
 * Collaborative Memory Management (Linux arch/s390/mm/cmm.c): a driver that takes pages from
 * the guest on the host's request and gives them back from its OOM notifier, 256 at a time
 * (cmm_oom_notify: "nr = 256 ... *freed += 256 - nr"). It is the simplest member of the OOM
 * notifier chain (virtio-balloon's DEFLATE_ON_OOM handler, from the devices issue, is another),
 * present here so that the rule "the notifiers first, a kill only if nothing was freed" can be
 * falsified in every run.
 *
 * (Assumption: the driver's own allocations neither reclaim nor invoke the OOM killer:
 * cmm_alloc_pages asks for GFP_NOIO pages and stops at the first failure; the diagnose call
 * that hands the page to the host is not modelled, the page just stays with the driver.)
 */
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { ok, type OpResult } from '../result';
import type { World } from '../world';

/** cmm_oom_notify frees at most this many pages per call. */
export const CMM_OOM_PAGES = 256;
/** Pages one cmm.alloc asks for at most. */
export const CMM_ALLOC_MAX = 512;

const held = new WeakMap<Guest, number[]>();

export function cmmPages(g: Guest): number[] {
  let s = held.get(g);
  if (!s) held.set(g, (s = []));
  return s;
}

/** cmm_alloc_pages: up to `pages` pages, straight from the buddy lists. */
export function cmmAlloc(w: World, g: Guest, pages: number): OpResult {
  const list = cmmPages(g);
  let n = 0;
  for (; n < pages; n++) {
    const gfn = g.buddy.alloc(0, 'UNMOVABLE');
    if (typeof gfn !== 'number') break;
    g.setOwner(gfn, { kind: 'cmm' });
    list.push(gfn);
  }
  if (n > 0) w.transition('oom', 'guest', 'cmm');
  return ok(n);
}

/** cmm_free_pages: give back up to `pages`, the most recently taken first. */
export function cmmFree(w: World, g: Guest, pages: number): number {
  const list = cmmPages(g);
  let n = 0;
  for (; n < pages && list.length > 0; n++) {
    const gfn = list.pop()!;
    g.clearOwner(gfn);
    guestFree(w, g, gfn, 0);
  }
  if (n > 0) w.transition('oom', 'cmm', 'guest');
  return n;
}

/** The OOM notifier (registered on every guest at init). */
export function cmmOomNotify(w: World, g: Guest): number {
  return cmmFree(w, g, CMM_OOM_PAGES);
}
