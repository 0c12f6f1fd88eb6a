/**
 * The leaf reverse map (KVM's rmap, Linux's anon rmap): a target frame is reached by every
 * leaf whose range covers it, at any leaf level, with the source page that maps that very
 * frame; removing names one (owner, source) pair and leaves the others.
 */
import { LeafRmap } from './rmap';

describe('LeafRmap', () => {
  test('reaching finds the leaves of every level that cover a target, with the source page of that target', () => {
    const r = new LeafRmap();
    r.add(9000, 1, 0, 5);
    r.add(8192, 2, 1, 1024);
    r.add(2 ** 18, 3, 2, 2 ** 19);
    expect(r.reaching(9000)).toEqual([{ owner: 0, source: 5, level: 1 }]);
    expect(r.reaching(9001)).toEqual([]);
    expect(r.reaching(8192)).toEqual([{ owner: 1, source: 1024, level: 2 }]);
    expect(r.reaching(8192 + 511)).toEqual([{ owner: 1, source: 1024 + 511, level: 2 }]);
    expect(r.reaching(8192 + 512)).toEqual([]);
    expect(r.reaching(8191)).toEqual([]);
    expect(r.reaching(2 ** 18 + 1000)).toEqual([{ owner: 2, source: 2 ** 19 + 1000, level: 3 }]);
    // A 4 KiB leaf inside a 2 MiB leaf's target range: both reach it, smallest level first.
    r.add(8192 + 3, 1, 4, 77);
    expect(r.reaching(8192 + 3)).toEqual([
      { owner: 4, source: 77, level: 1 },
      { owner: 1, source: 1024 + 3, level: 2 },
    ]);
  });

  test('two leaves may share a target; remove takes out exactly the one named', () => {
    const r = new LeafRmap();
    r.add(9000, 1, 0, 5);
    r.add(9000, 1, 1, 5);
    r.add(9000, 1, 0, 6);
    expect(r.reaching(9000).map((h) => [h.owner, h.source])).toEqual([[0, 5], [1, 5], [0, 6]]);
    // Not there: the same owner with another source, another owner with the same source.
    r.remove(9000, 1, 1, 6);
    r.remove(9000, 1, 2, 5);
    r.remove(9000, 2, 0, 5);
    r.remove(9001, 1, 0, 5);
    expect(r.reaching(9000).map((h) => [h.owner, h.source])).toEqual([[0, 5], [1, 5], [0, 6]]);
    r.remove(9000, 1, 0, 5);
    expect(r.reaching(9000).map((h) => [h.owner, h.source])).toEqual([[1, 5], [0, 6]]);
    r.remove(9000, 1, 0, 6);
    expect(r.reaching(9000).map((h) => [h.owner, h.source])).toEqual([[1, 5]]);
    r.remove(9000, 1, 1, 5);
    expect(r.reaching(9000)).toEqual([]);
  });

  test('mapped lists each level\'s target bases in the order first mapped and forgets a base whose last leaf went', () => {
    const r = new LeafRmap();
    r.add(30, 1, 0, 1);
    r.add(10, 1, 0, 2);
    r.add(10, 1, 1, 3);
    r.add(512, 2, 0, 512);
    expect([...r.mapped(1)]).toEqual([[30, [[0, 1]]], [10, [[0, 2], [1, 3]]]]);
    expect([...r.mapped(2)]).toEqual([[512, [[0, 512]]]]);
    expect([...r.mapped(3)]).toEqual([]);
    r.remove(10, 1, 0, 2);
    expect([...r.mapped(1)]).toEqual([[30, [[0, 1]]], [10, [[1, 3]]]]);
    r.remove(10, 1, 1, 3);
    expect([...r.mapped(1)]).toEqual([[30, [[0, 1]]]]);
    r.remove(512, 2, 0, 512);
    expect([...r.mapped(2)]).toEqual([]);
  });
});
