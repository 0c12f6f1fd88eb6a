/**
 * The registry of generators: one record per mechanism, merged. A kind without a generator is
 * never drawn (KindTable skips it).
 */
import type fc from 'fast-check';
import { coreGenerators } from './core';
import { compactionGenerators } from './compaction';
import { thpGenerators } from './thp';
import type { Gen } from './pick';

export const generators: Readonly<Record<string, Gen>> = { ...coreGenerators, ...compactionGenerators, ...thpGenerators };

/**
 * Swarm options per mechanism ("<mechanism>.<option>" -> arbitrary of a JSON scalar): drawn
 * per run into SwarmConfig.options and passed to the model (ModelConfig.options).
 */
export const optionArbs: Readonly<Record<string, fc.Arbitrary<number | boolean | string>>> = {};
