/**
 * What a mechanism contributes to the model: its operations, its injected faults, the
 * transition table of its state machines, a hook run once per world (to register guest
 * pressure hooks and OOM notifiers), and its part of the fault-free settle phase. Mechanisms
 * are listed once, in model/registry.ts; everything else derives from that list.
 */
import type { FaultDef } from './faults';
import type { OperationDef } from './ops/operation';
import type { World } from './world';

export interface MechanismModel {
  /** Its file's name in model/mechanisms/ (model/registry.test.ts checks it); the ids its operations and faults use are in registry.ts. */
  readonly name: string;
  readonly operations: readonly OperationDef[];
  readonly faults: readonly FaultDef[];
  /** Mechanism id -> declared transitions "from->to" (see world.transition). */
  readonly transitions: Readonly<Record<string, readonly string[]>>;
  /** Once per world, after the guests exist. */
  readonly init?: (world: World) => void;
  /** The settle phase: drive this mechanism's protocols to their end, bounded. */
  readonly settle?: (world: World) => void;
  /**
   * Before the guests are destroyed (model/teardown.ts): give back host frames the mechanism
   * holds outside any guest (host page cache, tmem pools, shared DAX pages).
   */
  readonly teardown?: (world: World) => void;
}
