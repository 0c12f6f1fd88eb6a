/**
 * The registry of operations and faults: one list each, mechanisms append theirs.
 */
import { coreFaults, type FaultDef } from './faults';
import { coreOperations } from './ops/core';
import type { OperationDef } from './ops/operation';

export const operations: readonly OperationDef[] = [...coreOperations];
export const faults: readonly FaultDef[] = [...coreFaults];

const byName = new Map(operations.map((o) => [o.name, o]));

export function operationNamed(name: string): OperationDef | undefined {
  return byName.get(name);
}

export function faultNamed(name: string): FaultDef | undefined {
  return faults.find((f) => f.name === name);
}

/** Mechanism ids of the project (issue #2's list); every registry entry uses one of them. */
export const MECHANISMS = [
  'nested-mmu', 'tlb', 'buddy', 'page-cache', 'shared-page-cache', 'unmapped-page-control', 'virtio-balloon',
  'vmware-balloon', 'balloon-compaction', 'free-page-reporting', 'free-page-hinting', 'memctl', 'cleancache',
  'frontswap', 'swap', 'reclaim', 'oom', 'compaction', 'thp', 'ksm', 'virtio-mem',
] as const;
