/**
 * The seed stream position: which batches of the stream are done. Batches finish out of order
 * (several workers), so the position is "every batch below doneBelow, plus these above it".
 * A batch in flight when the campaign was killed is simply not done, and runs again on resume.
 */
export interface Position {
  doneBelow: number;
  doneAbove: number[];
}

export function startPosition(): Position {
  return { doneBelow: 0, doneAbove: [] };
}

export function isDone(p: Position, k: number): boolean {
  return k < p.doneBelow || p.doneAbove.includes(k);
}

export function markDone(p: Position, k: number): void {
  if (isDone(p, k)) return;
  p.doneAbove.push(k);
  p.doneAbove.sort((a, b) => a - b);
  while (p.doneAbove.length > 0 && p.doneAbove[0] === p.doneBelow) {
    p.doneAbove.shift();
    p.doneBelow++;
  }
}

/** The first batch at or after `from` that is not done. */
export function nextUndone(p: Position, from: number): number {
  let k = Math.max(from, p.doneBelow);
  while (p.doneAbove.includes(k)) k++;
  return k;
}

export function doneCount(p: Position): number {
  return p.doneBelow + p.doneAbove.length;
}
