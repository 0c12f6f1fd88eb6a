import fc from 'fast-check';
import { FreeList } from './free-list';

describe('FreeList (list_head on struct page)', () => {
  test('add to head and tail, iterate head -> tail', () => {
    const l = new FreeList();
    l.addHead(5);
    l.addHead(3);
    l.addTail(9);
    expect(l.toArray()).toEqual([3, 5, 9]);
    expect(l.length).toBe(3);
    expect(l.peekHead()).toBe(3);
    expect(l.peekTail()).toBe(9);
  });

  test('an empty list has neither head nor tail', () => {
    const l = new FreeList();
    expect(l.peekHead()).toBeUndefined();
    expect(l.peekTail()).toBeUndefined();
    l.addTail(4);
    l.remove(4);
    expect(l.peekTail()).toBeUndefined();
    expect(l.toArray()).toEqual([]);
  });

  test('remove head, middle, tail and absent', () => {
    const l = new FreeList();
    for (const p of [1, 2, 3, 4]) l.addTail(p);
    expect(l.remove(2)).toBe(true);
    expect(l.toArray()).toEqual([1, 3, 4]);
    expect(l.remove(1)).toBe(true);
    expect(l.remove(4)).toBe(true);
    expect(l.toArray()).toEqual([3]);
    expect(l.remove(4)).toBe(false);
    expect(l.peekHead()).toBe(3);
    expect(l.peekTail()).toBe(3);
  });

  test('popHead is LIFO with addHead; empty list pops undefined', () => {
    const l = new FreeList();
    l.addHead(7);
    l.addHead(8);
    expect(l.popHead()).toBe(8);
    expect(l.popHead()).toBe(7);
    expect(l.popHead()).toBeUndefined();
    expect(l.length).toBe(0);
    expect(l.peekHead()).toBeUndefined();
    expect(l.toArray()).toEqual([]);
  });

  test('adding a pfn twice is a programming error (CONFIG_DEBUG_LIST)', () => {
    const l = new FreeList();
    l.addHead(4);
    expect(() => l.addTail(4)).toThrow(/already listed/);
    expect(() => l.addHead(-1)).toThrow(RangeError);
    expect(() => l.addHead(-1)).toThrow('free-list: bad pfn -1');
  });

  test('behaves like an array model under random operations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('head', 'tail', 'remove', 'pop'), fc.nat(20)), { maxLength: 80 }),
        (ops) => {
          const l = new FreeList();
          let model: number[] = [];
          for (const [op, pfn] of ops) {
            if (op === 'head' && !model.includes(pfn)) {
              l.addHead(pfn);
              model.unshift(pfn);
            } else if (op === 'tail' && !model.includes(pfn)) {
              l.addTail(pfn);
              model.push(pfn);
            } else if (op === 'remove') {
              expect(l.remove(pfn)).toBe(model.includes(pfn));
              model = model.filter((p) => p !== pfn);
            } else if (op === 'pop') {
              expect(l.popHead()).toBe(model.shift());
            }
            expect(l.toArray()).toEqual(model);
            expect(l.length).toBe(model.length);
            for (const p of model) expect(l.has(p)).toBe(true);
          }
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});

test('membership: a pfn on two lists (a corruption the checkers look for) stays known to the other when one list drops it', () => {
  const m = new Map<number, number[]>();
  const [a, b] = [new FreeList(0, m), new FreeList(1, m)];
  a.addHead(5);
  b.addHead(5);
  expect(m.get(5)).toEqual([0, 1]);
  a.remove(5);
  expect(m.get(5)).toEqual([1]);
  b.remove(5);
  expect(m.has(5)).toBe(false);
});
