/**
 * memctl's MERGEABLE and UNMERGEABLE reach KSM (the VMM's madvise on the host memory behind
 * the range): MERGEABLE makes the range a candidate for ksmd, UNMERGEABLE unmerges it, so
 * every page of it is private again.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { isMergeable, nodeOfGfn } from '../ksm/ksm';
import { memctlMergeable } from './memctl';

const A = 3072; // the first two frames of guest 0's memctl region (the top 4 MiB of 16 MiB)
const B = A + 1;

function setup(): Runner {
  const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
  const config: ModelConfig = { hostFrames: 2 ** 14, guests: [guest], faults: [], options: { 'memctl.enabled': true } };
  const r = new Runner(config, { check: 'incremental' });
  // Two region pages the guest touched: the host faulted in a cleared frame for each, so they
  // are identical.
  r.apply({ kind: 'memctl.read', args: { guest: 0, gfn: A } });
  r.apply({ kind: 'memctl.read', args: { guest: 0, gfn: B } });
  return r;
}

test('without MERGEABLE, ksmd leaves two identical memctl pages alone', () => {
  const r = setup();
  r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
  const g = r.world.guests[0]!;
  expect(nodeOfGfn(r.world, g, A)).toBeUndefined();
  expect(nodeOfGfn(r.world, g, B)).toBeUndefined();
  expect(r.violation).toBeNull();
});

test('memctl MERGEABLE lets ksmd merge two identical pages; UNMERGEABLE unshares them', () => {
  const r = setup();
  const g = r.world.guests[0]!;
  const before = [g.backing.get(A), g.backing.get(B)];
  expect(before[0]).not.toBe(before[1]);

  expect(r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'MERGEABLE', gfn: A, pages: 2 } })).toEqual([]);
  expect(isMergeable(r.world, 0, A) && isMergeable(r.world, 0, B)).toBe(true);
  expect(memctlMergeable(g, A) && memctlMergeable(g, B)).toBe(true);
  r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
  const n = nodeOfGfn(r.world, g, A);
  expect(n).toBeDefined();
  expect(nodeOfGfn(r.world, g, B)).toBe(n);
  expect(g.backing.get(A)).toBe(n!.hfn);
  expect(g.backing.get(B)).toBe(n!.hfn);
  expect(r.world.frames.owner(n!.hfn)).toEqual({ kind: 'ksm', node: n!.id });

  expect(r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'UNMERGEABLE', gfn: A, pages: 2 } })).toEqual([]);
  expect(isMergeable(r.world, 0, A) || isMergeable(r.world, 0, B)).toBe(false);
  expect(memctlMergeable(g, A) || memctlMergeable(g, B)).toBe(false);
  expect(nodeOfGfn(r.world, g, A)).toBeUndefined();
  expect(nodeOfGfn(r.world, g, B)).toBeUndefined();
  const after = [g.backing.get(A)!, g.backing.get(B)!];
  expect(after[0]).not.toBe(after[1]);
  for (const [i, hfn] of after.entries()) expect(r.world.frames.owner(hfn)).toMatchObject({ kind: 'guest-memory', guest: 0, gfn: A + i });
  // No longer candidates: another pass merges nothing.
  r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
  expect(nodeOfGfn(r.world, g, A)).toBeUndefined();
  // The pages still read zero, and a write to one does not show in the other.
  expect(r.apply({ kind: 'memctl.write', args: { guest: 0, gfn: A } })).toEqual([]);
  expect(r.apply({ kind: 'memctl.read', args: { guest: 0, gfn: B } })).toEqual([]);
  expect(r.world.frames.read(g.backing.get(A)!).kind).toBe('data');
  expect(r.world.frames.read(g.backing.get(B)!).kind).toBe('zero');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('a page made UNMERGEABLE while it waits in ksmd\'s unstable tree is not merged later', () => {
  const r = setup();
  const g = r.world.guests[0]!;
  const C = A + 2;
  r.apply({ kind: 'memctl.read', args: { guest: 0, gfn: C } });
  r.apply({ kind: 'ksm.madvise', args: { guest: 0, gfn: 0, pages: 2 ** 12, mergeable: true } });
  // The pass sees A first: it goes into the unstable tree.
  r.apply({ kind: 'ksm.scan', args: { pages: 1 } });
  r.apply({ kind: 'memctl.request', args: { guest: 0, func: 'UNMERGEABLE', gfn: A, pages: 1 } });
  // Same pass, next candidate C (identical to A): A is no longer a candidate, nothing merges.
  r.apply({ kind: 'ksm.scan', args: { pages: 1 } });
  expect(nodeOfGfn(r.world, g, A)).toBeUndefined();
  expect(nodeOfGfn(r.world, g, C)).toBeUndefined();
  expect(r.violation).toBeNull();
  // B and C still merge with each other.
  r.apply({ kind: 'ksm.scan', args: { pages: 4096 } });
  expect(nodeOfGfn(r.world, g, B)).toBeDefined();
  expect(nodeOfGfn(r.world, g, C)).toBe(nodeOfGfn(r.world, g, B));
  expect(nodeOfGfn(r.world, g, A)).toBeUndefined();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
