/**
 * The whole modelled machine: host frames and their ledger, the host buddy allocator, the
 * guests, the physical CPU's TLB, and the step counter that stands in for time. Deterministic:
 * nothing here reads a clock or a random source; every choice arrives as an operation argument.
 */
import { BuddyAllocator } from './buddy/buddy';
import type { ModelConfig } from './config';
import { HostFrames } from './host/frames';
import { Journal } from './journal';
import { Ept } from './mmu/ept';
import { LeafRmap } from './mmu/rmap';
import { Tlb } from './mmu/tlb';
import { Guest } from './guest/guest';
import { isRefusal, type Refusal } from './result';
import { SwapDevice } from './swap/device';

/**
 * Slots of the host's swap device, shared by every guest (assumption: a 32 MiB swap file; the
 * guests' memory here is 16-32 MiB each).
 */
export const HOST_SWAP_SLOTS = 8192;

/** Something the model noticed itself doing wrong (e.g. a double free under an injected bug). */
export interface Anomaly {
  readonly property: string;
  readonly kind: string;
  readonly subject: string;
  readonly expected: string;
  readonly actual: string;
}

export class World {
  readonly faults: ReadonlySet<string>;
  readonly journal = new Journal();
  readonly frames: HostFrames;
  readonly hostBuddy: BuddyAllocator;
  readonly tlb: Tlb;
  readonly eptRmap = new LeafRmap();
  readonly guests: Guest[] = [];
  /** The host's swap device (model/swap/device.ts): guest memory the host paged out. */
  readonly hostSwapDevice: SwapDevice;
  /** Host kernel allocations made by operations: id -> block. */
  readonly hostAllocs = new Map<number, { readonly hfn: number; readonly order: number }>();
  nextHostAlloc = 1;
  /** Index of the operation being applied (-1 while building the initial state). */
  step = -1;
  /** Write stamps: every successful data write gets the next version. */
  version = 0;
  /** State-machine transitions taken, per mechanism ("from->to" -> count), for coverage. */
  readonly transitions = new Map<string, Map<string, number>>();
  /**
   * The transitions the mechanisms declare (registry.ts createWorld sets it): taking one that
   * is not declared is a slip in the model (a misspelt state or mechanism), refused at once so
   * that coverage never counts an edge of no state machine. An injected fault may take an edge
   * the protocol forbids (vballoon-deflate-before-inflate-ack: inflating->deflating), so the
   * check holds in fault-free worlds.
   */
  declared: Readonly<Record<string, readonly string[]>> | null = null;
  readonly anomalies: Anomaly[] = [];

  private constructor(readonly config: ModelConfig) {
    this.faults = new Set(config.faults);
    this.frames = new HostFrames(config.hostFrames, this.journal);
    this.hostBuddy = new BuddyAllocator({ name: 'host', base: 0, frames: config.hostFrames, faults: this.faults });
    this.tlb = new Tlb(this.journal);
    this.hostSwapDevice = new SwapDevice(HOST_SWAP_SLOTS, this.journal, 'swap:host');
  }

  /** Build the machine: every guest gets its EPT root; nothing else is allocated yet. */
  static create(config: ModelConfig): World | Refusal {
    const w = new World(config);
    for (const [id, gc] of config.guests.entries()) {
      const ept = Ept.create(w, id, gc.eptLevels);
      if (isRefusal(ept)) return ept;
      w.guests.push(new Guest(id, gc, ept, w.faults, w.journal, w.hostSwapDevice));
    }
    w.journal.clear();
    return w;
  }

  /** A mechanism option from the configuration, or its default. */
  option<T extends number | boolean | string>(key: string, fallback: T): T {
    const v = this.config.options?.[key];
    return (v === undefined ? fallback : v) as T;
  }

  fault(name: string): boolean {
    return this.faults.has(name);
  }

  transition(mechanism: string, from: string, to: string): void {
    const k = `${from}->${to}`;
    if (this.declared && this.faults.size === 0 && !this.declared[mechanism]?.includes(k)) throw new RangeError(`transition ${mechanism} ${k} is not declared by any mechanism`);
    let m = this.transitions.get(mechanism);
    if (!m) this.transitions.set(mechanism, (m = new Map()));
    m.set(k, (m.get(k) ?? 0) + 1);
  }

  anomaly(property: string, kind: string, subject: string, expected: string, actual: string): void {
    this.anomalies.push({ property, kind, subject, expected, actual });
  }

  nextVersion(): number {
    return ++this.version;
  }
}
