/**
 * Zeroings per page, memctl path against the ordinary path (issue 3; domain.md section 8).
 *
 * Ordinary path: a guest process touches fresh anonymous pages. The host clears each frame when
 * the EPT fault backs it (host/ept-fault.ts fillFresh, clear_page), and the guest clears the page
 * again when its own page fault allocates it (guest/fault.ts, clear_user_highpage).
 * memctl path: the guest touches memory handed over by memctl; the host clears each frame when
 * it faults it in and the guest does not clear it at all.
 * memctl-1g path: a process maps memctl's 1 GiB region with one 1 GiB guest page (memctl.region
 * 'giga'), writes pages of it, DONTNEEDs them and writes them again: two hand-outs of each
 * frame, each zeroed once by the host (figures per hand-out).
 *
 * Counted per data page from the model's own counters: host clears per (guest, gfn)
 * (HostFrames.clearsOf, which also feeds world.frames.zeroings) and the guest's clears
 * (g.zeroings, less the page-table pages the guest cleared for the mapping). Deterministic.
 *
 *   npx tsx fuzz/zeroings.ts
 */
import { createWorld, operationNamed } from '../model/registry';
import type { World } from '../model/world';
import { isRefusal } from '../model/result';
import { memctlOf } from '../model/memctl/memctl';
import { FRAMES_PER_1G, FRAMES_PER_2M } from '../model/constants';

export interface ZeroingFigures {
  readonly path: 'ordinary' | 'memctl' | 'memctl-1g';
  readonly hostBacking: '4K' | '2M';
  readonly pages: number;
  readonly hostPerPage: number;
  readonly guestPerPage: number;
  readonly totalPerPage: number;
  /** world.frames.zeroings + g.zeroings over the whole run, divided by the pages (tables included). */
  readonly rawPerPage: number;
}

function world(huge: boolean, memctl: boolean, region: 'ram' | 'giga' = 'ram'): World {
  const w = createWorld({
    hostFrames: 2 ** 14,
    guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: huge }],
    faults: [],
    options: { 'virtio-balloon.present': false, 'memctl.enabled': memctl, 'memctl.region': region },
  });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

function run(w: World, kind: string, args: Record<string, number | boolean | string>): number | undefined {
  w.step++;
  const r = operationNamed(kind)!.apply(w, args);
  if (!r.ok) throw new Error(`${kind}: ${r.detail}`);
  w.journal.clear();
  return r.value;
}

/** The ordinary path: one process writes `pages` fresh pages of a VMA. */
export function ordinaryPath(huge: boolean, pages: number): ZeroingFigures {
  const w = world(huge, false);
  const g = w.guests[0]!;
  const pid = run(w, 'guest.spawn', { guest: 0 })!;
  const vpn = 1024;
  run(w, 'guest.mmap', { guest: 0, pid, vpn, pages, write: true, exec: false, huge: false });
  const host0 = w.frames.zeroings;
  const guest0 = g.zeroings;
  const tables0 = g.tables.size;
  for (let i = 0; i < pages; i++) run(w, 'guest.write', { guest: 0, pid, vpn: vpn + i });
  let host = 0;
  for (const [gfn, o] of g.owners) if (o.kind === 'anon') host += w.frames.clearsOf(0, gfn);
  const guest = g.zeroings - guest0 - (g.tables.size - tables0);
  return fig('ordinary', huge, pages, host, guest, w.frames.zeroings - host0 + g.zeroings - guest0);
}

/** The memctl path: the guest writes `pages` pages of its memctl region, first touch each. */
export function memctlPath(huge: boolean, pages: number): ZeroingFigures {
  const w = world(huge, true);
  const g = w.guests[0]!;
  const m = memctlOf(g)!;
  const host0 = w.frames.zeroings;
  const guest0 = g.zeroings;
  for (let i = 0; i < pages; i++) run(w, 'memctl.write', { guest: 0, gfn: m.region.gfn + i });
  let host = 0;
  for (let i = 0; i < pages; i++) host += w.frames.clearsOf(0, m.region.gfn + i);
  return fig('memctl', huge, pages, host, g.zeroings - guest0, w.frames.zeroings - host0 + g.zeroings - guest0);
}

/**
 * The 1 GiB path: a process maps the region with a 1 GiB guest page, writes `pages` pages (at
 * most one 2 MiB host page's worth), DONTNEEDs that host page and writes them again.
 */
export function memctlGigaPath(huge: boolean, pages: number): ZeroingFigures {
  if (pages > FRAMES_PER_2M) throw new Error('at most one 2 MiB host page');
  const w = world(huge, true, 'giga');
  const g = w.guests[0]!;
  const m = memctlOf(g)!;
  const pid = run(w, 'guest.spawn', { guest: 0 })!;
  const vpn = FRAMES_PER_1G;
  run(w, 'memctl.mmap', { guest: 0, pid, vpn, write: true });
  const host0 = w.frames.zeroings;
  const guest0 = g.zeroings;
  const tables0 = g.tables.size;
  for (let i = 0; i < pages; i++) run(w, 'guest.write', { guest: 0, pid, vpn: vpn + i });
  run(w, 'memctl.request', { guest: 0, func: 'DONTNEED', gfn: m.region.gfn, pages: FRAMES_PER_2M });
  for (let i = 0; i < pages; i++) run(w, 'guest.write', { guest: 0, pid, vpn: vpn + i });
  let host = 0;
  for (let i = 0; i < pages; i++) host += w.frames.clearsOf(0, m.region.gfn + i);
  const handOuts = 2 * pages;
  const guest = g.zeroings - guest0 - (g.tables.size - tables0);
  return fig('memctl-1g', huge, handOuts, host, guest, w.frames.zeroings - host0 + g.zeroings - guest0);
}

function fig(path: ZeroingFigures['path'], huge: boolean, pages: number, host: number, guest: number, raw: number): ZeroingFigures {
  return { path, hostBacking: huge ? '2M' : '4K', pages, hostPerPage: host / pages, guestPerPage: guest / pages, totalPerPage: (host + guest) / pages, rawPerPage: raw / pages };
}

export function measureZeroings(pages = 512): ZeroingFigures[] {
  const giga = Math.min(pages, FRAMES_PER_2M);
  return [ordinaryPath(false, pages), memctlPath(false, pages), memctlGigaPath(false, giga), ordinaryPath(true, pages), memctlPath(true, pages), memctlGigaPath(true, giga)];
}

if (require.main === module) {
  const rows = measureZeroings();
  console.log('path      host-backing  pages  host/page  guest/page  zeroings/page  (raw, tables incl.)');
  for (const r of rows)
    console.log(`${r.path.padEnd(9)} ${r.hostBacking.padEnd(13)} ${String(r.pages).padStart(5)}  ${r.hostPerPage.toFixed(3).padStart(9)}  ${r.guestPerPage.toFixed(3).padStart(10)}  ${r.totalPerPage.toFixed(3).padStart(13)}  ${r.rawPerPage.toFixed(3).padStart(8)}`);
}
