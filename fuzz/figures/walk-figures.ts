/**
 * Walk costs with and without huge pages on each side, measured on the model (Bhargava et al.,
 * ASPLOS 2008: a nested walk costs (g+1)(h+1)-1 memory references; a 2 MiB leaf ends the guest
 * walk one level early, a 2 MiB EPT leaf ends each EPT walk one level early).
 *
 * For each paging depth (guest levels / EPT levels) and each combination of guest page size
 * and host page size, a process maps and touches a page, the host's backing is made 4 KiB
 * where the case asks (thp.host.split of every unit the walk goes through), the TLB is
 * flushed, and the page is read once more: the references of that cold walk are the figure,
 * printed next to the formula's.
 *
 *   npx tsx fuzz/figures/walk-figures.ts
 */
import { FRAMES_PER_2M } from '../../model/constants';
import { createWorld, operationNamed } from '../../model/registry';
import { isRefusal } from '../../model/result';
import type { World } from '../../model/world';
import { uniformWalkRefs } from '../../model/mmu/walk';

export interface WalkFigure {
  readonly guestLevels: 4 | 5;
  readonly eptLevels: 4 | 5;
  readonly guestPage: '4K' | '2M';
  readonly hostPage: '4K' | '2M';
  /** References of the measured cold walk. */
  readonly measured: number;
  /** (g+1)(h+1)-1 with g, h the levels walked (one fewer for a 2 MiB leaf). */
  readonly formula: number;
}

const VPN = 8 * FRAMES_PER_2M;

function apply(w: World, kind: string, args: Record<string, number | boolean | string>): void {
  const r = operationNamed(kind)!.apply(w, args);
  if (!r.ok) throw new Error(`${kind}: ${r.detail}`);
  w.journal.clear();
}

/** The references of a cold walk to one page in the given configuration. */
export function measureWalk(guestLevels: 4 | 5, eptLevels: 4 | 5, guestPage: '4K' | '2M', hostPage: '4K' | '2M'): number {
  const hugePages = guestPage === '2M' || hostPage === '2M';
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 13, guestLevels, eptLevels, hugePages }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  const g = w.guests[0]!;
  apply(w, 'guest.spawn', { guest: 0 });
  const huge = guestPage === '2M';
  apply(w, 'guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: FRAMES_PER_2M, write: true, exec: false, huge });
  apply(w, 'guest.write', { guest: 0, pid: 1, vpn: VPN });
  if (hostPage === '4K' && hugePages) for (const unit of [...g.hugeBacked]) apply(w, 'thp.host.split', { guest: 0, gfn: unit * FRAMES_PER_2M });
  apply(w, 'guest.read', { guest: 0, pid: 1, vpn: VPN }); // fault in whatever the split left unmapped
  apply(w, 'tlb.invept', { guest: 0, global: true });
  const r = operationNamed('guest.read')!.apply(w, { guest: 0, pid: 1, vpn: VPN });
  if (!r.ok) throw new Error(r.detail);
  const walk = w.journal.walks[w.journal.walks.length - 1];
  if (!walk) throw new Error('no walk recorded');
  return walk.refs;
}

export function walkFigures(): WalkFigure[] {
  const out: WalkFigure[] = [];
  for (const [gl, hl] of [[4, 4], [4, 5], [5, 4], [5, 5]] as const)
    for (const guestPage of ['4K', '2M'] as const)
      for (const hostPage of ['4K', '2M'] as const) {
        const g = guestPage === '2M' ? gl - 1 : gl;
        const h = hostPage === '2M' ? hl - 1 : hl;
        out.push({ guestLevels: gl, eptLevels: hl, guestPage, hostPage, measured: measureWalk(gl, hl, guestPage, hostPage), formula: uniformWalkRefs(g, h) });
      }
  return out;
}

/**
 * The same page through khugepaged: split on both sides (4 KiB / 4 KiB), then collapsed in
 * the guest, then collapsed on the host. Returns the cold-walk references at each stage.
 */
export function measureCollapses(guestLevels: 4 | 5, eptLevels: 4 | 5): { split: number; guestCollapsed: number; bothCollapsed: number } {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 13, guestLevels, eptLevels, hugePages: true }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  const g = w.guests[0]!;
  const cold = (): number => {
    apply(w, 'guest.read', { guest: 0, pid: 1, vpn: VPN });
    apply(w, 'tlb.invept', { guest: 0, global: true });
    const r = operationNamed('guest.read')!.apply(w, { guest: 0, pid: 1, vpn: VPN });
    if (!r.ok) throw new Error(r.detail);
    const refs = w.journal.walks[w.journal.walks.length - 1]!.refs;
    w.journal.clear();
    return refs;
  };
  apply(w, 'guest.spawn', { guest: 0 });
  apply(w, 'guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: FRAMES_PER_2M, write: true, exec: false, huge: true });
  apply(w, 'guest.write', { guest: 0, pid: 1, vpn: VPN });
  apply(w, 'thp.split', { guest: 0, pid: 1, vpn: VPN });
  const units = [...g.hugeBacked];
  for (const unit of units) apply(w, 'thp.host.split', { guest: 0, gfn: unit * FRAMES_PER_2M });
  const split = cold();
  apply(w, 'thp.khugepaged.scan', { guest: 0, pid: 1, vpn: VPN });
  apply(w, 'thp.khugepaged.collapse', { guest: 0 });
  // The new huge page landed in an untouched unit the host backs with 2 MiB: split it too, so
  // that this stage is guest 2 MiB over host 4 KiB only.
  for (const unit of [...g.hugeBacked]) apply(w, 'thp.host.split', { guest: 0, gfn: unit * FRAMES_PER_2M });
  const guestCollapsed = cold();
  // Every unit the walk goes through (tables and the data's new home) collapsed on the host.
  const touched = new Set([...g.backing.keys()].map((gfn) => Math.floor(gfn / FRAMES_PER_2M)));
  for (const unit of touched) {
    if (g.hugeBacked.has(unit)) continue;
    if (operationNamed('thp.host.scan')!.apply(w, { guest: 0, gfn: unit * FRAMES_PER_2M }).ok) apply(w, 'thp.host.collapse', { guest: 0 });
    w.journal.clear();
  }
  return { split, guestCollapsed, bothCollapsed: cold() };
}

if (require.main === module) {
  console.log('nested walk cost (memory references of one cold TLB miss), measured on the model');
  console.log('levels g/h  guest page  host page  measured  (g+1)(h+1)-1');
  for (const f of walkFigures())
    console.log(`${`${f.guestLevels}/${f.eptLevels}`.padEnd(11)} ${f.guestPage.padEnd(11)} ${f.hostPage.padEnd(10)} ${String(f.measured).padStart(8)}  ${String(f.formula).padStart(12)}`);
  console.log('');
  console.log('one page through khugepaged: split on both sides, collapsed in the guest, then on the host');
  console.log('levels g/h  4K/4K  guest collapsed  both collapsed');
  for (const [gl, hl] of [[4, 4], [4, 5], [5, 4], [5, 5]] as const) {
    const c = measureCollapses(gl, hl);
    console.log(`${`${gl}/${hl}`.padEnd(11)} ${String(c.split).padStart(5)}  ${String(c.guestCollapsed).padStart(15)}  ${String(c.bothCollapsed).padStart(14)}`);
  }
}
