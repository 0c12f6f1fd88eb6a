/**
 * memctl MPROTECT through the EPT: the request zaps the range's EPT leaves (and flushes the
 * TLB) through the invalidation protocol, and later EPT faults map with the host protection.
 */
import { EPT_WRITE } from '../constants';
import type { ModelConfig } from '../config';
import { Runner } from '../../fuzz/run';
import type { Operation } from '../../fuzz/contract';

const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
const REGION = 3072;

function runner(faults: string[], huge = false): Runner {
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ ...guest, hugePages: huge }, guest], faults, options: { 'memctl.enabled': true } };
  return new Runner(c, { check: 'incremental' });
}

const o = (kind: string, args: Operation['args']): Operation => ({ kind, args });
const req = (func: string, gfn = REGION, pages = 1): Operation => o('memctl.request', { guest: 0, func, gfn, pages });
const rd = (gfn = REGION): Operation => o('memctl.read', { guest: 0, gfn });
const wr = (gfn = REGION): Operation => o('memctl.write', { guest: 0, gfn });

/** Apply each operation; the outcomes, and the properties any step broke. */
function run(r: Runner, ops: Operation[]): { ok: boolean[]; broke: string[] } {
  const broke: string[] = [];
  for (const op of ops) for (const v of r.apply(op)) broke.push(`${v.property}|${v.kind}`);
  return { ok: r.outcomes.slice(-ops.length), broke: [...new Set(broke)] };
}

function leaf(r: Runner, gfn = REGION): { writable: boolean } | null {
  const l = r.world.guests[0]!.ept.lookup(r.world, gfn);
  return l.kind === 'leaf' ? { writable: (l.entry.flags & EPT_WRITE) !== 0 } : null;
}

describe('memctl MPROTECT reaches the EPT', () => {
  it('PROT_READ: the writable leaf is zapped, a read maps it without W, a write is refused', () => {
    const r = runner([]);
    expect(run(r, [wr(), req('MPROTECT_R')])).toEqual({ ok: [true, true], broke: [] });
    expect(leaf(r)).toBeNull();
    expect(run(r, [rd()]).ok).toEqual([true]);
    expect(leaf(r)).toEqual({ writable: false });
    const w = run(r, [wr()]);
    expect(w).toEqual({ ok: [false], broke: [] });
    expect(r.finish()).toBeNull();
  });

  it('PROT_NONE: no access completes and no leaf is installed; RW restores both', () => {
    const r = runner([]);
    expect(run(r, [wr(), req('MPROTECT_NONE'), rd(), wr()])).toEqual({ ok: [true, true, false, false], broke: [] });
    expect(leaf(r)).toBeNull();
    expect(run(r, [req('MPROTECT_RW'), rd(), wr()])).toEqual({ ok: [true, true, true], broke: [] });
    expect(leaf(r)).toEqual({ writable: true });
    expect(r.finish()).toBeNull();
  });

  it('PROT_WRITE is readable, as on x86', () => {
    const r = runner([]);
    expect(run(r, [req('MPROTECT_W'), rd(), wr()])).toEqual({ ok: [true, true, true], broke: [] });
  });

  it('raising R to RW replaces the read-only leaf on the next write', () => {
    const r = runner([]);
    run(r, [req('MPROTECT_R'), rd()]);
    expect(leaf(r)).toEqual({ writable: false });
    expect(run(r, [req('MPROTECT_RW'), wr()])).toEqual({ ok: [true, true], broke: [] });
    expect(leaf(r)).toEqual({ writable: true });
  });

  it('2 MiB host pages: the whole 2 MiB leaf goes, and the protection covers the unit', () => {
    const r = runner([], true);
    expect(run(r, [wr(), req('MPROTECT_R', REGION, 512), rd(REGION + 7), wr(REGION + 511)])).toEqual({ ok: [true, true, true, false], broke: [] });
    expect(leaf(r, REGION + 100)).toEqual({ writable: false });
    expect(r.finish()).toBeNull();
  });

  it('a split EPT fault resolved before MPROTECT_NONE goes stale instead of installing', () => {
    const r = runner([]);
    const { ok } = run(r, [o('host.fault.begin', { guest: 0, gfn: REGION }), req('MPROTECT_NONE'), o('host.fault.finish', { guest: 0 })]);
    expect(ok).toEqual([true, true, false]);
    expect(leaf(r)).toBeNull();
    expect(r.finish()).toBeNull();
  });

  it('with the notifier skipped, the stale leaf and the forbidden write are both reported', () => {
    const r = runner(['memctl-mprotect-skips-notifier']);
    expect(run(r, [wr(), req('MPROTECT_R')]).broke).toEqual(['memctl-protection-respected|stale-ept-leaf']);
    const w = run(r, [wr()]);
    expect(w.ok).toEqual([true]);
    expect(w.broke).toContain('memctl-protection-respected|forbidden-access');
  });

  it('with the notifier skipped, a write through the read-only leaf left by R -> RW zaps it and maps it writable', () => {
    const r = runner(['memctl-mprotect-skips-notifier']);
    run(r, [req('MPROTECT_R'), rd(), req('MPROTECT_RW')]);
    expect(leaf(r)).toEqual({ writable: false });
    const g = r.world.guests[0]!;
    const seq = g.invalidation.seq;
    expect(run(r, [wr()])).toEqual({ ok: [true], broke: [] });
    expect(leaf(r)).toEqual({ writable: true });
    // The old leaf went inside an invalidation of exactly its gfn (the sequence moved on).
    expect(g.invalidation.seq).toBeGreaterThan(seq);
  });
});
