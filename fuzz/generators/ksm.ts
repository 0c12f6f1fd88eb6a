/**
 * Generators for KSM (model/ksm/ops.ts): the opt-in over all of a guest's memory (what QEMU
 * does) or a part of it, opting out now and then, ksmd passes, and pattern fills that give
 * two guests (or two pages of one) the same contents.
 */
import type { Operation } from '../contract';
import { guestOf, pick, procOf, vpnIn, type Gen } from './pick';

export const ksmGenerators: Record<string, Gen> = {
  'ksm.madvise': (w, c): Operation => {
    const g = guestOf(w, c[1]);
    const whole = c[2] % 2 === 0;
    const gfn = whole ? 0 : c[3] % g.config.frames;
    const pages = whole ? g.config.frames : 1 + ((c[3] >> 4) % 1024);
    return { kind: 'ksm.madvise', args: { guest: g.id, gfn, pages, mergeable: c[2] % 5 !== 3 } };
  },
  'ksm.scan': (_w, c): Operation => ({ kind: 'ksm.scan', args: { pages: c[2] % 3 === 0 ? 512 : 100 } }),
  'ksm.fill': (w, c): Operation | null => {
    const x = procOf(w, c[1]);
    const v = x && pick(x.p.vmas, c[2]);
    if (!x || !v) return null;
    return { kind: 'ksm.fill', args: { guest: x.g.id, pid: x.p.pid, vpn: vpnIn(v, c[3]), pattern: c[3] % 4 } };
  },
};
