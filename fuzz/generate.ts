/**
 * State-following generation: each step draws a few natural numbers (fast-check shrinks them
 * towards 0) and turns them into an operation chosen from what exists now: existing
 * processes, VMAs, mapped pages, backed frames, allocations in flight, each mechanism's own
 * objects (fuzz/generators/). Edge values are biased in on purpose (fuzz/generators/pick.ts).
 */
import type { World } from '../model/world';
import type { Operation } from './contract';
import { generators as gens } from './generators';
import type { Choice } from './generators/pick';

export type { Choice };

/** Cumulative weights for drawing a kind. */
export class KindTable {
  private readonly kinds: string[] = [];
  private readonly cumulative: number[] = [];
  readonly total: number;

  constructor(weights: Readonly<Record<string, number>>) {
    let sum = 0;
    for (const [k, wgt] of Object.entries(weights)) {
      if (wgt <= 0 || !gens[k]) continue;
      sum += wgt;
      this.kinds.push(k);
      this.cumulative.push(sum);
    }
    this.total = sum;
  }

  draw(c: number): string {
    const x = c % this.total;
    for (let i = 0; i < this.cumulative.length; i++) if (x < this.cumulative[i]!) return this.kinds[i]!;
    return this.kinds[this.kinds.length - 1]!;
  }
}

/**
 * The operation for one step: the drawn kind; when that kind has nothing to act on, the step
 * builds what it lacked: a mapping for a process without one, else a process.
 */
export function generate(w: World, table: KindTable, c: Choice): Operation {
  const kind = table.draw(c[0]);
  const op = gens[kind]!(w, c);
  if (op) return op;
  // Nothing to act on: build what is missing (a process, then a mapping), else touch memory.
  let processes = 0;
  let bare = false;
  for (const g of w.guests)
    for (const p of g.processes.values()) {
      processes++;
      if (p.vmas.length === 0) bare = true;
    }
  if (processes === 0) return gens['guest.spawn']!(w, c)!;
  if (bare) return gens['guest.mmap']!(w, c) ?? gens['guest.spawn']!(w, c)!;
  return gens['guest.write']!(w, c) ?? gens['guest.spawn']!(w, c)!;
}

export function generatorKinds(): string[] {
  return Object.keys(gens);
}
