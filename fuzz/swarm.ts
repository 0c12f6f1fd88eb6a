/**
 * Swarm configurations (Groce et al., "Swarm testing", ISSTA 2012; TigerBeetle's VOPR): every
 * run draws its own machine shape and its own mix of operation kinds, some switched off
 * entirely, so that rare interleavings get room. Everything is drawn by fast-check from the
 * run's seed and printed with every failure.
 */
import fc from 'fast-check';
import type { GuestConfig } from '../model/config';
import { operations } from '../model/registry';
import type { SwarmConfig } from './contract';
import { optionArbs } from './generators';

/** Mechanisms every other one acts through: never switched off as a whole. */
const CORE_MECHANISMS = ['nested-mmu', 'buddy', 'tlb'];

/** Kinds every run keeps on: without them nothing else has anything to act on. */
export const ALWAYS_ON = ['guest.spawn', 'guest.mmap', 'guest.read', 'guest.write'];

const guestArb: fc.Arbitrary<GuestConfig> = fc.record({
  frames: fc.constantFrom(2 ** 12, 2 ** 13),
  guestLevels: fc.constantFrom(4 as const, 5 as const),
  eptLevels: fc.constantFrom(4 as const, 5 as const),
  hugePages: fc.boolean(),
});

/**
 * The swarm over the operation kinds of `mechanisms` (empty: all). A `front` mechanism (a fault
 * hunt's own) is never switched off: its kinds always have weight and it is always brought to
 * the front.
 */
export function swarmArb(mechanisms: readonly string[], front?: string): fc.Arbitrary<SwarmConfig> {
  const kinds = operations.filter((o) => mechanisms.length === 0 || mechanisms.includes(o.mechanism) || ALWAYS_ON.includes(o.name));
  const weightArbs: Record<string, fc.Arbitrary<number>> = {};
  for (const k of kinds)
    weightArbs[k.name] =
      ALWAYS_ON.includes(k.name) || k.mechanism === front ? fc.integer({ min: 2, max: 10 }) : fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 10 }) });
  // Swarm over mechanisms too: with a dozen mechanisms a run that mixes all of them gives each
  // too few steps to build its own preconditions, so each run also switches whole mechanisms
  // off or brings them to the front (the core ones, which every other acts through, stay on).
  const focusArbs: Record<string, fc.Arbitrary<number>> = {};
  for (const m of new Set(kinds.map((k) => k.mechanism)))
    focusArbs[m] = m === front ? fc.constant(4) : CORE_MECHANISMS.includes(m) ? fc.constant(1) : fc.oneof({ weight: 2, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(4) });
  const mechanismOf = new Map(kinds.map((k) => [k.name, k.mechanism]));
  return fc
    .record({
      hostFrames: fc.constantFrom(2 ** 14, 2 ** 15),
      guests: fc.array(guestArb, { minLength: 1, maxLength: 3 }),
      weights: fc.record(weightArbs),
      focus: fc.record(focusArbs),
      options: fc.record({ ...optionArbs }),
    })
    .map(({ focus, weights, ...rest }) => ({
      ...rest,
      weights: Object.fromEntries(Object.entries(weights).map(([k, w]) => [k, ALWAYS_ON.includes(k) ? w : w * focus[mechanismOf.get(k)!]!])),
    }));
}

/** The default configuration of a small, fully enabled machine (tests, benchmarks). */
export function defaultSwarm(): SwarmConfig {
  const weights: Record<string, number> = {};
  for (const o of operations) weights[o.name] = ALWAYS_ON.includes(o.name) ? 6 : 2;
  return {
    hostFrames: 2 ** 14,
    guests: [
      { frames: 2 ** 13, guestLevels: 4, eptLevels: 4, hugePages: true },
      { frames: 2 ** 12, guestLevels: 5, eptLevels: 4, hugePages: false },
    ],
    weights,
    options: {},
  };
}

export function describeSwarm(c: SwarmConfig): string {
  const on = Object.entries(c.weights).filter(([, w]) => w > 0).map(([k, w]) => `${k}:${w}`);
  const guests = c.guests.map((g, i) => `g${i}: ${g.frames} frames, ${g.guestLevels}/${g.eptLevels} levels${g.hugePages ? ', huge' : ''}`);
  return `host ${c.hostFrames} frames; ${guests.join('; ')}; ops ${on.join(' ')}`;
}
