/**
 * The deliberately simpler abstract oracle (style.md 6; pKVM's ghost state): per guest process
 * a plain map from virtual page to expected content and the list of its VMAs; per guest a map
 * from kernel allocation to expected content. It knows nothing of frames, tables, EPTs or
 * TLBs: host reclaim, migration, faults and flushes must all be invisible to it. It is
 * updated from each operation and its result, never from the model's internals.
 */
import { type Content, ZERO, data, describeContent, sameContent } from '../model/content';
import type { OpResult } from '../model/result';
import type { Args } from '../model/ops/operation';

export interface AbstractVma {
  readonly start: number;
  readonly end: number;
  readonly write: boolean;
  readonly exec: boolean;
  /**
   * An object-backed VMA (a shared file mapping, a DAX window) whose pages other writers
   * change (write(2), other processes, other guests, a crash): this per-process map cannot
   * follow them, so its pages read as UNSPECIFIED here and the object's mechanism keeps its own
   * oracle (properties/pagecache/file-oracle.ts, properties/dax/dax-oracle.ts).
   */
  readonly opaque?: boolean;
}

/**
 * Where a specification lets contents become undefined (a discard the guest was told about),
 * the oracle says so explicitly: any content of the guest's own, zero or poison is then
 * acceptable, but never another domain's data (that is no-cross-tenant-leak's business).
 */
export const UNSPECIFIED = Object.freeze({ kind: 'unspecified' } as const);
export type Expected = Content | typeof UNSPECIFIED;

export interface AbstractProcess {
  vmas: AbstractVma[];
  readonly memory: Map<number, Expected>;
}

/** How an operation of another mechanism changes the abstract state (if it does at all). */
export type OracleEffect = (o: Oracle, args: Args, result: OpResult) => void;

/** True when `actual` is an acceptable value for `expected`. */
export function meets(expected: Expected, actual: Content): boolean {
  if (expected.kind === 'unspecified') return true;
  return sameContent(expected, actual);
}

export function describeExpected(e: Expected): string {
  return e.kind === 'unspecified' ? 'unspecified (discarded)' : describeContent(e);
}

export class Oracle {
  /** guest -> pid -> process. */
  readonly processes = new Map<number, Map<number, AbstractProcess>>();
  /** guest -> kernel allocation id -> content. */
  readonly kernel = new Map<number, Map<number, Expected>>();

  constructor(private readonly effects: Readonly<Record<string, OracleEffect>> = {}) {}

  process(guest: number, pid: number): AbstractProcess | undefined {
    return this.processes.get(guest)?.get(pid);
  }

  vmaAt(guest: number, pid: number, vpn: number): AbstractVma | undefined {
    return this.process(guest, pid)?.vmas.find((v) => vpn >= v.start && vpn < v.end);
  }

  /** What a read of vpn must return: the last write, else zero. */
  expected(guest: number, pid: number, vpn: number): Expected {
    if (this.vmaAt(guest, pid, vpn)?.opaque) return UNSPECIFIED;
    return this.process(guest, pid)?.memory.get(vpn) ?? ZERO;
  }

  expectedKernel(guest: number, alloc: number): Expected | undefined {
    return this.kernel.get(guest)?.get(alloc);
  }

  /** Whether the access must succeed (modulo memory exhaustion) or must fault. */
  allows(guest: number, pid: number, vpn: number, write: boolean): boolean {
    const v = this.vmaAt(guest, pid, vpn);
    return v !== undefined && (!write || v.write);
  }

  apply(kind: string, a: Args, result: OpResult): void {
    if (!result.ok) return;
    const g = a.guest as number;
    switch (kind) {
      case 'guest.spawn': {
        let m = this.processes.get(g);
        if (!m) this.processes.set(g, (m = new Map()));
        m.set(result.value!, { vmas: [], memory: new Map() });
        return;
      }
      case 'guest.exit':
        this.processes.get(g)?.delete(a.pid as number);
        return;
      case 'guest.mmap': {
        const p = this.process(g, a.pid as number)!;
        p.vmas.push({ start: a.vpn as number, end: (a.vpn as number) + (a.pages as number), write: a.write as boolean, exec: a.exec as boolean });
        return;
      }
      case 'guest.munmap': {
        const p = this.process(g, a.pid as number)!;
        const s = a.vpn as number;
        const e = s + (a.pages as number);
        p.vmas = cut(p.vmas, s, e, null);
        for (const vpn of [...p.memory.keys()]) if (vpn >= s && vpn < e) p.memory.delete(vpn);
        return;
      }
      case 'guest.mprotect': {
        const p = this.process(g, a.pid as number)!;
        const s = a.vpn as number;
        p.vmas = cut(p.vmas, s, s + (a.pages as number), { write: a.write as boolean, exec: a.exec as boolean });
        return;
      }
      case 'guest.write':
        this.process(g, a.pid as number)!.memory.set(a.vpn as number, data(g, result.value!));
        return;
      case 'guest.kalloc': {
        let m = this.kernel.get(g);
        if (!m) this.kernel.set(g, (m = new Map()));
        m.set(result.value!, ZERO);
        return;
      }
      case 'guest.kfree':
        this.kernel.get(g)?.delete(a.alloc as number);
        return;
      case 'guest.kwrite':
        this.kernel.get(g)!.set(a.alloc as number, data(g, result.value!));
        return;
      default:
        this.effects[kind]?.(this, a, result);
    }
  }
}

/** Remove [s, e) from the VMAs, or re-protect it when `prot` is given. */
function cut(vmas: AbstractVma[], s: number, e: number, prot: { write: boolean; exec: boolean } | null): AbstractVma[] {
  const out: AbstractVma[] = [];
  for (const v of vmas) {
    if (v.end <= s || v.start >= e) {
      out.push(v);
      continue;
    }
    if (v.start < s) out.push({ ...v, end: s });
    if (prot) out.push({ ...v, start: Math.max(v.start, s), end: Math.min(v.end, e), ...prot });
    if (v.end > e) out.push({ ...v, start: e });
  }
  return out;
}
