/**
 * Generators for transparent huge pages (model/thp/ops.ts). Each kind acts on what exists
 * when it can (a 2 MiB page to split, a PTE-mapped huge range to scan, a scanned range to
 * collapse, a host unit of 4 KiB frames) and otherwise builds the step that is missing, in
 * the order the kernel would meet them: a VM_HUGEPAGE mapping, a write that faults a huge page
 * in, a split, a scan, the collapse. So one run carries the pipeline through to the end.
 */
import { FRAMES_PER_2M } from '../../model/constants';
import type { Guest } from '../../model/guest/guest';
import type { Process } from '../../model/guest/process';
import { peekGuestPhysical } from '../../model/mmu/peek';
import { guestIsLeaf, guestPresent, indexAt } from '../../model/paging/entries';
import type { Entry } from '../../model/paging/table';
import { thpState } from '../../model/thp/state';
import type { World } from '../../model/world';
import type { Operation } from '../contract';
import { guestOf, pick, procOf, vpnIn, type Choice, type Gen } from './pick';

/** Huge VMAs this generator maps live apart from the core's mmap slots (below 2^17 pages). */
const HUGE_REGION_VPN = 2 ** 22;

/** The PMD entry covering vpn in p, read without side effects. */
function pmdOf(w: World, g: Guest, p: Process, vpn: number): Entry | undefined {
  let table = p.cr3;
  for (let level = g.config.guestLevels; level > 2; level--) {
    const c = peekGuestPhysical(w, g, table);
    if (c.kind !== 'table') return undefined;
    const e = c.table.get(indexAt(vpn, level));
    if (!guestPresent(e)) return undefined;
    table = e.pfn;
  }
  const c = peekGuestPhysical(w, g, table);
  return c.kind === 'table' ? c.table.get(indexAt(vpn, 2)) : undefined;
}

type Range = { readonly g: Guest; readonly p: Process; readonly base: number };
type State = 'none' | 'zero' | 'huge' | 'ptes' | 'ptes-zero';

/** Every 2 MiB range of a huge VMA (a few per VMA), with what maps it now. */
function hugeRanges(w: World): Map<State, Range[]> {
  const out = new Map<State, Range[]>();
  const add = (s: State, r: Range): void => void (out.get(s) ?? out.set(s, []).get(s)!).push(r);
  for (const g of w.guests) {
    if (!g.config.hugePages) continue;
    for (const p of g.processes.values())
      for (const v of p.vmas) {
        if (!v.huge) continue;
        for (let base = v.start, n = 0; base + FRAMES_PER_2M <= v.end && n < 8; base += FRAMES_PER_2M, n++) {
          const e = pmdOf(w, g, p, base);
          if (!guestPresent(e)) add('none', { g, p, base });
          else if (guestIsLeaf(e, 2)) add(g.owners.get(e.pfn)?.kind === 'zero-page' ? 'zero' : 'huge', { g, p, base });
          else {
            const t = peekGuestPhysical(w, g, e.pfn);
            let anon = false;
            if (t.kind === 'table') t.table.forEach((x) => (anon ||= guestPresent(x) && g.owners.get(x.pfn)?.kind === 'anon'));
            add(anon ? 'ptes' : 'ptes-zero', { g, p, base });
          }
        }
      }
  }
  return out;
}

/** Build the missing first steps: a huge VMA, then a write faulting a huge page in. */
function buildHuge(w: World, c: Choice, ranges: Map<State, Range[]>): Operation | null {
  const r = pick(ranges.get('none') ?? [], c[1]) ?? pick(ranges.get('zero') ?? [], c[1]);
  if (r) return { kind: 'guest.write', args: { guest: r.g.id, pid: r.p.pid, vpn: r.base + (c[3] % FRAMES_PER_2M) } };
  const procs: { g: Guest; p: Process }[] = [];
  for (const g of w.guests) if (g.config.hugePages) for (const p of g.processes.values()) procs.push({ g, p });
  const x = pick(procs, c[1]);
  if (!x) return null;
  return { kind: 'guest.mmap', args: { guest: x.g.id, pid: x.p.pid, vpn: HUGE_REGION_VPN + (c[2] % 32) * 2 * FRAMES_PER_2M, pages: 2 * FRAMES_PER_2M, write: true, exec: false, huge: true } };
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
    const ranges = hugeRanges(w);
    const r = pick(ranges.get('huge') ?? [], c[1]) ?? (c[2] % 4 === 0 ? pick(ranges.get('zero') ?? [], c[1]) : undefined);
    return r ? { kind: 'thp.split', args: { guest: r.g.id, pid: r.p.pid, vpn: r.base + (c[3] % FRAMES_PER_2M) } } : buildHuge(w, c, ranges);
  },
  'thp.dontneed': (w, c): Operation | null => {
    // Half of the time, discard a page khugepaged has scanned and not collapsed yet (the race
    // its revalidation exists for).
    for (const [gid, cand] of thpState(w).guestCandidate) {
      const i = pick([...cand.scanned.keys()], c[2]);
      if (i !== undefined && c[3] % 2 === 0) return { kind: 'thp.dontneed', args: { guest: gid, pid: cand.pid, vpn: cand.base + i, pages: 1 + (c[2] % 8) } };
    }
    if (c[3] % 4 === 1) {
      // part of a huge page: forces a split
      const r = pick(hugeRanges(w).get('huge') ?? [], c[1]);
      if (r) return { kind: 'thp.dontneed', args: { guest: r.g.id, pid: r.p.pid, vpn: r.base + 1 + ((c[3] >> 2) % 400), pages: 1 + ((c[3] >> 4) % 64) } };
    }
    const x = procOf(w, c[1]);
    const v = x && pick(x.p.vmas, c[2]);
    if (!x || !v) return null;
    if (c[3] % 4 === 0) return { kind: 'thp.dontneed', args: { guest: x.g.id, pid: x.p.pid, vpn: v.start, pages: v.end - v.start } };
    const vpn = Math.min(vpnIn(v, c[3] >> 2), v.end - 1);
    return { kind: 'thp.dontneed', args: { guest: x.g.id, pid: x.p.pid, vpn, pages: 1 } };
  },
  'thp.khugepaged.scan': (w, c): Operation | null => {
    // khugepaged's pass goes on with a range it scanned earlier.
    const pending = w.guests.find((g) => thpState(w).guestCandidate.has(g.id));
    if (pending && c[3] % 2 === 0) return { kind: 'thp.khugepaged.collapse', args: { guest: pending.id } };
    const ranges = hugeRanges(w);
    const r = pick(ranges.get('ptes') ?? [], c[1]) ?? (c[2] % 4 === 0 ? pick(ranges.get('ptes-zero') ?? [], c[1]) : undefined);
    if (r) return { kind: 'thp.khugepaged.scan', args: { guest: r.g.id, pid: r.p.pid, vpn: r.base } };
    const h = pick(ranges.get('huge') ?? [], c[1]);
    if (h) return { kind: 'thp.dontneed', args: { guest: h.g.id, pid: h.p.pid, vpn: h.base + 1 + (c[3] % 400), pages: 1 + (c[2] % 200) } };
    return buildHuge(w, c, ranges);
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
    const pending = w.guests.find((g) => thpState(w).hostCandidate.has(g.id));
    if (pending && c[3] % 2 === 0) return { kind: 'thp.host.collapse', args: { guest: pending.id } };
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
