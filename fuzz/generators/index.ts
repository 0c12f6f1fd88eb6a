/**
 * The registry of generators: one record per mechanism, merged. A kind without a generator is
 * never drawn (KindTable skips it).
 */
import { coreGenerators } from './core';
import type { Gen } from './pick';

export const generators: Readonly<Record<string, Gen>> = { ...coreGenerators };
