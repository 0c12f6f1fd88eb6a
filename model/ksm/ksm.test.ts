/**
 * KSM between two guests: identical pages merge into one read-only KSM page once both VMs
 * opted in, a write copies first (and the writer can time it: the side channel), the other
 * sharer keeps its contents, opting out unmerges, cross-guest merging can be switched off,
 * and each injected fault is caught by the property it names.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { EPT_WRITE } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { ksmState, nodeOfGfn, sharerKey } from './ksm';

const VPN = 3000;

function config(faults: string[], crossGuest = true): ModelConfig {
  const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
  return { hostFrames: 2 ** 14, guests: [guest, guest], faults, options: { 'ksm.cross-guest': crossGuest } };
}

/** Both guests hold one page filled with the same byte at VPN; `optIn` guests are mergeable. */
function setup(faults: string[], opts: { crossGuest?: boolean; optIn?: number[]; properties?: string[] } = {}): Runner {
  const r = new Runner(config(faults, opts.crossGuest ?? true), { check: 'incremental', properties: opts.properties ? new Set(opts.properties) : undefined });
  for (const guest of [0, 1]) {
    r.apply({ kind: 'guest.spawn', args: { guest } });
    r.apply({ kind: 'guest.mmap', args: { guest, pid: 1, vpn: VPN, pages: 2, write: true, exec: false, huge: false } });
    r.apply({ kind: 'ksm.fill', args: { guest, pid: 1, vpn: VPN, pattern: 0 } });
  }
  for (const guest of opts.optIn ?? [0, 1]) r.apply({ kind: 'ksm.madvise', args: { guest, gfn: 0, pages: 2 ** 12, mergeable: true } });
  return r;
}

function gfnOf(r: Runner, guest: number): number {
  const g = r.world.guests[guest]!;
  return peekLeaf(r.world, g, g.processes.get(1)!, VPN)!.gfn;
}

describe('merging', () => {
  test('nodeOfGfn names the node only for a sharer it lists: a gfn backed by the KSM page but struck off its list (by hand) has none', () => {
    const r = setup([]);
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    const [g0, g1] = r.world.guests;
    const n = nodeOfGfn(r.world, g0!, gfnOf(r, 0))!;
    expect(g1!.backing.get(gfnOf(r, 1))).toBe(n.hfn);
    n.sharers.delete(sharerKey(1, gfnOf(r, 1)));
    expect([nodeOfGfn(r.world, g0!, gfnOf(r, 0)), nodeOfGfn(r.world, g1!, gfnOf(r, 1))]).toEqual([n, undefined]);
  });

  test('identical pages of two guests share one read-only KSM page; a write copies first', () => {
    const r = setup([]);
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    const [g0, g1] = r.world.guests;
    const n = nodeOfGfn(r.world, g0!, gfnOf(r, 0));
    expect(n).toBeDefined();
    expect(nodeOfGfn(r.world, g1!, gfnOf(r, 1))).toBe(n);
    expect(r.world.frames.owner(n!.hfn)).toEqual({ kind: 'ksm', node: n!.id });
    // Read through the EPT: the leaf is read-only.
    r.apply({ kind: 'guest.read', args: { guest: 1, pid: 1, vpn: VPN } });
    const leaf = g1!.ept.lookup(r.world, gfnOf(r, 1));
    expect(leaf.kind === 'leaf' && (leaf.entry.flags & EPT_WRITE)).toBe(0);
    // Guest 0 writes: a copy-on-write fault it can time, caused by guest 1's page.
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
    const obs = [...ksmState(r.world).observations.values()];
    expect(obs).toHaveLength(1);
    expect(obs[0]).toMatchObject({ guest: 0, otherGuests: [1] });
    expect(nodeOfGfn(r.world, g0!, gfnOf(r, 0))).toBeUndefined();
    r.apply({ kind: 'guest.read', args: { guest: 1, pid: 1, vpn: VPN } });
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('a guest that did not opt in is never merged', () => {
    const r = setup([], { optIn: [1] });
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    expect(nodeOfGfn(r.world, r.world.guests[0]!, gfnOf(r, 0))).toBeUndefined();
    for (const n of ksmState(r.world).nodes.values()) for (const k of n.sharers) expect(Math.floor(k / 2 ** 24)).toBe(1);
    expect(r.violation).toBeNull();
  });

  test('with cross-guest merging off, no page is shared between guests (the side channel is closed)', () => {
    const r = setup([], { crossGuest: false });
    // A second identical page in guest 0: merging within a guest still happens.
    r.apply({ kind: 'ksm.fill', args: { guest: 0, pid: 1, vpn: VPN + 1, pattern: 0 } });
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    const nodes = [...ksmState(r.world).nodes.values()];
    expect(nodes.length).toBeGreaterThan(0);
    for (const n of nodes) expect(new Set([...n.sharers].map((k) => Math.floor(k / 2 ** 24))).size).toBe(1);
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
    for (const o of ksmState(r.world).observations.values()) expect(o.otherGuests).toEqual([]);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('opting out (MADV_UNMERGEABLE) unmerges the guest\'s pages', () => {
    const r = setup([]);
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    r.apply({ kind: 'ksm.madvise', args: { guest: 0, gfn: 0, pages: 2 ** 12, mergeable: false } });
    for (const n of ksmState(r.world).nodes.values()) for (const k of n.sharers) expect(Math.floor(k / 2 ** 24)).toBe(1);
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: VPN } });
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });
});

describe('injected faults', () => {
  test('ksm-merge-leaves-writable: caught by ksm-merged-read-only at the merge', () => {
    const r = setup(['ksm-merge-leaves-writable'], { properties: ['ksm-merged-read-only'] });
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    expect(r.violation).toMatchObject({ property: 'ksm-merged-read-only', kind: 'writable-merged-page' });
  });

  test('ksm-cow-writes-shared: the write lands in the shared page (ksm-cow-isolation), the other guest reads it', () => {
    const trace = (faults: string[], properties: string[]) => {
      const r = setup(faults, { properties });
      r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
      r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: VPN } });
      r.apply({ kind: 'guest.read', args: { guest: 1, pid: 1, vpn: VPN } });
      return r;
    };
    expect(trace(['ksm-cow-writes-shared'], ['ksm-cow-isolation']).violation).toMatchObject({ property: 'ksm-cow-isolation', kind: 'shared-page-written' });
    expect(trace(['ksm-cow-writes-shared'], ['read-returns-last-write']).violation).toMatchObject({ property: 'read-returns-last-write', subject: expect.stringContaining('g1') });
    const ok = trace([], []);
    expect(ok.violation).toBeNull();
    expect(ok.finish()).toBeNull();
  });

  test('ksm-unmergeable-keeps-merged: caught by ksm-opt-in', () => {
    const r = setup(['ksm-unmergeable-keeps-merged'], { properties: ['ksm-opt-in'] });
    r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
    r.apply({ kind: 'ksm.madvise', args: { guest: 0, gfn: 0, pages: 2 ** 12, mergeable: false } });
    expect(r.violation).toMatchObject({ property: 'ksm-opt-in', kind: 'not-opted-in' });
  });
});
