/**
 * The registry: every mechanism of the model, listed once. Operations, faults, declared
 * transitions and the settle phase all derive from this list; properties are listed in
 * properties/index.ts and generators in fuzz/generators/index.ts.
 */
import { validateModelConfig, type ModelConfig } from './config';
import type { FaultDef } from './faults';
import type { MechanismModel } from './mechanism';
import { coreMechanism } from './mechanisms/core';
import { compactionMechanism } from './mechanisms/compaction';
import { thpMechanism } from './mechanisms/thp';
import { ksmMechanism } from './mechanisms/ksm';
import { virtioMemMechanism } from './mechanisms/virtio-mem';
import { balloonCompactionMechanism } from './mechanisms/balloon-compaction';
import { freePageHintingMechanism } from './mechanisms/free-page-hinting';
import { freePageReportingMechanism } from './mechanisms/free-page-reporting';
import { memctlMechanism } from './mechanisms/memctl';
import { pageCacheMechanism } from './mechanisms/page-cache';
import { reclaimMechanism } from './mechanisms/reclaim';
import { sharedPageCacheMechanism } from './mechanisms/shared-page-cache';
import { swapMechanism } from './mechanisms/swap';
import { tmemMechanism } from './mechanisms/tmem';
import { virtioBalloonMechanism } from './mechanisms/virtio-balloon';
import { vmwareBalloonMechanism } from './mechanisms/vmware-balloon';
import type { OperationDef } from './ops/operation';
import { isRefusal, refuse, type Refusal } from './result';
import { destroyAll } from './teardown';
import { World } from './world';

/**
 * Order matters: init runs in this order (virtio-balloon negotiates features before free page
 * hinting and reporting read them; memctl reserves the top of guest memory before virtio-mem
 * places its device below it; swap's and the page cache's fault handlers come before THP's
 * zero pages; compaction's slow-path hook before reclaim's, and reclaim registers its
 * direct-reclaim and OOM pressure hooks last, because the OOM killer is the allocator's last
 * resort, mm/page_alloc.c __alloc_pages_may_oom), and so does settle (balloon migrations end
 * before the balloon converges; page migrations end and hinted blocks are freed before
 * virtio-mem's driver offlines), with one exception below.
 */
export const mechanisms: readonly MechanismModel[] = [
  coreMechanism,
  balloonCompactionMechanism,
  virtioBalloonMechanism,
  vmwareBalloonMechanism,
  memctlMechanism,
  pageCacheMechanism,
  sharedPageCacheMechanism,
  tmemMechanism,
  swapMechanism,
  compactionMechanism,
  thpMechanism,
  ksmMechanism,
  freePageHintingMechanism,
  virtioMemMechanism,
  freePageReportingMechanism,
  reclaimMechanism,
];

export const operations: readonly OperationDef[] = mechanisms.flatMap((m) => m.operations);
export const faults: readonly FaultDef[] = mechanisms.flatMap((m) => m.faults);

export const declaredTransitions: Readonly<Record<string, readonly string[]>> = Object.assign({}, ...mechanisms.map((m) => m.transitions));

const byName = new Map(operations.map((o) => [o.name, o]));

export function operationNamed(name: string): OperationDef | undefined {
  return byName.get(name);
}

export function faultNamed(name: string): FaultDef | undefined {
  return faults.find((f) => f.name === name);
}

/** Build a world and let every mechanism set itself up in it. */
export function createWorld(config: ModelConfig): World | Refusal {
  const impossible = validateModelConfig(config);
  if (impossible) return refuse('invalid', impossible);
  const w = World.create(config);
  if (isRefusal(w)) return w;
  w.declared = declaredTransitions;
  for (const m of mechanisms) m.init?.(w);
  w.journal.clear();
  return w;
}

/**
 * Settle order: the registry order, except that virtio-mem and then free page reporting settle
 * last. Settling the others frees guest memory (reclaim's shrink_all_memory drops page-cache
 * pages, a balloon deflates, the hinting driver lets its blocks go): virtio-mem's driver
 * offlines only after that, when the blocks it could unplug are known, and every free of a
 * reportable block (virtio-mem's own included) requests reporting work
 * (mm/page_reporting.c page_reporting_notify_free), which only a later settle can finish.
 */
const settlesLast: readonly MechanismModel[] = [virtioMemMechanism, freePageReportingMechanism];
export const settleOrder: readonly MechanismModel[] = [...mechanisms.filter((m) => !settlesLast.includes(m)), ...settlesLast];

/** The fault-free settle phase: every mechanism drives its protocols to their end. */
export function settleAll(w: World): void {
  for (const m of settleOrder) m.settle?.(w);
}

/** Teardown: every mechanism gives back what it holds outside the guests, then the guests go. */
export function teardownAll(w: World): void {
  for (const m of mechanisms) m.teardown?.(w);
  destroyAll(w);
}

/** Mechanism ids of the project; every registry entry uses one of them. */
export const MECHANISMS = [
  'nested-mmu', 'tlb', 'buddy', 'page-cache', 'shared-page-cache', 'unmapped-page-control', 'virtio-balloon',
  'vmware-balloon', 'balloon-compaction', 'free-page-reporting', 'free-page-hinting', 'memctl', 'cleancache',
  'frontswap', 'swap', 'reclaim', 'oom', 'compaction', 'thp', 'ksm', 'virtio-mem',
] as const;
