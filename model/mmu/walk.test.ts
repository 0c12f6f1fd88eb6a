/**
 * The two-dimensional walk's reference counts against the published figures (Bhargava et al.,
 * ASPLOS 2008): (g+1)(h+1)-1 = 24 for 4/4 levels, 29 for 4/5, 35 for 5/5; a 2 MiB host page
 * shortens every EPT walk by one level, a 2 MiB guest page the guest walk by one.
 */
import { createWorld } from '../registry';
import { isRefusal } from '../result';
import type { World } from '../world';
import { access } from './access';
import { expectedWalkRefs, nestedWalk, uniformWalkRefs } from './walk';
import { spawn, mmap } from '../guest/kernel';

function machine(guestLevels: 4 | 5, eptLevels: 4 | 5, hugePages: boolean): World {
  const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels, eptLevels, hugePages }], faults: [] });
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

function walkOfFirstTouch(w: World, huge: boolean): ReturnType<typeof nestedWalk> {
  const g = w.guests[0]!;
  const pid = spawn(w, g);
  if (!pid.ok) throw new Error(pid.detail);
  const p = g.processes.get(pid.value!)!;
  expect(mmap(w, g, p, 1024, 512, { write: true, exec: false }, huge).ok).toBe(true);
  expect(access(w, g, p, 1024, 'write').ok).toBe(true);
  return nestedWalk(w, g, p.cr3, 1024, 'read', false);
}

function refsOfFirstTouch(w: World, huge: boolean): number {
  const walk = walkOfFirstTouch(w, huge);
  if (walk.kind !== 'ok') throw new Error(walk.kind);
  return walk.refs;
}

describe('nested walk references', () => {
  it.each([
    [4, 4, 24],
    [4, 5, 29],
    [5, 4, 29],
    [5, 5, 35],
  ] as const)('%i guest levels over %i EPT levels with 4 KiB pages: %i', (gl, hl, expected) => {
    expect(uniformWalkRefs(gl, hl)).toBe(expected);
    // Without huge pages on either side every EPT walk is h levels.
    expect(refsOfFirstTouch(machine(gl, hl, false), false)).toBe(expected);
  });

  it('2 MiB pages on both sides: (3+1)(3+1)-1 = 15 for 4/4', () => {
    expect(refsOfFirstTouch(machine(4, 4, true), true)).toBe(uniformWalkRefs(3, 3));
  });

  it('2 MiB host pages under a 4 KiB guest page: (4+1)(3+1)-1 = 19 for 4/4', () => {
    expect(refsOfFirstTouch(machine(4, 4, true), false)).toBe(uniformWalkRefs(4, 3));
  });

  it('the formula gives 8 for 1 GiB on both sides (operations map at most 2 MiB, so only the formula is checked)', () => {
    expect(uniformWalkRefs(2, 2)).toBe(8);
  });

  it('a read hit in the TLB costs no walk and returns the written data', () => {
    const w = machine(4, 4, false);
    const g = w.guests[0]!;
    const pid = spawn(w, g);
    const p = g.processes.get(pid.ok ? pid.value! : -1)!;
    mmap(w, g, p, 1024, 4, { write: true, exec: false }, false);
    const wr = access(w, g, p, 1025, 'write');
    w.journal.clear();
    const rd = access(w, g, p, 1025, 'read');
    expect(rd.ok && wr.ok && rd.content).toEqual(wr.ok && wr.content);
    expect(w.journal.walks).toHaveLength(0);
    expect(w.journal.tlbHits).toHaveLength(1);
  });

  it.each([
    [4, 4, false, false, [4, 4, 4, 4, 4], 4],
    [4, 5, false, false, [5, 5, 5, 5, 5], 4],
    [5, 4, false, false, [4, 4, 4, 4, 4, 4], 5],
    [4, 4, true, true, [3, 3, 3, 3], 3],
    [4, 4, true, false, [3, 3, 3, 3, 3], 4],
  ] as const)('%i/%i levels (huge host %s, huge guest %s): EPT references per step %j, %i guest entries, and the total is their sum', (gl, hl, hugeHost, hugeGuest, perStep, guestEntries) => {
    const walk = walkOfFirstTouch(machine(gl, hl, hugeHost), hugeGuest);
    if (walk.kind !== 'ok') throw new Error(walk.kind);
    // One EPT walk per guest table read plus one for the final gfn, then one reference per guest entry.
    expect(walk.eptRefs).toEqual(perStep);
    expect(walk.guestLevelsWalked).toBe(guestEntries);
    expect(expectedWalkRefs(walk.guestLevelsWalked, walk.eptRefs)).toBe(walk.refs);
    expect(walk.refs).toBe(perStep.reduce((a, b) => a + b, 0) + guestEntries);
  });

  it('expectedWalkRefs adds the EPT references of every step to one reference per guest level walked', () => {
    expect(expectedWalkRefs(4, [4, 4, 4, 4, 4])).toBe(24);
    expect(expectedWalkRefs(3, [3, 3, 3, 3])).toBe(15);
    expect(expectedWalkRefs(0, [])).toBe(0);
  });
});
