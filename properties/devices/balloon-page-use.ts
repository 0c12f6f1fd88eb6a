/**
 * balloon-page-use (VIRTIO balloon, driver normative "Device Operation"; vmw_balloon.c): a page
 * given to a balloon is the balloon's alone until the protocol hands it back.
 * - "the driver MUST NOT use pages from the balloon after adding the pages to the balloon, but
 *   before the device has acknowledged the inflate request";
 * - "If the VIRTIO_BALLOON_F_MUST_TELL_HOST feature is negotiated, the driver MUST NOT use pages
 *   from the balloon until the device has acknowledged the deflate request";
 * - a ballooned frame is never owned twice (one owner, on one balloon), never free in the guest
 *   allocator, never mapped by a guest process, never touched by the guest.
 * VMware balloon pages (batched, locked or refused) are held to the same rules.
 */
import { describeGuestOwner, type Guest } from '../../model/guest/guest';
import { balloonOf, has, pageMark, requestMark, VIRTIO_BALLOON_F_MUST_TELL_HOST, type VirtioBalloon } from '../../model/balloon/virtio-balloon';
import { vmwMark, vmwOf } from '../../model/balloon/vmware-balloon';
import type { Journal } from '../../model/journal';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'balloon-page-use';

/** Which balloon holds gfn now, if the rules say nobody else may use it. */
function holder(g: Guest, vb: VirtioBalloon | undefined, gfn: number): { device: 'virtio-balloon' | 'vmware-balloon'; state: string } | null {
  const s = vb?.pages.get(gfn);
  if (vb && s) {
    if (s !== 'deflating') return { device: 'virtio-balloon', state: s };
    const r = vb.deflatingIn.get(gfn);
    if (has(vb.features, VIRTIO_BALLOON_F_MUST_TELL_HOST) && r && !r.acked) return { device: 'virtio-balloon', state: 'deflating (unacknowledged)' };
  }
  const p = vmwOf(g)?.where.get(gfn);
  if (p) return { device: 'vmware-balloon', state: 'vmware balloon page' };
  return null;
}

function checkGfn(g: Guest, gfn: number, accessed: boolean, r: Reporter): void {
  const vb = balloonOf(g);
  const h = holder(g, vb, gfn);
  if (!h) return;
  const subject = `g${g.id} gfn ${hex(gfn)} (${h.device}, ${h.state})`;
  const o = g.owners.get(gfn);
  if (o?.kind !== 'balloon' || o.device !== h.device) {
    r.report({ property: NAME, kind: 'balloon-page-owned-elsewhere', subject, message: 'a page in the balloon is owned by someone else', expected: `${h.device} page`, actual: describeGuestOwner(o) });
    return;
  }
  if (vb?.pages.has(gfn) && vmwOf(g)?.where.has(gfn))
    r.report({ property: NAME, kind: 'balloon-page-owned-twice', subject, message: 'a page is in two balloons', expected: 'one balloon', actual: 'virtio-balloon and vmware-balloon' });
  if (g.buddy.isFree(gfn))
    r.report({ property: NAME, kind: 'balloon-page-free', subject, message: 'a page in the balloon is free in the guest allocator', expected: 'allocated to the balloon', actual: 'free' });
  const maps = g.rmap.reaching(gfn);
  if (maps.length > 0)
    r.report({ property: NAME, kind: 'balloon-page-mapped', subject, message: 'a guest process maps a page in the balloon', expected: 'no mapping', actual: `pid ${maps[0]!.owner} va ${hex(maps[0]!.source * 4096)}` });
  if (accessed)
    r.report({ property: NAME, kind: 'balloon-page-used', subject, message: 'the guest touched a page in the balloon', expected: 'no access', actual: 'accessed' });
}

/** Deflate requests released before their ack with MUST_TELL_HOST (this step's events). */
function checkReleases(g: Guest, j: Journal, r: Reporter): void {
  const vb = balloonOf(g);
  const ids = j.marks.get(requestMark(g));
  if (!vb || !ids || !has(vb.features, VIRTIO_BALLOON_F_MUST_TELL_HOST)) return;
  for (const id of ids) {
    const q = vb.history[id - 1];
    if (q && q.queue === 'deflate' && q.released && !q.acked)
      r.report({ property: NAME, kind: 'used-before-deflate-ack', subject: `g${g.id} deflate request #${id} (${q.pfns.length} pages from gfn ${hex(q.pfns[0]!)})`, message: 'pages went back to the guest before the device acknowledged their deflate (MUST_TELL_HOST)', expected: 'release after the ack', actual: 'released, not acknowledged' });
  }
}

export const balloonPageUse: Property = {
  name: NAME,
  mechanism: 'virtio-balloon',
  kind: 'safety',
  description: 'a page in a balloon is owned by that balloon alone: never used before the acks the spec requires, never free, mapped or touched',
  checkStep({ world: w, journal: j }, r) {
    for (const g of w.guests) {
      const todo = new Set<number>();
      for (const gfn of j.gfns.get(g.id) ?? []) todo.add(gfn);
      for (const gfn of j.accessed.get(g.id) ?? []) todo.add(gfn);
      for (const gfn of j.marks.get(pageMark(g)) ?? []) todo.add(gfn);
      const vm = vmwOf(g);
      for (const head of j.marks.get(vmwMark(g)) ?? []) {
        const p = vm?.where.get(head);
        for (let i = 0; i < (p ? 2 ** p.order : 1); i++) todo.add(head + i);
      }
      const acc = j.accessed.get(g.id);
      for (const gfn of todo) checkGfn(g, gfn, acc?.has(gfn) ?? false, r);
      checkReleases(g, j, r);
    }
  },
  checkAll({ world: w, journal: j }, r) {
    for (const g of w.guests) {
      const acc = j.accessed.get(g.id);
      const all = new Set<number>([...(balloonOf(g)?.pages.keys() ?? []), ...(vmwOf(g)?.where.keys() ?? [])]);
      for (const gfn of [...all].sort((a, b) => a - b)) checkGfn(g, gfn, acc?.has(gfn) ?? false, r);
      checkReleases(g, j, r);
    }
  },
};
