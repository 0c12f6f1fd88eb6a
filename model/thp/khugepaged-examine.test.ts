/**
 * khugepaged's test of a range in the guest (examine, in hpage_collapse_scan_pmd and again under
 * the lock in collapse_huge_page), at the edges the scenario tests leave:
 * - max_ptes_none counts PTEs mapping the zero page as empty, and the sysfs value is read;
 * - the scan only reads the page tables: a range without a PTE table allocates nothing;
 * - a PTE-mapped large folio is not collapsed (the model reaches one only through the
 *   thp-collapse-maps-ptes fault);
 * - under thp-collapse-uses-stale-scan the revalidation checks only the table's structure: a
 *   page locked by a migration since the scan is collapsed anyway.
 */
import { Runner } from '../../fuzz/run';
import { compactionState } from '../compaction/state';
import { FRAMES_PER_2M } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { khugepagedCollapse, khugepagedScan } from './khugepaged';

const BASE = 4 * FRAMES_PER_2M;

/** One process with a VM_HUGEPAGE VMA over the 2 MiB range at BASE. */
function runner(options: Record<string, number | boolean>, faults: string[] = []): Runner {
  const guest = { frames: 2 ** 13, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: true };
  const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults, options }, { check: 'incremental' });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true } });
  return r;
}

function scan(r: Runner) {
  const g = r.world.guests[0]!;
  return khugepagedScan(r.world, g, g.processes.get(1)!, BASE);
}

const va = (vpn: number) => `0x${(vpn * 4096).toString(16)}`;
const hex = (n: number) => `0x${n.toString(16)}`;

test('max_ptes_none counts the PTEs that map the zero page as empty, against the configured limit', () => {
  for (const [limit, expected] of [[511, { ok: true, value: 1 }], [256, { ok: false, error: 'busy' }]] as const) {
    const r = runner({ 'thp.use-zero-page': true, 'thp.max-ptes-none': limit });
    // A read maps the huge zero page; a write splits it: one anonymous page, 511 zero-page PTEs.
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE } });
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + 5 } });
    const got = scan(r);
    expect(got).toMatchObject(expected);
    if (!got.ok) expect(got.detail).toBe(`khugepaged: g0 pid 1 va ${va(BASE)}: 511 none or zero PTEs > max_ptes_none 256`);
    expect(r.violation).toBeNull();
  }
});

test('a range without a PTE table is refused, and the scan allocates no table for it', () => {
  // Untouched (no table under the top level), and zapped (MADV_DONTNEED of a whole huge page
  // clears its PMD: the PMD table is there, the entry is none).
  for (const zapped of [false, true]) {
    const r = runner({ 'thp.use-zero-page': false });
    const g = r.world.guests[0]!;
    if (zapped) {
      r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE } });
      r.apply({ kind: 'thp.dontneed', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M } });
      expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE)).toBeNull();
    }
    const free = g.buddy.freePages();
    const tables = g.tables.size;
    expect(scan(r)).toEqual({ ok: false, error: 'busy', detail: `khugepaged: g0 pid 1 va ${va(BASE)}: no PTE table (pmd none)` });
    expect(g.buddy.freePages()).toBe(free);
    expect(g.tables.size).toBe(tables);
    expect(r.violation).toBeNull();
  }
});

test('a large folio mapped by PTEs (left by thp-collapse-maps-ptes) is not collapsed again', () => {
  const r = runner({ 'thp.use-zero-page': false }, ['thp-collapse-maps-ptes']);
  const g = r.world.guests[0]!;
  for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
  r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
  expect(scan(r)).toEqual({ ok: true, value: FRAMES_PER_2M });
  const collapsed = khugepagedCollapse(r.world, g);
  if (!collapsed.ok) throw new Error(collapsed.detail);
  const huge = collapsed.value!;
  // The collapsed page is mapped by 512 PTEs, each subpage at its place.
  expect(peekLeaf(r.world, g, g.processes.get(1)!, BASE + 7)).toMatchObject({ level: 1, gfn: huge + 7 });
  expect(scan(r)).toEqual({ ok: false, error: 'busy', detail: `khugepaged: g0 pid 1 va ${va(BASE)}: gfn ${hex(huge)} belongs to a large folio mapped by PTEs` });
});

test('under thp-collapse-uses-stale-scan a page a migration took after the scan is collapsed anyway; without the fault the revalidation refuses it', () => {
  // The migration has locked the page (begin), or has replaced its PTE by a migration entry (one step).
  for (const steps of [0, 1])
    for (const stale of [false, true]) {
      const r = runner({ 'thp.use-zero-page': false }, stale ? ['thp-collapse-uses-stale-scan'] : []);
      const g = r.world.guests[0]!;
      for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
      r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
      expect(scan(r)).toEqual({ ok: true, value: FRAMES_PER_2M });
      const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE + 7)!.gfn;
      r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn } });
      const [id] = [...compactionState(r.world).active.keys()];
      for (let i = 0; i < steps; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
      expect(compactionState(r.world).active.get(id!)?.stage).toBe(steps === 0 ? 'locked' : 'unmapped');
      const why = steps === 0 ? `gfn ${hex(gfn)} is locked (SCAN_PAGE_LOCK)` : `va ${va(BASE + 7)} is under migration`;
      const got = khugepagedCollapse(r.world, g);
      if (stale) expect(got.ok).toBe(true);
      else expect(got).toEqual({ ok: false, error: 'busy', detail: `khugepaged: revalidation failed: ${why}` });
    }
});

test('only anonymous pages are taken (SCAN_PAGE_ANON): a frame of another kind mapped in the range stops the scan', () => {
  // No operation maps one there (the model's file, DAX and memctl VMAs are never VM_HUGEPAGE),
  // so the owner is changed by hand: the check stands for a mapping a bug left behind.
  const r = runner({ 'thp.use-zero-page': false });
  const g = r.world.guests[0]!;
  for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
  r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
  const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE + 7)!.gfn;
  g.setOwner(gfn, { kind: 'kernel', alloc: 0 });
  expect(scan(r)).toMatchObject({ ok: false, error: 'busy', detail: expect.stringContaining(`: va ${va(BASE + 7)} maps gfn ${hex(gfn)}: `) });
});

test("the scan refuses while the host is moving the range's PTE table (it cannot read it), and goes through once the move is done", () => {
  const r = runner({ 'thp.use-zero-page': false });
  const g = r.world.guests[0]!;
  for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + off } });
  r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
  const pt = [...g.tables].find(([, t]) => t.pid === 1 && t.level === 1 && t.vpnBase === BASE)![0];
  // Host-side migration moves 4 KiB frames: split the 2 MiB host page backing the table first.
  r.apply({ kind: 'thp.host.split', args: { guest: 0, gfn: pt } });
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn: pt } });
  const [id] = [...compactionState(r.world).active.keys()];
  r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
  expect(compactionState(r.world).active.get(id!)?.stage).toBe('unmapped');
  expect(scan(r)).toMatchObject({ ok: false, error: 'busy', detail: expect.stringContaining(`khugepaged: g0 pid 1 va ${va(BASE)}: `) });
  for (let i = 0; i < 2; i++) r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
  expect(compactionState(r.world).finished.get(id!)?.stage).toBe('done');
  expect(scan(r)).toEqual({ ok: true, value: FRAMES_PER_2M });
  expect(r.violation).toBeNull();
});

test('under thp-collapse-uses-stale-scan the collapse still needs the range: unmapped since the scan, it is refused', () => {
  const r = runner({ 'thp.use-zero-page': false }, ['thp-collapse-uses-stale-scan']);
  const g = r.world.guests[0]!;
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE } });
  r.apply({ kind: 'thp.split', args: { guest: 0, pid: 1, vpn: BASE } });
  expect(scan(r)).toEqual({ ok: true, value: FRAMES_PER_2M });
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M } });
  expect(khugepagedCollapse(r.world, g)).toEqual({ ok: false, error: 'busy', detail: 'khugepaged: revalidation failed: no VM_HUGEPAGE VMA covers the range' });
});
