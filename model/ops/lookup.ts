/**
 * The argument descriptors and lookups every mechanism's operations share: which guest, which
 * process. A missing one is a typed refusal (no-such-guest, no-such-process), never a throw.
 */
import type { Guest } from '../guest/guest';
import type { Process } from '../guest/process';
import { refuse, type Refusal } from '../result';
import type { World } from '../world';
import { int, type Args } from './operation';

/** A guest index (the swarm runs one to three guests; higher indices are refused). */
export const GUEST = int(0, 7);
/** A process id inside a guest. */
export const PID = int(1, 2 ** 20);

export function guestOf(w: World, a: Args): Guest | Refusal {
  return w.guests[a.guest as number] ?? refuse('no-such-guest', `no guest ${String(a.guest)}`);
}

export function procOf(w: World, a: Args): { g: Guest; p: Process } | Refusal {
  const g = guestOf(w, a);
  if ('ok' in g) return g;
  const p = g.processes.get(a.pid as number);
  return p ? { g, p } : refuse('no-such-process', `g${g.id} has no pid ${String(a.pid)}`);
}
