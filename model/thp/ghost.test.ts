/**
 * The ghost images thp-translation-equivalent compares: page by page over the 2 MiB range, what
 * the side-effect-free views say. An image wrong the same way before and after a change would
 * pass the comparison, so the images are checked against the views themselves.
 */
import { oneProcess } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { ZERO } from '../content';
import { mmap } from '../guest/kernel';
import { access } from '../mmu/access';
import { peekGuestPhysical, peekLeaf } from '../mmu/peek';
import { imageGuest, imageHost } from './ghost';

const BASE = 4 * FRAMES_PER_2M;

test('the guest image names each page of the range: unmapped, mapped read-only, written', () => {
  const { w, g, p } = oneProcess();
  expect(mmap(w, g, p, BASE, 3, { write: true, exec: false }, false).ok).toBe(true);
  expect(access(w, g, p, BASE, 'read').ok).toBe(true);
  expect(access(w, g, p, BASE + 2, 'write').ok).toBe(true);
  const image = imageGuest(w, g, p, BASE);
  expect(image).toHaveLength(FRAMES_PER_2M);
  expect(image.map((x) => x.at)).toEqual(Array.from({ length: FRAMES_PER_2M }, (_, i) => BASE + i));
  const written = peekLeaf(w, g, p, BASE + 2)!;
  expect(image[2]).toEqual({ at: BASE + 2, present: true, gfn: written.gfn, content: peekGuestPhysical(w, g, written.gfn), writable: true, zero: false });
  expect(image[2]!.content.kind).toBe('data');
  const read = peekLeaf(w, g, p, BASE)!;
  expect(image[0]).toEqual({ at: BASE, present: true, gfn: read.gfn, content: ZERO, writable: read.writable, zero: g.owners.get(read.gfn)?.kind === 'zero-page' });
  expect(image[1]).toEqual({ at: BASE + 1, present: false, gfn: -1, content: ZERO, writable: false, zero: false });
  expect(image[3]).toEqual({ at: BASE + 3, present: false, gfn: -1, content: ZERO, writable: false, zero: false });
});

test('the host image is each gfn of the range with what the guest would read there', () => {
  const { w, g, p } = oneProcess();
  expect(mmap(w, g, p, BASE, 4, { write: true, exec: false }, false).ok).toBe(true);
  for (let i = 0; i < 4; i++) expect(access(w, g, p, BASE + i, 'write').ok).toBe(true);
  const gfns = [0, 1, 2, 3].map((i) => peekLeaf(w, g, p, BASE + i)!.gfn);
  const base = gfns[3]! - (gfns[3]! % FRAMES_PER_2M);
  // Written pages inside the range, not only at its first gfn.
  const inside = gfns.filter((x) => x > base && x < base + FRAMES_PER_2M);
  expect(inside.length).toBeGreaterThan(0);
  const image = imageHost(w, g, base);
  expect(image).toHaveLength(FRAMES_PER_2M);
  image.forEach((x, i) => expect(x).toEqual({ at: base + i, present: true, gfn: base + i, content: peekGuestPhysical(w, g, base + i), writable: true, zero: false }));
  for (const x of inside) expect(image[x - base]!.content.kind).toBe('data');
});
