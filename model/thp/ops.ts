/**
 * Operations of transparent huge pages: splitting (guest PMD and folio; host 2 MiB backing),
 * MADV_DONTNEED (which splits a partly covered huge page), and khugepaged's scan and collapse
 * on both sides.
 */
import type { Guest } from '../guest/guest';
import { FRAME_MAX, int, PAGES_MAX, VPN_MAX, type Args, type OperationDef } from '../ops/operation';
import { refuse, type OpResult } from '../result';
import { FRAMES_PER_2M } from '../constants';
import { hex } from '../../properties/violation';
import { madviseDontneed } from './dontneed';
import { hostKhugepagedCollapse, hostKhugepagedScan } from './host-khugepaged';
import { khugepagedCollapse, khugepagedScan } from './khugepaged';
import { splitGuestHuge, splitHostUnit } from './split';
import { GUEST, PID, guestOf, procOf } from '../ops/lookup';

function gfnOf(g: Guest, a: Args): number | OpResult {
  const gfn = a.gfn as number;
  return gfn < g.config.frames ? gfn : refuse('out-of-range', `g${g.id} gfn ${hex(gfn)}`);
}

export const thpOperations: readonly OperationDef[] = [
  {
    name: 'thp.split', mechanism: 'thp', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX) },
    apply: (w, a) => { const x = procOf(w, a); return 'ok' in x ? x : splitGuestHuge(w, x.g, x.p, a.vpn as number); },
  },
  {
    name: 'thp.dontneed', mechanism: 'thp', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX), pages: int(1, PAGES_MAX) },
    apply: (w, a) => { const x = procOf(w, a); return 'ok' in x ? x : madviseDontneed(w, x.g, x.p, a.vpn as number, a.pages as number); },
  },
  {
    name: 'thp.khugepaged.scan', mechanism: 'thp', args: { guest: GUEST, pid: PID, vpn: int(0, VPN_MAX) },
    apply: (w, a) => { const x = procOf(w, a); return 'ok' in x ? x : khugepagedScan(w, x.g, x.p, a.vpn as number); },
  },
  {
    name: 'thp.khugepaged.collapse', mechanism: 'thp', args: { guest: GUEST },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : khugepagedCollapse(w, g); },
  },
  {
    name: 'thp.host.split', mechanism: 'thp', args: { guest: GUEST, gfn: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const gfn = gfnOf(g, a);
      return typeof gfn === 'number' ? splitHostUnit(w, g, Math.floor(gfn / FRAMES_PER_2M)) : gfn;
    },
  },
  {
    name: 'thp.host.scan', mechanism: 'thp', args: { guest: GUEST, gfn: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const gfn = gfnOf(g, a);
      return typeof gfn === 'number' ? hostKhugepagedScan(w, g, gfn) : gfn;
    },
  },
  {
    name: 'thp.host.collapse', mechanism: 'thp', args: { guest: GUEST },
    apply: (w, a) => { const g = guestOf(w, a); return 'ok' in g ? g : hostKhugepagedCollapse(w, g); },
  },
];
