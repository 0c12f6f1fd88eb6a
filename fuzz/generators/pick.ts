/**
 * Choosing from the live state, edges first: helpers every mechanism's generators share.
 * Each takes one of the step's natural numbers (fast-check shrinks them towards 0, so the
 * first candidate is the simplest) and picks among what exists now.
 */
import { FRAMES_PER_2M } from '../../model/constants';
import type { Guest } from '../../model/guest/guest';
import type { Process, Vma } from '../../model/guest/process';
import type { World } from '../../model/world';
import type { Operation } from '../contract';

export type Choice = readonly [number, number, number, number];

export function pick<T>(xs: readonly T[], c: number): T | undefined {
  return xs.length === 0 ? undefined : xs[c % xs.length];
}

export function nthKey<K>(m: { readonly size: number; keys(): Iterable<K> }, c: number): K | undefined {
  if (m.size === 0) return undefined;
  let i = c % m.size;
  for (const k of m.keys()) if (i-- === 0) return k;
  return undefined;
}

export function guestOf(w: World, c: number): Guest {
  return w.guests[c % w.guests.length]!;
}

export function procOf(w: World, c: number): { g: Guest; p: Process } | undefined {
  const all: { g: Guest; p: Process }[] = [];
  for (const g of w.guests) for (const p of g.processes.values()) all.push({ g, p });
  return pick(all, c);
}

/** A page in or next to a VMA, edges first. */
export function vpnIn(v: Vma, c: number): number {
  const len = v.end - v.start;
  switch (c % 8) {
    case 0: return v.start;
    case 1: return v.end - 1;
    case 2: return v.start + Math.min(len - 1, FRAMES_PER_2M - 1);
    case 3: return v.end; // just past the VMA: must fault
    default: return v.start + (Math.floor(c / 8) % len);
  }
}

export function pagesFor(c: number): number {
  switch (c % 6) {
    case 0: return 1;
    case 1: return 33; // tlb_single_page_flush_ceiling
    case 2: return 34;
    default: return 1 + (Math.floor(c / 6) % 64);
  }
}

/** A generator: the operation for this step from the live state, or null if nothing fits. */
export type Gen = (w: World, c: Choice) => Operation | null;
