/**
 * A guest access as the CPU performs it: a TLB hit serves only the accesses its entry permits
 * (a write needs W and the dirty bit it was filled with, an exec needs X), a walk fills an entry
 * of the smaller of the guest and host page sizes (SDM vol. 3C 29.4.2) with W only if both
 * levels allow it and NX if either forbids exec; an EPT permission fault goes to the host and
 * the access retries; a walk through a non-table is refused.
 */
import { EPT_EXEC, EPT_READ, EPT_WRITE } from '../constants';
import { data } from '../content';
import { machine, oneProcess, stepper } from '../../fuzz/testing/scenario';
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import type { World } from '../world';
import { mmap } from '../guest/kernel';
import { access } from './access';
import { nestedWalk } from './walk';
import { peekLeaf } from './peek';

const setup = oneProcess;

const entry = (w: World, g: Guest, p: Process, vpn: number) => w.tlb.lookup(g.vpid, p.pid, g.ept.root, vpn);

describe('access', () => {
  test('the TLB entry a walk fills covers the smaller of the guest and host pages', () => {
    // 2 MiB guest page over a 2 MiB host page: one 2 MiB entry.
    const a = setup(true);
    expect(mmap(a.w, a.g, a.p, 1536, 512, { write: true, exec: false }, true).ok).toBe(true);
    expect(access(a.w, a.g, a.p, 1536 + 7, 'write').ok).toBe(true);
    const walk = nestedWalk(a.w, a.g, a.p.cr3, 1536 + 7, 'read', false);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    expect(walk).toMatchObject({ guestLeafLevel: 2, eptLeafLevel: 2 });
    expect(entry(a.w, a.g, a.p, 1536 + 300)).toMatchObject({ vpnBase: 1536, frames: 512, hfnBase: walk.hfn - 7, gfnBase: walk.gfn - 7 });
    // A hit anywhere in the entry reaches the frame at the same offset.
    a.w.journal.clear();
    expect(access(a.w, a.g, a.p, 1536 + 300, 'write', data(0, 77)).ok).toBe(true);
    expect(a.w.journal.walks).toHaveLength(0);
    expect(a.w.frames.read(walk.hfn - 7 + 300)).toEqual(data(0, 77));
    expect(access(a.w, a.g, a.p, 1536 + 300, 'read')).toMatchObject({ ok: true, content: data(0, 77) });
    // 4 KiB guest pages over a 2 MiB host page: 4 KiB entries.
    const b = setup(true);
    expect(mmap(b.w, b.g, b.p, 1024, 8, { write: true, exec: false }, false).ok).toBe(true);
    expect(access(b.w, b.g, b.p, 1027, 'write').ok).toBe(true);
    const wb = nestedWalk(b.w, b.g, b.p.cr3, 1027, 'read', false);
    expect(wb).toMatchObject({ kind: 'ok', guestLeafLevel: 1, eptLeafLevel: 2 });
    expect(entry(b.w, b.g, b.p, 1027)).toMatchObject({ vpnBase: 1027, frames: 1 });
    expect(entry(b.w, b.g, b.p, 1026)).toBeUndefined();
    // A 2 MiB guest page over 4 KiB host pages: 4 KiB entries.
    // (no free order-9 host block left, so the host backs it 4 KiB at a time).
    const c = setup(true);
    const taken: number[] = [];
    for (let h = c.w.hostBuddy.alloc(0, 'MOVABLE'); typeof h === 'number'; h = c.w.hostBuddy.alloc(0, 'MOVABLE')) taken.push(h);
    // Every other frame back: 4 KiB holes that cannot merge.
    for (const h of taken.filter((x) => x % 2 === 0).slice(0, 2048)) expect(c.w.hostBuddy.free(h, 0)).toBeUndefined();
    expect(c.w.hostBuddy.nrFree(9)).toBe(0);
    expect(mmap(c.w, c.g, c.p, 1536, 512, { write: true, exec: false }, true).ok).toBe(true);
    expect(access(c.w, c.g, c.p, 1536 + 9, 'write').ok).toBe(true);
    const wc = nestedWalk(c.w, c.g, c.p.cr3, 1536 + 9, 'read', false);
    expect(wc).toMatchObject({ kind: 'ok', guestLeafLevel: 2, eptLeafLevel: 1 });
    expect(entry(c.w, c.g, c.p, 1536 + 9)).toMatchObject({ vpnBase: 1536 + 9, frames: 1, hfnBase: wc.kind === 'ok' ? wc.hfn : -1 });
    expect(entry(c.w, c.g, c.p, 1536 + 10)).toBeUndefined();
  });

  test('a read fills a clean entry; a write does not use it but walks, sets the dirty bit and fills a dirty one', () => {
    const { w, g, p } = setup(false);
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: false }, false).ok).toBe(true);
    expect(access(w, g, p, 1024, 'read').ok).toBe(true);
    expect(entry(w, g, p, 1024)).toMatchObject({ writable: true, dirty: false, nx: true });
    w.journal.clear();
    const wr = access(w, g, p, 1024, 'write');
    expect(wr.ok).toBe(true);
    expect(w.journal.walks).toHaveLength(1);
    expect(entry(w, g, p, 1024)).toMatchObject({ writable: true, dirty: true });
    w.journal.clear();
    expect(access(w, g, p, 1024, 'write', data(0, 99))).toMatchObject({ ok: true, content: data(0, 99) });
    expect(w.journal.walks).toHaveLength(0);
    expect(w.journal.tlbHits).toHaveLength(1);
    // The walk record names the guest tables walked and the final gfn.
    w.journal.clear();
    expect(access(w, g, p, 1025, 'write').ok).toBe(true);
    const rec = w.journal.walks[0]!;
    expect(rec).toMatchObject({ guest: g.id, pid: p.pid, vpn: 1025, refs: 24, guestLevelsWalked: 4 });
    expect(rec.gfns).toHaveLength(4);
    expect(rec.gfns[0]).toBe(p.cr3);
  });

  test('a write through a read-only EPT leaf goes to the host, which replaces the leaf, and the access completes', () => {
    const { w, g, p } = setup(false);
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: false }, false).ok).toBe(true);
    expect(access(w, g, p, 1024, 'write').ok).toBe(true);
    const walk = nestedWalk(w, g, p.cr3, 1024, 'read', false);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    expect(g.ept.zap(w, walk.gfn)).not.toBeNull();
    expect(g.ept.mapLeaf(w, walk.gfn, walk.hfn, 1, EPT_READ | EPT_EXEC)).toBe(true);
    w.tlb.inveptSingle(g.ept.root);
    // A read is fine through it, and fills an entry that is not writable.
    expect(access(w, g, p, 1024, 'read').ok).toBe(true);
    expect(entry(w, g, p, 1024)).toMatchObject({ writable: false });
    const seq = g.invalidation.seq;
    expect(access(w, g, p, 1024, 'write', data(0, 5))).toMatchObject({ ok: true, content: data(0, 5) });
    expect(g.invalidation.seq).toBe(seq + 1);
    expect(w.frames.read(g.backing.get(walk.gfn)!)).toEqual(data(0, 5));
    // An EPT leaf without X makes the combined entry NX even where the guest allows exec.
    expect(mmap(w, g, p, 2048, 4, { write: true, exec: true }, false).ok).toBe(true);
    expect(access(w, g, p, 2048, 'write').ok).toBe(true);
    expect(entry(w, g, p, 2048)).toMatchObject({ nx: false, writable: true });
    const w2 = nestedWalk(w, g, p.cr3, 2048, 'read', false);
    if (w2.kind !== 'ok') throw new Error(w2.kind);
    expect(g.ept.zap(w, w2.gfn)).not.toBeNull();
    expect(g.ept.mapLeaf(w, w2.gfn, w2.hfn, 1, EPT_READ | EPT_WRITE)).toBe(true);
    w.tlb.inveptSingle(g.ept.root);
    expect(access(w, g, p, 2048, 'read').ok).toBe(true);
    expect(entry(w, g, p, 2048)).toMatchObject({ nx: true, writable: true });
  });

  test('an exec where the guest\'s tables set NX is the guest\'s fault: SIGSEGV from its kernel, no host fault', () => {
    const { w, g, p } = setup(false);
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: true }, false).ok).toBe(true);
    expect(mmap(w, g, p, 2048, 4, { write: true, exec: false }, false).ok).toBe(true);
    expect(access(w, g, p, 1024, 'write').ok).toBe(true);
    expect(access(w, g, p, 1024, 'exec').ok).toBe(true);
    expect(entry(w, g, p, 1024)).toMatchObject({ nx: false });
    expect(access(w, g, p, 2048, 'write').ok).toBe(true);
    expect(entry(w, g, p, 2048)).toMatchObject({ nx: true });
    const seq = g.invalidation.seq;
    expect(access(w, g, p, 2048, 'exec')).toMatchObject({ ok: false, error: 'segv' });
    expect(g.invalidation.seq).toBe(seq);
  });

  test('a read through an execute-only EPT leaf is not performed: it needs R (SDM 29.3.3.1)', () => {
    const { w, g, p } = setup(false);
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: true }, false).ok).toBe(true);
    expect(access(w, g, p, 1024, 'write').ok).toBe(true);
    const walk = nestedWalk(w, g, p.cr3, 1024, 'read', false);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    expect(g.ept.zap(w, walk.gfn)).not.toBeNull();
    expect(g.ept.mapLeaf(w, walk.gfn, walk.hfn, 1, EPT_EXEC)).toBe(true);
    w.tlb.inveptSingle(g.ept.root);
    w.journal.clear();
    expect(access(w, g, p, 1024, 'read').ok).toBe(false);
    expect(w.journal.reads).toHaveLength(0);
    expect(entry(w, g, p, 1024)).toBeUndefined();
  });

  test('a walk through a guest table frame that holds data is refused as invalid', () => {
    const { w, g, p } = setup(false);
    expect(mmap(w, g, p, 1024, 4, { write: true, exec: false }, false).ok).toBe(true);
    expect(access(w, g, p, 1024, 'write').ok).toBe(true);
    const walk = nestedWalk(w, g, p.cr3, 1024, 'read', false);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    w.frames.write(g.backing.get(walk.gfns[2]!)!, data(0, 1));
    w.tlb.inveptSingle(g.ept.root);
    expect(access(w, g, p, 1024, 'read')).toMatchObject({ ok: false, error: 'invalid' });
  });

  test('an access that meets the host reclaiming its page waits for the reclaim to end, then reads the last write', () => {
    const s = stepper(machine({}));
    const g = s.world.guests[0]!;
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 1024, pages: 1, write: true, exec: false, huge: false })).toEqual({ ok: true });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 1024 }).ok).toBe(true);
    const gfn = peekLeaf(s.world, g, g.processes.get(1)!, 1024)!.gfn;
    expect(s.apply('host.reclaim.begin', { guest: 0, gfn }).ok).toBe(true);
    expect(g.pendingReclaim?.gfn).toBe(gfn);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: 1024 }).ok).toBe(true);
    expect(g.pendingReclaim).toBeFalsy();
    expect(s.broke()).toEqual([]);
  });

  test('under walk-skips-final-ept the final gfn is used as the hfn with no EPT permission check at all: read, write and exec allowed', () => {
    const { w, g, p } = oneProcess(false, ['walk-skips-final-ept']);
    expect(mmap(w, g, p, 1024, 1, { write: true, exec: true }, false).ok).toBe(true);
    expect(access(w, g, p, 1024, 'read').ok).toBe(true);
    const walk = nestedWalk(w, g, p.cr3, 1024, 'exec', false);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    expect([walk.hfn, walk.eptRead, walk.eptWrite, walk.eptExec]).toEqual([walk.gfn, true, true, true]);
  });
});

