/**
 * Ghost images of a 2 MiB range, taken with the side-effect-free views of mmu/peek.ts before
 * and after a split or collapse, for thp-translation-equivalent. Nothing in the mechanism reads
 * them back.
 */
import { FRAMES_PER_2M } from '../constants';
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import { peekGuestPhysical, peekLeaf } from '../mmu/peek';
import type { World } from '../world';
import { ZERO } from '../content';
import type { PageImage } from './state';

export function imageGuest(world: World, g: Guest, p: Process, base: number): PageImage[] {
  const out: PageImage[] = [];
  for (let i = 0; i < FRAMES_PER_2M; i++) {
    const leaf = peekLeaf(world, g, p, base + i);
    if (!leaf) {
      out.push({ at: base + i, present: false, gfn: -1, content: ZERO, writable: false, zero: false });
      continue;
    }
    out.push({ at: base + i, present: true, gfn: leaf.gfn, content: peekGuestPhysical(world, g, leaf.gfn), writable: leaf.writable, zero: g.owners.get(leaf.gfn)?.kind === 'zero-page' });
  }
  return out;
}

export function imageHost(world: World, g: Guest, base: number): PageImage[] {
  const out: PageImage[] = [];
  for (let i = 0; i < FRAMES_PER_2M; i++) out.push({ at: base + i, present: true, gfn: base + i, content: peekGuestPhysical(world, g, base + i), writable: true, zero: false });
  return out;
}
