/**
 * The THP mechanism's own parts (model/mechanisms/thp.ts): the settle phase drops khugepaged's
 * candidates on both sides (khugepaged goes to sleep: nothing of a scan stays in flight), and
 * the collapse barrier that keeps host khugepaged from repopulating memory the guest gave back.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { FRAMES_PER_2M } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { collapseBarriers } from './host-khugepaged';
import { thpState } from './state';

const BASE = 4 * FRAMES_PER_2M;

function runner(guests = 1): Runner {
  const guest = { frames: 2 ** 13, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: true };
  const config: ModelConfig = { hostFrames: 2 ** 15, guests: Array.from({ length: guests }, () => guest), faults: [], options: { 'thp.use-zero-page': false } };
  return new Runner(config, { check: 'incremental' });
}

/** A guest process whose huge page was split, then scanned by khugepaged in the guest and by the host's. */
function scannedBothSides(r: Runner, guest: number): void {
  const g = r.world.guests[guest]!;
  r.apply({ kind: 'guest.spawn', args: { guest } });
  r.apply({ kind: 'guest.mmap', args: { guest, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true } });
  for (const off of [0, 7]) r.apply({ kind: 'guest.write', args: { guest, pid: 1, vpn: BASE + off } });
  r.apply({ kind: 'thp.split', args: { guest, pid: 1, vpn: BASE } });
  r.apply({ kind: 'thp.khugepaged.scan', args: { guest, pid: 1, vpn: BASE } });
  const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE)!.gfn;
  r.apply({ kind: 'thp.host.split', args: { guest, gfn } });
  r.apply({ kind: 'thp.host.scan', args: { guest, gfn } });
  expect(r.outcomes.every((o) => o)).toBe(true);
}

describe('settle: khugepaged sleeps', () => {
  test('every candidate, guest side and host side, of every guest is dropped and counted as aborted', () => {
    const r = runner(2);
    for (const guest of [0, 1]) scannedBothSides(r, guest);
    const s = thpState(r.world);
    expect([...s.guestCandidate.keys()]).toEqual([0, 1]);
    expect([...s.hostCandidate.keys()]).toEqual([0, 1]);
    const thp = r.world.transitions.get('thp')!;
    expect(thp.get('scanned->aborted')).toBeUndefined();
    expect(thp.get('host-scanned->aborted')).toBeUndefined();
    expect(r.finish()).toBeNull();
    expect(s.guestCandidate.size).toBe(0);
    expect(s.hostCandidate.size).toBe(0);
    expect(thp.get('scanned->aborted')).toBe(2);
    expect(thp.get('host-scanned->aborted')).toBe(2);
    expect(thp.get('scanned->collapsed')).toBeUndefined();
    expect(thp.get('host-scanned->host-collapsed')).toBeUndefined();
  });

  test('with nothing scanned, settling aborts nothing', () => {
    const r = runner();
    r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    expect(r.finish()).toBeNull();
    expect(r.world.transitions.get('thp')?.get('scanned->aborted')).toBeUndefined();
    expect(r.world.transitions.get('thp')?.get('host-scanned->aborted')).toBeUndefined();
  });
});

describe('host khugepaged leaves alone what the guest gave back', () => {
  /** A guest without THP of its own (no unit is 2 MiB backed), each step's outcome recorded with its detail. */
  function recording(options: ModelConfig['options']): { r: Runner; out: string[] } {
    const out: string[] = [];
    const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
    const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults: [], options }, { check: 'incremental', onStep: (_s, _op, res) => out.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
    r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
    return { r, out };
  }

  /** Host scan of the unit of gfn: what it answered. */
  function hostScan(r: Runner, out: string[], gfn: number): string {
    out.length = 0;
    r.apply({ kind: 'thp.host.scan', args: { guest: 0, gfn } });
    return out[0]!;
  }

  test('a page the CMM driver holds for the host is a barrier', () => {
    const { r, out } = recording({});
    const g = r.world.guests[0]!;
    r.apply({ kind: 'cmm.alloc', args: { guest: 0, pages: 1 } });
    const gfn = [...g.owners.entries()].find(([, o]) => o.kind === 'cmm')![0];
    expect(hostScan(r, out, gfn)).toBe(`busy: host khugepaged: g0 gfn 0x${(gfn - (gfn % FRAMES_PER_2M)).toString(16)}: gfn 0x${gfn.toString(16)}: a page the CMM driver gave the host`);
    expect(thpState(r.world).hostCandidate.size).toBe(0);
    expect(r.violation).toBeNull();
  });

  test('a free block isolated for a report in flight is a barrier (the reported block after it: collapse-barriers.test.ts)', () => {
    const { r, out } = recording({ 'free-page-reporting.order': 5 });
    const g = r.world.guests[0]!;
    r.apply({ kind: 'fpr.work', args: { guest: 0 } });
    const gfn = [...g.owners.entries()].find(([, o]) => o.kind === 'reporting')?.[0];
    expect(gfn).toBeDefined();
    expect(hostScan(r, out, gfn!)).toMatch(/^busy: .*: a free block being reported$/);
    expect(thpState(r.world).hostCandidate.size).toBe(0);
    expect(r.violation).toBeNull();
  });

  test('a reported free block of MAX_PAGE_ORDER spans two units: every gfn of both is a barrier, the second found through the head in the first', () => {
    // Reporting from order 5 reports every free block of order 5 or more, MAX_PAGE_ORDER ones too.
    const { r, out } = recording({ 'free-page-reporting.order': 5 });
    const g = r.world.guests[0]!;
    for (let i = 0; i < 50 && !out.includes('invalid: g0: no reporting work queued'); i++) {
      r.apply({ kind: 'fpr.work', args: { guest: 0 } });
      r.apply({ kind: 'fpr.device.report', args: { guest: 0, discard: true } });
    }
    const block = [...g.buddy.freeBlocksAll()].find((b) => b.order === 10 && g.buddy.isReported(b.pfn));
    expect(block).toBeDefined();
    for (const base of [block!.pfn, block!.pfn + FRAMES_PER_2M]) {
      const barriers = collapseBarriers(r.world, g, base);
      expect(barriers).toHaveLength(FRAMES_PER_2M);
      expect(barriers.every((b) => b.endsWith(': a reported free block'))).toBe(true);
      expect(hostScan(r, out, base + 3)).toBe(`busy: host khugepaged: g0 gfn 0x${base.toString(16)}: gfn 0x${base.toString(16)}: a reported free block`);
    }
    expect(r.violation).toBeNull();
  });
});
