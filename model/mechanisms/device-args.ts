/**
 * Argument helpers shared by the device mechanisms' operations (virtio-balloon,
 * balloon-compaction, vmware-balloon, free-page-reporting, free-page-hinting, memctl).
 */
import type { Guest } from '../guest/guest';
import { guestOf } from '../ops/lookup';
import { int, type Args } from '../ops/operation';
import { refuse, type Refusal } from '../result';
import type { World } from '../world';

export { GUEST } from '../ops/lookup';
export const GFN = int(0, 2 ** 24 - 1);

/** The guest and its per-guest device state, or a refusal naming what is missing. */
export function withDevice<T>(w: World, a: Args, of: (g: Guest) => T | undefined, what: string): { g: Guest; d: T } | Refusal {
  const g = guestOf(w, a);
  if ('ok' in g) return g;
  const d = of(g);
  return d === undefined ? refuse('invalid', `g${g.id} has no ${what}`) : { g, d };
}
