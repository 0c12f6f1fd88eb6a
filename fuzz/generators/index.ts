/**
 * The registry of generators: one record per mechanism, merged. A kind without a generator is
 * never drawn (KindTable skips it).
 */
import type fc from 'fast-check';
import { coreGenerators } from './core';
import { compactionGenerators } from './compaction';
import { thpGenerators } from './thp';
import { ksmGenerators } from './ksm';
import { virtioMemGenerators } from './virtio-mem';
import { deviceGenerators, deviceOptionArbs } from './devices';
import { pressureGenerators, pressureOptionArbs } from './pressure';
import fcRuntime from 'fast-check';
import type { Gen } from './pick';

export const generators: Readonly<Record<string, Gen>> = {
  ...coreGenerators,
  ...deviceGenerators,
  ...pressureGenerators,
  ...compactionGenerators,
  ...thpGenerators,
  ...ksmGenerators,
  ...virtioMemGenerators,
};

/**
 * Swarm options per mechanism ("<mechanism>.<option>" -> arbitrary of a JSON scalar): drawn
 * per run into SwarmConfig.options and passed to the model (ModelConfig.options).
 */
export const optionArbs: Readonly<Record<string, fc.Arbitrary<number | boolean | string>>> = {
  ...deviceOptionArbs,
  ...pressureOptionArbs,
  // KSM across guests (off: each VM's pages merge only among themselves, per-VM salting).
  'ksm.cross-guest': fcRuntime.boolean(),
  // /sys/kernel/mm/transparent_hugepage/use_zero_page and khugepaged/max_ptes_none.
  'thp.use-zero-page': fcRuntime.boolean(),
  'thp.max-ptes-none': fcRuntime.constantFrom(511, 256, 0),
  // /proc/sys/vm/extfrag_threshold.
  'compaction.extfrag-threshold': fcRuntime.constantFrom(500, 200),
  // Blocks of the guests' virtio-mem devices (0: no device).
  'virtio-mem.blocks': fcRuntime.constantFrom(0, 2, 4),
};
