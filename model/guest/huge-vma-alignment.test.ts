/**
 * A VM_HUGEPAGE VMA starts and ends 2 MiB aligned, and stays so: mmap refuses a huge VMA that is
 * not, and munmap and mprotect refuse a range that would cut one of its 2 MiB pages (start or
 * end inside it); a range that only touches the VMA's edges from outside is not refused. mmap
 * refuses a range that overlaps another VMA in part.
 */
import { FRAMES_PER_2M } from '../constants';
import { oneProcess } from '../../fuzz/testing/scenario';
import { mmap, mprotect, munmap } from './kernel';

const B = 4 * FRAMES_PER_2M;
const RW = { write: true, exec: false };

function hugeVma() {
  const s = oneProcess(true);
  expect(mmap(s.w, s.g, s.p, B, 2 * FRAMES_PER_2M, RW, true).ok).toBe(true);
  return s;
}

test('mmap: a huge VMA must start and end 2 MiB aligned; a partly overlapping range is refused', () => {
  const s = oneProcess(true);
  expect(mmap(s.w, s.g, s.p, B + 1, FRAMES_PER_2M, RW, true)).toMatchObject({ ok: false, error: 'misaligned' });
  expect(mmap(s.w, s.g, s.p, B, FRAMES_PER_2M + 1, RW, true)).toMatchObject({ ok: false, error: 'misaligned' });
  expect(mmap(s.w, s.g, s.p, B, FRAMES_PER_2M, RW, true).ok).toBe(true);
  expect(mmap(s.w, s.g, s.p, B + FRAMES_PER_2M - 2, 4, RW, false)).toMatchObject({ ok: false, error: 'overlap' });
  expect(mmap(s.w, s.g, s.p, B + FRAMES_PER_2M, 4, RW, false).ok).toBe(true);
});

test.each([
  ['munmap', (s: ReturnType<typeof hugeVma>, start: number, pages: number) => munmap(s.w, s.g, s.p, start, pages)],
  ['mprotect', (s: ReturnType<typeof hugeVma>, start: number, pages: number) => mprotect(s.w, s.g, s.p, start, pages, { write: false, exec: false })],
] as const)('%s: a range with its start or its end inside a 2 MiB page of a huge VMA is refused; whole pages are not', (_name, op) => {
  // Start inside, end on a boundary; start on a boundary, end inside.
  for (const [start, pages] of [[B + 1, FRAMES_PER_2M - 1], [B + FRAMES_PER_2M, FRAMES_PER_2M - 1]] as const)
    expect(op(hugeVma(), start, pages)).toMatchObject({ ok: false, error: 'misaligned' });
  expect(op(hugeVma(), B + FRAMES_PER_2M, FRAMES_PER_2M).ok).toBe(true);
});

test('munmap of a range that only touches a huge VMA from outside is not refused for it', () => {
  // Ending exactly at its start, or starting exactly at its end (neither cuts a 2 MiB page).
  for (const [start, pages] of [[B - 3, 3], [B + 2 * FRAMES_PER_2M, 3]] as const) {
    const s = hugeVma();
    expect(munmap(s.w, s.g, s.p, start, pages).ok).toBe(true);
    expect(s.p.vmaAt(B)?.end).toBe(B + 2 * FRAMES_PER_2M);
  }
});
