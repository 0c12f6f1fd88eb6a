/**
 * Generators for transparent huge pages (model/thp/ops.ts): 2 MiB ranges of huge VMAs (the
 * only ones khugepaged scans and the fault path maps huge), partial MADV_DONTNEED ranges that
 * force a split, and host units that are or are not 2 MiB backed.
 */
import { FRAMES_PER_2M } from '../../model/constants';
import type { Guest } from '../../model/guest/guest';
import type { Process } from '../../model/guest/process';
import { thpState } from '../../model/thp/state';
import type { World } from '../../model/world';
import type { Operation } from '../contract';
import { guestOf, pick, procOf, vpnIn, type Choice, type Gen } from './pick';

/** 2 MiB bases inside huge VMAs of a process (at most a few per VMA). */
function hugeBases(p: Process): number[] {
  const out: number[] = [];
  for (const v of p.vmas) {
    if (!v.huge) continue;
    for (let b = v.start; b + FRAMES_PER_2M <= v.end && out.length < 64; b += FRAMES_PER_2M) out.push(b);
  }
  return out;
}

function hugeRange(w: World, c: Choice): { g: Guest; p: Process; base: number } | null {
  const x = procOf(w, c[1]);
  if (!x) return null;
  const base = pick(hugeBases(x.p), c[2]);
  return base === undefined ? null : { g: x.g, p: x.p, base };
}

/** Units of a guest: 2 MiB backed ones (want: true) or ones with 4 KiB backing (false). */
function unitOf(g: Guest, want: boolean, c: number): number | undefined {
  const units = new Set<number>();
  for (const gfn of g.backing.keys()) {
    const u = Math.floor(gfn / FRAMES_PER_2M);
    if (g.hugeBacked.has(u) === want) units.add(u);
    if (units.size >= 64) break;
  }
  return pick([...units], c);
}

export const thpGenerators: Record<string, Gen> = {
  'thp.split': (w, c): Operation | null => {
    const r = hugeRange(w, c);
    return r ? { kind: 'thp.split', args: { guest: r.g.id, pid: r.p.pid, vpn: r.base + (c[3] % FRAMES_PER_2M) } } : null;
  },
  'thp.dontneed': (w, c): Operation | null => {
    const x = procOf(w, c[1]);
    const v = x && pick(x.p.vmas, c[2]);
    if (!x || !v) return null;
    const len = v.end - v.start;
    switch (c[3] % 4) {
      case 0: return { kind: 'thp.dontneed', args: { guest: x.g.id, pid: x.p.pid, vpn: v.start, pages: len } };
      case 1: {
        // part of a huge page: forces a split
        const vpn = Math.min(v.end - 1, v.start + 1 + (c[3] >> 2) % Math.max(1, Math.min(len, FRAMES_PER_2M) - 1));
        return { kind: 'thp.dontneed', args: { guest: x.g.id, pid: x.p.pid, vpn, pages: Math.max(1, Math.min(v.end - vpn, 1 + ((c[3] >> 4) % 300))) } };
      }
      default: {
        const vpn = Math.min(vpnIn(v, c[3] >> 2), v.end - 1);
        return { kind: 'thp.dontneed', args: { guest: x.g.id, pid: x.p.pid, vpn, pages: 1 } };
      }
    }
  },
  'thp.khugepaged.scan': (w, c): Operation | null => {
    const r = hugeRange(w, c);
    return r ? { kind: 'thp.khugepaged.scan', args: { guest: r.g.id, pid: r.p.pid, vpn: r.base } } : null;
  },
  'thp.khugepaged.collapse': (w, c): Operation | null => {
    const s = thpState(w).guestCandidate;
    const g = w.guests.find((x, i) => s.has(x.id) && i >= c[1] % w.guests.length) ?? w.guests.find((x) => s.has(x.id));
    return g ? { kind: 'thp.khugepaged.collapse', args: { guest: g.id } } : null;
  },
  'thp.host.split': (w, c): Operation | null => {
    const g = guestOf(w, c[1]);
    const u = unitOf(g, true, c[2]);
    return u === undefined ? null : { kind: 'thp.host.split', args: { guest: g.id, gfn: u * FRAMES_PER_2M + (c[3] % FRAMES_PER_2M) } };
  },
  'thp.host.scan': (w, c): Operation | null => {
    const g = guestOf(w, c[1]);
    const u = unitOf(g, false, c[2]);
    return u === undefined ? null : { kind: 'thp.host.scan', args: { guest: g.id, gfn: u * FRAMES_PER_2M + (c[3] % FRAMES_PER_2M) } };
  },
  'thp.host.collapse': (w, c): Operation | null => {
    const s = thpState(w).hostCandidate;
    const g = w.guests.find((x, i) => s.has(x.id) && i >= c[1] % w.guests.length) ?? w.guests.find((x) => s.has(x.id));
    return g ? { kind: 'thp.host.collapse', args: { guest: g.id } } : null;
  },
};
