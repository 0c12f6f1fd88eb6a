/**
 * Generators for KSM (model/ksm/ops.ts): the opt-in over all of a guest's memory (what QEMU
 * does) or a part of it, opting out now and then, ksmd passes, and pattern fills that give
 * two guests (or two pages of one) the same contents.
 */
import { ksmState, sharerOf } from '../../model/ksm/ksm';
import type { World } from '../../model/world';
import type { Operation } from '../contract';
import { guestOf, pick, procOf, vpnIn, type Choice, type Gen } from './pick';

/** A merged page some process maps (guest, pid, vpn), for a write that must copy first. */
function mergedProcessPage(w: World, c: Choice): { guest: number; pid: number; vpn: number } | null {
  const found: { guest: number; pid: number; vpn: number }[] = [];
  for (const n of ksmState(w).nodes.values())
    for (const key of n.sharers) {
      const x = sharerOf(key);
      const o = w.guests[x.guest]!.owners.get(x.gfn);
      if (o?.kind === 'anon') found.push({ guest: x.guest, pid: o.pid, vpn: o.vpn });
      if (found.length >= 64) break;
    }
  return pick(found, c[1]) ?? null;
}

export const ksmGenerators: Record<string, Gen> = {
  'ksm.madvise': (w, c): Operation => {
    // Now and then a guest that shares pages opts out (its pages must be unmerged).
    const nodes = [...ksmState(w).nodes.values()];
    const n = c[3] % 3 === 0 ? pick(nodes, c[2]) : undefined;
    if (n) {
      const x = sharerOf([...n.sharers][0]!);
      return { kind: 'ksm.madvise', args: { guest: x.guest, gfn: x.gfn, pages: 1 + (c[2] % 64), mergeable: false } };
    }
    const g = guestOf(w, c[1]);
    const whole = c[2] % 2 === 0;
    const gfn = whole ? 0 : c[3] % g.config.frames;
    const pages = whole ? g.config.frames : 1 + ((c[3] >> 4) % 1024);
    return { kind: 'ksm.madvise', args: { guest: g.id, gfn, pages, mergeable: c[2] % 5 !== 3 } };
  },
  'ksm.scan': (w, c): Operation => {
    // Nothing opted in: a guest opts in first (QEMU madvises all of guest RAM).
    if (ksmState(w).mergeable.size === 0) {
      const g = guestOf(w, c[1]);
      return { kind: 'ksm.madvise', args: { guest: g.id, gfn: 0, pages: g.config.frames, mergeable: true } };
    }
    return { kind: 'ksm.scan', args: { pages: c[2] % 3 === 0 ? 512 : 100 } };
  },
  'ksm.fill': (w, c): Operation | null => {
    // Half of the time a write to a merged page: the copy-on-write a sharer can time.
    const m = c[2] % 2 === 0 ? mergedProcessPage(w, c) : null;
    if (m) return { kind: 'ksm.fill', args: { ...m, pattern: c[3] % 4 } };
    const x = procOf(w, c[1]);
    const v = x && pick(x.p.vmas, c[2]);
    if (!x || !v) return null;
    return { kind: 'ksm.fill', args: { guest: x.g.id, pid: x.p.pid, vpn: vpnIn(v, c[3]), pattern: c[3] % 4 } };
  },
};
