/**
 * Transparent huge pages, scenario by scenario: the huge zero page on a read fault and its
 * copy-on-write, a split that keeps every translation, khugepaged collapsing a nearly empty
 * range (only zeroes where nothing was), the host side's split and collapse inside the
 * invalidation protocol, and each injected fault caught by the property it names.
 */
import { Runner } from '../../fuzz/run';
import { compactionState } from '../compaction/state';
import type { ModelConfig } from '../config';
import { FRAMES_PER_2M } from '../constants';
import { ZERO, sameContent } from '../content';
import { peekGuestPhysical, peekLeaf } from '../mmu/peek';
import { khugepagedCollapse, khugepagedScan } from './khugepaged';
import { operationNamed } from '../registry';
import { thpState } from './state';

const BASE = 4 * FRAMES_PER_2M;

function config(faults: string[], zeroPage = true, hugePages = true): ModelConfig {
  return { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 13, guestLevels: 4, eptLevels: 4, hugePages }], faults, options: { 'thp.use-zero-page': zeroPage } };
}

function runner(faults: string[], properties?: string[], zeroPage = true): Runner {
  const r = new Runner(config(faults, zeroPage), { check: 'incremental', properties: properties ? new Set(properties) : undefined });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  for (const pid of [1, 2]) r.apply({ kind: 'guest.mmap', args: { guest: 0, pid, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true } });
  return r;
}

function leafLevel(r: Runner, pid: number, vpn: number): number | undefined {
  const g = r.world.guests[0]!;
  return peekLeaf(r.world, g, g.processes.get(pid)!, vpn)?.level;
}

describe('the huge zero page', () => {
  test('a read maps it; a write splits it to 4 KiB zero pages and copies only the written page', () => {
    const r = runner([]);
    const g = r.world.guests[0]!;
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + 5 } });
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 2, vpn: BASE + 5 } });
    const hz = thpState(r.world).zero2m.get(0)!;
    expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE)!.gfn).toBe(hz);
    expect(leafLevel(r, 1, BASE)).toBe(2);
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + 5 } });
    expect(leafLevel(r, 1, BASE + 5)).toBe(1);
    const z4 = thpState(r.world).zero4k.get(0)!;
    expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + 6)!.gfn).toBe(z4);
    expect(g.owners.get(peekLeaf(r.world, g, g.processes.get(1)!, BASE + 5)!.gfn)?.kind).toBe('anon');
    // The other process still maps the huge zero page, reading zero.
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 2, vpn: BASE + 5 } });
    expect(peekLeaf(r.world, g, g.processes.get(2)!, BASE + 5)!.gfn).toBe(hz + 5);
    expect(sameContent(peekGuestPhysical(r.world, g, hz + 5), ZERO)).toBe(true);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('a second copy-on-write of the huge zero page (another process) reuses the one 4 KiB zero page', () => {
    const r = runner([]);
    const g = r.world.guests[0]!;
    for (const pid of [1, 2]) r.apply({ kind: 'guest.read', args: { guest: 0, pid, vpn: BASE } });
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + 1 } });
    const z4 = thpState(r.world).zero4k.get(0)!;
    const zeroPages = [...g.owners.values()].filter((o) => o.kind === 'zero-page').length;
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 2, vpn: BASE + 2 } });
    expect(thpState(r.world).zero4k.get(0)).toBe(z4);
    expect([...g.owners.values()].filter((o) => o.kind === 'zero-page').length).toBe(zeroPages);
    expect(peekLeaf(r.world, g, g.processes.get(2)!, BASE + 3)!.gfn).toBe(z4);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('thp-huge-zero-writable (CVE-2017-1000405) is caught by thp-zero-page-intact', () => {
    const trace = (faults: string[]) => {
      const r = runner(faults, ['thp-zero-page-intact']);
      r.apply({ kind: 'guest.read', args: { guest: 0, pid: 2, vpn: BASE } });
      r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE } });
      r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + 1 } });
      return r;
    };
    expect(trace(['thp-huge-zero-writable']).violation).toMatchObject({ property: 'thp-zero-page-intact', kind: 'zero-page-written' });
    const ok = trace([]);
    expect(ok.violation).toBeNull();
    expect(ok.finish()).toBeNull();
  });
});

describe('split and collapse of guest huge pages', () => {
  /** A huge page written in a few places, split, some pages discarded, then scanned. */
  function prepared(faults: string[], properties?: string[]): Runner {
    const r = runner(faults, properties, false);
    for (const off of [0, 3, 300]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
    expect(leafLevel(r, 1, BASE)).toBe(2);
    r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
    expect(leafLevel(r, 1, BASE)).toBe(1);
    // MADV_DONTNEED all but three pages: a nearly empty range (max_ptes_none 511 lets it collapse).
    r.apply({ kind: 'thp.dontneed', args: { guest: 0, pid: 1, vpn: BASE + 4, pages: 296 } });
    r.apply({ kind: 'thp.dontneed', args: { guest: 0, pid: 1, vpn: BASE + 301, pages: FRAMES_PER_2M - 301 } });
    r.apply({ kind: 'thp.dontneed', args: { guest: 0, pid: 1, vpn: BASE + 1, pages: 2 } });
    return r;
  }

  test('split keeps every translation; collapse of a nearly empty range maps one PMD, zeroes elsewhere', () => {
    const r = prepared([]);
    r.apply({ kind: 'thp.khugepaged.scan', args: { guest: 0, pid: 1, vpn: BASE } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    r.apply({ kind: 'thp.khugepaged.collapse', args: { guest: 0 } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    expect(leafLevel(r, 1, BASE)).toBe(2);
    for (const off of [0, 1, 3, 300, 511]) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + off } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('a page discarded between the scan and the collapse comes back as zero, not as its old data', () => {
    const trace = (faults: string[], properties?: string[]) => {
      const r = prepared(faults, properties);
      r.apply({ kind: 'thp.khugepaged.scan', args: { guest: 0, pid: 1, vpn: BASE } });
      r.apply({ kind: 'thp.dontneed', args: { guest: 0, pid: 1, vpn: BASE + 3, pages: 1 } });
      r.apply({ kind: 'thp.khugepaged.collapse', args: { guest: 0 } });
      r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + 3 } });
      return r;
    };
    expect(trace(['thp-collapse-uses-stale-scan'], ['thp-translation-equivalent']).violation).toMatchObject({ property: 'thp-translation-equivalent', kind: 'resurrected-content' });
    expect(trace(['thp-collapse-uses-stale-scan'], ['thp-collapse-stays-in-bounds']).violation).toMatchObject({ property: 'thp-collapse-stays-in-bounds', kind: 'foreign-source' });
    expect(trace(['thp-collapse-uses-stale-scan'], ['read-returns-last-write']).violation).toMatchObject({ property: 'read-returns-last-write' });
    const ok = trace([]);
    expect(ok.violation).toBeNull();
    expect(ok.finish()).toBeNull();
  });

  test('thp-collapse-maps-ptes is caught by thp-walk-cost on the next walk', () => {
    const trace = (faults: string[]) => {
      const r = prepared(faults, ['thp-walk-cost']);
      r.apply({ kind: 'thp.khugepaged.scan', args: { guest: 0, pid: 1, vpn: BASE } });
      r.apply({ kind: 'thp.khugepaged.collapse', args: { guest: 0 } });
      r.apply({ kind: 'tlb.invept', args: { guest: 0, global: true } });
      r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + 7 } });
      return r;
    };
    expect(trace(['thp-collapse-maps-ptes']).violation).toMatchObject({ property: 'thp-walk-cost', kind: 'huge-page-walked-at-4k' });
    expect(trace([]).violation).toBeNull();
  });

  test('thp-split-without-invalidate leaves a 2 MiB TLB entry over 4 KiB PTEs (tlb-coherence)', () => {
    const trace = (faults: string[]) => {
      const r = runner(faults, ['tlb-coherence'], false);
      r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE } });
      r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
      return r;
    };
    expect(trace(['thp-split-without-invalidate']).violation).toMatchObject({ property: 'tlb-coherence', kind: 'oversized-entry' });
    expect(trace([]).violation).toBeNull();
  });
});

describe('the host side', () => {
  /** Guest memory of one process backed by 4 KiB host frames (the unit was split). */
  function hostSplit(faults: string[], properties?: string[]): Runner {
    const r = runner(faults, properties, false);
    for (const off of [0, 9, 200]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
    const g = r.world.guests[0]!;
    const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE)!.gfn;
    expect(g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))).toBe(true);
    r.apply({ kind: 'thp.host.split', args: { guest: 0, gfn } });
    expect(g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))).toBe(false);
    for (const off of [0, 9, 200]) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + off } });
    return r;
  }

  test('split then collapse: contents stay, the EPT maps 4 KiB then 2 MiB again', () => {
    const r = hostSplit([]);
    const g = r.world.guests[0]!;
    const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE)!.gfn;
    const l = g.ept.lookup(r.world, gfn);
    expect(l.kind === 'leaf' && l.level).toBe(1);
    r.apply({ kind: 'thp.host.scan', args: { guest: 0, gfn } });
    r.apply({ kind: 'thp.host.collapse', args: { guest: 0 } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    for (const off of [0, 9, 200]) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + off } });
    const l2 = g.ept.lookup(r.world, gfn);
    expect(l2.kind === 'leaf' && l2.level).toBe(2);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('thp-collapse-skips-notifier (f268f6cf875f): KVM keeps the 4 KiB leaves to the freed frames', () => {
    const trace = (faults: string[]) => {
      const r = hostSplit(faults, ['ept-coherence']);
      const g = r.world.guests[0]!;
      const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE)!.gfn;
      r.apply({ kind: 'thp.host.scan', args: { guest: 0, gfn } });
      r.apply({ kind: 'thp.host.collapse', args: { guest: 0 } });
      return r;
    };
    expect(trace(['thp-collapse-skips-notifier']).violation).toMatchObject({ property: 'ept-coherence', kind: 'stale-ept-entry' });
    expect(trace([]).violation).toBeNull();
  });
});

describe("khugepaged's scan: which ranges it leaves alone, and why", () => {
  // The scan refuses with the reason as hugepage_vma_revalidate / hpage_collapse_scan_pmd
  // would give up (SCAN_PMD_NULL, SCAN_PMD_MAPPED, THP disabled), and accepts a range whose
  // empty slots are the 4 KiB zero page (counted like pte_none, max_ptes_none).
  function scan(r: Runner, pid = 1) {
    const g = r.world.guests[0]!;
    return khugepagedScan(r.world, g, g.processes.get(pid)!, BASE);
  }

  test('THP off in the guest, a range never touched (no PTE table), a range already mapped huge: refused, nothing scanned', () => {
    const off = new Runner(config([], true, false), { check: 'incremental' });
    off.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    off.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true } });
    expect(scan(off)).toMatchObject({ ok: false, error: 'busy', detail: expect.stringContaining('THP is off in this guest') });

    const r = runner([], undefined, false);
    expect(scan(r)).toMatchObject({ ok: false, detail: expect.stringContaining('no PTE table (pmd none)') });
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE } });
    expect(leafLevel(r, 1, BASE)).toBe(2);
    expect(scan(r)).toMatchObject({ ok: false, detail: expect.stringContaining('already a huge page') });
    expect(thpState(r.world).guestCandidate.has(0)).toBe(false);
    expect(r.violation).toBeNull();
  });

  test('a collapse revalidates: the process gone or the range unmapped since the scan aborts it and frees the 2 MiB page', () => {
    const prepared = () => {
      const r = runner([], undefined, false);
      for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
      r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
      expect(scan(r)).toMatchObject({ ok: true });
      return r;
    };
    for (const [between, detail] of [
      [{ kind: 'guest.exit', args: { guest: 0, pid: 1 } }, /khugepaged: pid 1 exited/],
      [{ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M } }, /revalidation failed: no VM_HUGEPAGE VMA covers the range/],
    ] as const) {
      const r = prepared();
      const g = r.world.guests[0]!;
      r.apply(between);
      const free = g.buddy.freePages();
      expect(khugepagedCollapse(r.world, g)).toMatchObject({ ok: false, detail: expect.stringMatching(detail) });
      // Nothing collapsed, nothing leaked: the candidate is gone and the buddy has what it had.
      expect(thpState(r.world).guestCandidate.has(0)).toBe(false);
      expect(g.buddy.freePages()).toBe(free);
      expect(r.violation).toBeNull();
    }
  });

  test("a source page whose host frame the host is migrating cannot be read: the collapse aborts, frees the 2 MiB page and leaves the range as it was", () => {
    const r = runner([], undefined, false);
    const g = r.world.guests[0]!;
    const p = g.processes.get(1)!;
    for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
    r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
    expect(scan(r)).toMatchObject({ ok: true });
    const gfn = peekLeaf(r.world, g, p, BASE + 7)!.gfn;
    // Host-side migration moves 4 KiB frames: split the 2 MiB host page backing gfn first.
    if (g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))) r.apply({ kind: 'thp.host.split', args: { guest: 0, gfn } });
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    const [id] = [...compactionState(r.world).active.keys()];
    r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
    expect(compactionState(r.world).active.get(id!)?.stage).toBe('unmapped');
    const free = g.buddy.freePages();
    expect(khugepagedCollapse(r.world, g)).toMatchObject({ ok: false, error: 'retry' });
    expect(thpState(r.world).guestCandidate.has(0)).toBe(false);
    expect(g.buddy.freePages()).toBe(free);
    expect(leafLevel(r, 1, BASE + 7)).toBe(1);
    expect(peekLeaf(r.world, g, p, BASE + 7)!.gfn).toBe(gfn);
    for (let i = 0; i < 3 && compactionState(r.world).active.has(id!); i++) r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + 7 } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('a page of the range locked by a migration (SCAN_PAGE_LOCK), then replaced by its migration entry: the scan refuses both times', () => {
    const r = runner([], undefined, false);
    const g = r.world.guests[0]!;
    for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
    r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
    const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE + 7)!.gfn;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn } });
    expect(scan(r)).toMatchObject({ ok: false, detail: expect.stringContaining('is locked (SCAN_PAGE_LOCK)') });
    const [id] = [...compactionState(r.world).active.keys()];
    r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
    expect(scan(r)).toMatchObject({ ok: false, detail: `khugepaged: g0 pid 1 va 0x${(BASE * 4096).toString(16)}: va 0x${((BASE + 7) * 4096).toString(16)} is under migration` });
    expect(thpState(r.world).guestCandidate.has(0)).toBe(false);
    expect(r.violation).toBeNull();
  });

  test('zero-page PTEs left by a copy-on-write of the huge zero page count as empty: the range collapses with one page of data', () => {
    const r = runner([]);
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE } });
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + 5 } });
    expect(leafLevel(r, 1, BASE)).toBe(1);
    // One exclusive anonymous page; the other 511 slots map the 4 KiB zero page.
    expect(scan(r)).toEqual({ ok: true, value: 1 });
    r.apply({ kind: 'thp.khugepaged.collapse', args: { guest: 0 } });
    expect(r.outcomes[r.outcomes.length - 1]).toBe(true);
    expect(leafLevel(r, 1, BASE)).toBe(2);
    for (const off of [0, 5, 511]) r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + off } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });
});

test("the host's khugepaged scan refuses a unit already backed by a 2 MiB host page, and nothing changes", () => {
  const r = runner([]);
  const g = r.world.guests[0]!;
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE } });
  const unit = [...g.hugeBacked][0]!;
  expect(unit).toBeDefined();
  const hfn = g.backing.get(unit * FRAMES_PER_2M);
  const res = operationNamed('thp.host.scan')!.apply(r.world, { guest: 0, gfn: unit * FRAMES_PER_2M + 3 });
  expect(res).toMatchObject({ ok: false, detail: expect.stringContaining('already 2 MiB backed') });
  expect(g.hugeBacked.has(unit)).toBe(true);
  expect(g.backing.get(unit * FRAMES_PER_2M)).toBe(hfn);
});
