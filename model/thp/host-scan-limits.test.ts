/**
 * Host khugepaged's scan and the host split at their limits (mm/khugepaged.c
 * hpage_collapse_scan_pmd): a unit a reclaim is writing out is left alone, and only that unit
 * (the reclaim's range [gfn, gfn + frames) against the unit's [base, base + 512)); the last unit
 * of guest memory is a unit like any other, nothing past it is; max_ptes_none (511) and
 * max_ptes_swap (64) are the largest counts still collapsed (the subpages nothing backed are
 * cleared, one host clear each); a frame locked by a host migration
 * is a barrier; the operations refuse a gfn past guest memory.
 * And the scan's owner check and the collapse itself: a gfn backed by a frame the ledger gives
 * to anything but this gfn stops the scan; the collapse allocates first, compacting the host on
 * demand (not proactively), records each frame as khugepaged's collapse, and under its two
 * faults copies the scan's frames (caught on the host side too) or changes the mapping with no
 * invalidation at all.
 */
import { Runner } from '../../fuzz/run';
import { FRAMES_PER_2M } from '../constants';
import { resolveBacking } from '../host/ept-fault';
import { operationNamed } from '../registry';
import { hostKhugepagedScan } from './host-khugepaged';
import { MAX_PTES_SWAP_DEFAULT, thpState } from './state';
import { describeOwner } from '../host/frames';
import { compactionState } from '../compaction/state';
import { exhaustHost } from '../../fuzz/testing/scenario';

const FRAMES = 2 ** 12;
const UNIT = 2;
const BASE = UNIT * FRAMES_PER_2M;

/** Each step's outcome recorded as 'ok' or 'code: detail'. */
function recording(hugePages = false, faults: string[] = [], options: Record<string, number> = {}): { r: Runner; out: string[] } {
  const out: string[] = [];
  const guest = { frames: FRAMES, guestLevels: 4 as const, eptLevels: 4 as const, hugePages };
  const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults, options }, { check: 'incremental', onStep: (_s, _op, res) => out.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  return { r, out };
}

function back(r: Runner, gfns: readonly number[]): void {
  const g = r.world.guests[0]!;
  for (const gfn of gfns) expect(typeof resolveBacking(r.world, g, gfn)).toBe('object');
  for (const gfn of gfns) expect(g.backing.has(gfn)).toBe(true);
}

function last(r: Runner, out: string[], kind: string, args: Record<string, number | string>): string {
  r.apply({ kind, args: { guest: 0, ...args } });
  return out[out.length - 1]!;
}

describe('a reclaim in flight', () => {
  test("blocks the scan of its own unit only: the gfns just outside the unit on either side don't", () => {
    for (const [reclaimed, blocked] of [[BASE - 1, false], [BASE, true], [BASE + FRAMES_PER_2M - 1, true], [BASE + FRAMES_PER_2M, false]] as const) {
      const { r, out } = recording();
      back(r, [BASE - 1, BASE, BASE + FRAMES_PER_2M - 1, BASE + FRAMES_PER_2M]);
      expect(last(r, out, 'host.reclaim.begin', { gfn: reclaimed })).toBe('ok');
      const scan = last(r, out, 'thp.host.scan', { gfn: BASE + 7 });
      if (blocked) expect(scan).toBe(`busy: host khugepaged: g0 gfn 0x${BASE.toString(16)}: a reclaim is in flight`);
      else expect(scan).toBe('ok');
      expect(thpState(r.world).hostCandidate.has(0)).toBe(!blocked);
      expect(r.violation).toBeNull();
    }
  });

  test('begun after the scan, fails the collapse\'s revalidation: the 2 MiB block goes back, the unit stays 4 KiB', () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    back(r, [BASE, BASE + 1]);
    expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe('ok');
    expect(last(r, out, 'host.reclaim.begin', { gfn: BASE + 1 })).toBe('ok');
    const free = r.world.hostBuddy.freePages();
    expect(last(r, out, 'thp.host.collapse', {})).toBe('busy: host khugepaged: revalidation failed: a reclaim is in flight');
    expect(r.world.hostBuddy.freePages()).toBe(free);
    expect(g.hugeBacked.has(UNIT)).toBe(false);
    expect(thpState(r.world).hostCandidate.has(0)).toBe(false);
    expect(r.world.transitions.get('thp')?.get('host-scanned->aborted')).toBe(1);
    expect(r.violation).toBeNull();
  });

  test('of a 2 MiB backed unit blocks the host split of that unit, not of its neighbours', () => {
    for (const [reclaimedUnit, blocked] of [[UNIT - 1, false], [UNIT, true], [UNIT + 1, false]] as const) {
      const { r, out } = recording(true);
      const g = r.world.guests[0]!;
      back(r, [BASE - 1, BASE, BASE + FRAMES_PER_2M]);
      for (const u of [UNIT - 1, UNIT, UNIT + 1]) expect(g.hugeBacked.has(u)).toBe(true);
      expect(last(r, out, 'host.reclaim.begin', { gfn: reclaimedUnit * FRAMES_PER_2M })).toBe('ok');
      const split = last(r, out, 'thp.host.split', { gfn: BASE + 3 });
      if (blocked) expect(split).toBe('busy: g0: a reclaim of this unit is in flight');
      else expect(split).toBe('ok');
      expect(g.hugeBacked.has(UNIT)).toBe(blocked);
      expect(r.violation).toBeNull();
    }
  });
});

describe('the edges of guest memory', () => {
  test('the last unit is scanned like any other; a unit past guest memory is not (the operations refuse the gfn)', () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    const lastBase = FRAMES - FRAMES_PER_2M;
    back(r, [FRAMES - 1]);
    expect(last(r, out, 'thp.host.scan', { gfn: FRAMES - 1 })).toBe('ok');
    expect(thpState(r.world).hostCandidate.get(0)?.unit).toBe(lastBase / FRAMES_PER_2M);
    expect(hostKhugepagedScan(r.world, g, FRAMES)).toMatchObject({ ok: false, error: 'busy', detail: expect.stringContaining(': beyond guest memory') });
    for (const kind of ['thp.host.scan', 'thp.host.split']) {
      expect(operationNamed(kind)!.apply(r.world, { guest: 0, gfn: FRAMES })).toMatchObject({ ok: false, error: 'out-of-range' });
      expect(operationNamed(kind)!.apply(r.world, { guest: 0, gfn: FRAMES - 1 })).not.toMatchObject({ error: 'out-of-range' });
    }
    expect(r.violation).toBeNull();
  });
});

describe('max_ptes_none and max_ptes_swap', () => {
  test('511 gfns never touched are collapsed, all 512 are not', () => {
    const { r, out } = recording();
    expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe(`busy: host khugepaged: g0 gfn 0x${BASE.toString(16)}: 512 none > max_ptes_none 511`);
    back(r, [BASE + 100]);
    expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe('ok');
    const zeroings = r.world.frames.zeroings;
    expect(last(r, out, 'thp.host.collapse', {})).toBe('ok');
    // __collapse_huge_page_copy clears each subpage nothing backed: 511 host clears.
    expect(r.world.frames.zeroings - zeroings).toBe(FRAMES_PER_2M - 1);
    expect(r.world.guests[0]!.hugeBacked.has(UNIT)).toBe(true);
    expect(r.violation).toBeNull();
  });

  test(`${MAX_PTES_SWAP_DEFAULT} host-swapped gfns are swapped back in by the collapse, ${MAX_PTES_SWAP_DEFAULT + 1} are not`, () => {
    for (const swapped of [MAX_PTES_SWAP_DEFAULT, MAX_PTES_SWAP_DEFAULT + 1]) {
      const { r, out } = recording();
      const g = r.world.guests[0]!;
      const gfns = Array.from({ length: swapped + 1 }, (_, i) => BASE + i);
      back(r, gfns);
      for (const gfn of gfns.slice(1)) {
        expect(last(r, out, 'host.reclaim.begin', { gfn })).toBe('ok');
        expect(last(r, out, 'host.reclaim.end', {})).toBe('ok');
      }
      expect(g.hostSwap.size).toBe(swapped);
      const scan = last(r, out, 'thp.host.scan', { gfn: BASE });
      if (swapped > MAX_PTES_SWAP_DEFAULT) expect(scan).toBe(`busy: host khugepaged: g0 gfn 0x${BASE.toString(16)}: ${swapped} swapped > max_ptes_swap ${MAX_PTES_SWAP_DEFAULT}`);
      else {
        expect(scan).toBe('ok');
        expect(last(r, out, 'thp.host.collapse', {})).toBe('ok');
        expect(g.hostSwap.size).toBe(0);
      }
      expect(r.violation).toBeNull();
    }
  });
});

test('a frame of the unit locked by a host migration is a barrier to the scan', () => {
  const { r, out } = recording();
  back(r, [BASE, BASE + 9]);
  expect(last(r, out, 'compaction.migrate.begin', { side: 'host', gfn: BASE + 9 })).toBe('ok');
  const hfn = r.world.guests[0]!.backing.get(BASE + 9)!;
  expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe(`busy: host khugepaged: g0 gfn 0x${BASE.toString(16)}: hfn 0x${hfn.toString(16)} is locked for migration`);
  expect(r.violation).toBeNull();
});

test('thp.max-ptes-none bounds the host scan too: at 0, one gfn never touched stops it', () => {
  const { r, out } = recording(false, [], { 'thp.max-ptes-none': 0 });
  back(r, [BASE]);
  expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe(`busy: host khugepaged: g0 gfn 0x${BASE.toString(16)}: 511 none > max_ptes_none 0`);
});

test("a gfn backed by a frame the ledger gives to anything but that gfn of this guest stops the scan, naming the frame's owner", () => {
  const owners = [
    { kind: 'host-kernel' as const, tag: 'stray' },
    { kind: 'guest-memory' as const, guest: 1, gfn: BASE + 5 },
    { kind: 'guest-memory' as const, guest: 0, gfn: BASE + 6 },
  ];
  for (const owner of owners) {
    const { r } = recording();
    const g = r.world.guests[0]!;
    back(r, [BASE, BASE + 5]);
    const hfn = g.backing.get(BASE + 5)!;
    r.world.frames.setOwner(hfn, owner, r.world.frames.record(hfn)!.alloc);
    expect(hostKhugepagedScan(r.world, g, BASE)).toMatchObject({ ok: false, detail: `host khugepaged: g0 gfn 0x${BASE.toString(16)}: gfn 0x${(BASE + 5).toString(16)} is backed by ${describeOwner(owner)}` });
  }
});

describe('the collapse', () => {
  test("its frames are recorded as khugepaged's collapse; with no 2 MiB block free it compacts the host on demand, not proactively", () => {
    const { r, out } = recording();
    const g = r.world.guests[0]!;
    back(r, [BASE, BASE + 1]);
    expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe('ok');
    expect(last(r, out, 'thp.host.collapse', {})).toBe('ok');
    expect(r.world.frames.record(g.backing.get(BASE + 1)!)?.alloc).toMatchObject({ site: 'khugepaged', reason: 'collapse', order: 9 });
    // Now with every 2 MiB block of the host taken.
    const second = recording();
    back(second.r, [BASE]);
    expect(last(second.r, second.out, 'thp.host.scan', { gfn: BASE })).toBe('ok');
    exhaustHost(second.r, 511);
    const runs = compactionState(second.r.world).runs;
    const before = Math.max(0, ...runs.keys());
    expect(last(second.r, second.out, 'thp.host.collapse', {})).toMatch(/^host-oom: /);
    const run = [...runs.values()].find((x) => x.id > before);
    expect(run).toMatchObject({ side: 'host', order: 9, proactive: false });
  });

  test('under thp-collapse-uses-stale-scan it copies the frame the scan saw though a reclaim took it since: a foreign source on the host side', () => {
    const { r, out } = recording(false, ['thp-collapse-uses-stale-scan']);
    back(r, [BASE, BASE + 1]);
    expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe('ok');
    expect(last(r, out, 'host.reclaim.begin', { gfn: BASE + 1 })).toBe('ok');
    expect(last(r, out, 'host.reclaim.end', {})).toBe('ok');
    expect(r.violation).toBeNull();
    last(r, out, 'thp.host.collapse', {});
    expect(r.violation).toMatchObject({ property: 'thp-collapse-stays-in-bounds', kind: 'foreign-source', subject: `g0 gfn 0x${(BASE + 1).toString(16)} (host-collapse)` });
  });

  test('under thp-collapse-skips-notifier the mapping changes with no invalidation at all: none begun, none ended', () => {
    const { r, out } = recording(false, ['thp-collapse-skips-notifier']);
    const g = r.world.guests[0]!;
    back(r, [BASE]);
    expect(last(r, out, 'thp.host.scan', { gfn: BASE })).toBe('ok');
    const seq = g.invalidation.seq;
    expect(last(r, out, 'thp.host.collapse', {})).toBe('ok');
    expect(g.hugeBacked.has(UNIT)).toBe(true);
    expect(g.invalidation).toMatchObject({ seq, inProgress: 0 });
  });
});
