/**
 * A process's VMA list: lookup by page, overlap, insertion kept sorted, and the munmap and
 * mprotect splits (mm/mmap.c split_vma): each VMA is [start, end), and a range that touches a
 * VMA only at a boundary leaves it whole.
 */
import { Process, type Prot, type Vma } from './process';

const RW: Prot = { write: true, exec: false };
const RO: Prot = { write: false, exec: false };
const span = (vmas: readonly Vma[]) => vmas.map((v) => [v.start, v.end, v.prot.write]);

test('vmaAt: a VMA holds its first page and not its end; none before, between or after', () => {
  const p = new Process(1, 7);
  expect(p.cr3).toBe(7);
  p.addVma({ start: 10, end: 20, prot: RW, huge: false });
  p.addVma({ start: 25, end: 30, prot: RO, huge: false });
  expect(p.vmaAt(9)).toBeUndefined();
  expect(p.vmaAt(10)?.start).toBe(10);
  expect(p.vmaAt(19)?.start).toBe(10);
  expect(p.vmaAt(20)).toBeUndefined();
  expect(p.vmaAt(24)).toBeUndefined();
  expect(p.vmaAt(25)?.start).toBe(25);
  expect(p.vmaAt(29)?.start).toBe(25);
  expect(p.vmaAt(30)).toBeUndefined();
});

test('overlaps: ranges that only touch a VMA at either end do not overlap it; one page inside does', () => {
  const p = new Process(1, 0);
  expect(p.overlaps(0, 100)).toBe(false);
  p.addVma({ start: 10, end: 20, prot: RW, huge: false });
  expect(p.overlaps(0, 10)).toBe(false);
  expect(p.overlaps(20, 30)).toBe(false);
  expect(p.overlaps(0, 11)).toBe(true);
  expect(p.overlaps(19, 30)).toBe(true);
  expect(p.overlaps(12, 13)).toBe(true);
  expect(p.overlaps(0, 100)).toBe(true);
});

test('addVma keeps the list sorted by start whatever the order of insertion', () => {
  const p = new Process(1, 0);
  p.addVma({ start: 50, end: 60, prot: RW, huge: false });
  p.addVma({ start: 10, end: 20, prot: RW, huge: false });
  p.addVma({ start: 30, end: 40, prot: RW, huge: false });
  p.addVma({ start: 0, end: 5, prot: RW, huge: false });
  expect(p.vmas.map((v) => v.start)).toEqual([0, 10, 30, 50]);
});

describe('removeRange (the munmap split)', () => {
  function three(): Process {
    const p = new Process(1, 0);
    p.addVma({ start: 0, end: 10, prot: RW, huge: false });
    p.addVma({ start: 10, end: 20, prot: RO, huge: false, object: { kind: 'file', id: 3, vpnOrigin: 4 } });
    p.addVma({ start: 20, end: 30, prot: RW, huge: false });
    return p;
  }

  test('a range equal to one VMA removes it alone; its neighbours, which touch it, stay whole', () => {
    const p = three();
    p.removeRange(10, 20);
    expect(span(p.vmas)).toEqual([
      [0, 10, true],
      [20, 30, true],
    ]);
  });

  test('a range inside a VMA splits it in two, both halves keeping its protection and object', () => {
    const p = three();
    p.removeRange(12, 15);
    expect(span(p.vmas)).toEqual([
      [0, 10, true],
      [10, 12, false],
      [15, 20, false],
      [20, 30, true],
    ]);
    expect(p.vmas[1]!.object).toEqual({ kind: 'file', id: 3, vpnOrigin: 4 });
    expect(p.vmas[2]!.object).toEqual({ kind: 'file', id: 3, vpnOrigin: 4 });
  });

  test('a range across VMA boundaries trims the first and last and drops those between', () => {
    const p = three();
    p.removeRange(5, 25);
    expect(span(p.vmas)).toEqual([
      [0, 5, true],
      [25, 30, true],
    ]);
  });

  test('a range starting or ending at a VMA boundary leaves no empty VMA', () => {
    const p = three();
    p.removeRange(0, 5);
    expect(span(p.vmas)).toEqual([
      [5, 10, true],
      [10, 20, false],
      [20, 30, true],
    ]);
    p.removeRange(25, 30);
    expect(span(p.vmas)).toEqual([
      [5, 10, true],
      [10, 20, false],
      [20, 25, true],
    ]);
  });

  test('a range outside every VMA changes nothing', () => {
    const p = three();
    p.removeRange(30, 40);
    expect(span(p.vmas)).toEqual(span(three().vmas));
  });
});

describe('protectRange (the mprotect split)', () => {
  function two(): Process {
    const p = new Process(1, 0);
    p.addVma({ start: 0, end: 10, prot: RW, huge: false });
    p.addVma({ start: 10, end: 20, prot: RW, huge: true });
    return p;
  }

  test('a range equal to one VMA changes its protection only; the VMA touching it keeps its own', () => {
    const p = two();
    p.protectRange(10, 20, RO);
    expect(span(p.vmas)).toEqual([
      [0, 10, true],
      [10, 20, false],
    ]);
    expect(p.vmas[1]!.huge).toBe(true);
    p.protectRange(0, 10, RO);
    expect(span(p.vmas)).toEqual([
      [0, 10, false],
      [10, 20, false],
    ]);
  });

  test('a range inside a VMA splits it in three, the middle with the new protection', () => {
    const p = two();
    p.protectRange(3, 6, RO);
    expect(span(p.vmas)).toEqual([
      [0, 3, true],
      [3, 6, false],
      [6, 10, true],
      [10, 20, true],
    ]);
  });

  test('a range across a boundary splits both VMAs, the pieces kept sorted', () => {
    const p = two();
    p.protectRange(5, 15, RO);
    expect(span(p.vmas)).toEqual([
      [0, 5, true],
      [5, 10, false],
      [10, 15, false],
      [15, 20, true],
    ]);
    expect(p.vmas.map((v) => v.huge)).toEqual([false, false, true, true]);
  });
});
