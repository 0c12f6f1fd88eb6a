/**
 * The shape of a modelled machine. Chosen per run by the swarm (fuzz/swarm.ts) and stored in
 * every counterexample; impossible shapes are refused by `validateModelConfig` with a reason.
 */
import { MAX_PAGE_ORDER } from './constants';

export interface GuestConfig {
  /** Guest-physical frames (4 KiB), a power of two, at least 2^MAX_PAGE_ORDER. */
  readonly frames: number;
  /** Guest paging levels (CR4.LA57 off: 4, on: 5). */
  readonly guestLevels: 4 | 5;
  /** EPT walk levels (EPTP page-walk length 4 or 5). */
  readonly eptLevels: 4 | 5;
  /** Guest maps 2 MiB pages for huge VMAs; the host backs guest memory with 2 MiB pages. */
  readonly hugePages: boolean;
}

export interface ModelConfig {
  /** Host physical frames (4 KiB), a power of two, 2^12..2^24. */
  readonly hostFrames: number;
  readonly guests: readonly GuestConfig[];
  /** Injected bugs by name (model/faults.ts). */
  readonly faults: readonly string[];
  /**
   * Mechanism switches chosen by the swarm (features negotiated, limits), JSON scalars keyed
   * "<mechanism>.<option>", e.g. "virtio-balloon.features". Absent keys take each mechanism's
   * default.
   */
  readonly options?: Readonly<Record<string, number | boolean | string>>;
}

export const HOST_FRAMES_MIN = 2 ** 12;
export const HOST_FRAMES_MAX = 2 ** 24;
export const GUESTS_MAX = 8;
export const GUEST_FRAMES_MAX = 2 ** 20;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** A one-line reason why a configuration is impossible, or null. */
export function validateModelConfig(c: ModelConfig): string | null {
  if (!isPow2(c.hostFrames) || c.hostFrames < HOST_FRAMES_MIN || c.hostFrames > HOST_FRAMES_MAX)
    return `hostFrames must be a power of two in [2^12, 2^24], got ${c.hostFrames}`;
  if (c.guests.length < 1 || c.guests.length > GUESTS_MAX) return `guests must number 1..${GUESTS_MAX}, got ${c.guests.length}`;
  for (const [i, g] of c.guests.entries()) {
    if (!isPow2(g.frames) || g.frames < 2 ** MAX_PAGE_ORDER || g.frames > GUEST_FRAMES_MAX)
      return `guest ${i}: frames must be a power of two in [2^${MAX_PAGE_ORDER}, 2^20], got ${g.frames}`;
    if (g.guestLevels !== 4 && g.guestLevels !== 5) return `guest ${i}: guestLevels must be 4 or 5`;
    if (g.eptLevels !== 4 && g.eptLevels !== 5) return `guest ${i}: eptLevels must be 4 or 5`;
  }
  return null;
}
