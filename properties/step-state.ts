/**
 * Abstract state a property keeps beside the core oracle (a file oracle, a DAX oracle, a tmem
 * oracle), advanced exactly once per step from the operation and its result, never from the
 * model's internals. One instance per run (keyed by the run's Oracle object); every property
 * that reads it advances it first, so whichever of them runs first does the update and
 * selecting only some of them (--properties) still works.
 */
import type { Oracle } from './oracle';
import type { StepContext } from './property';

export interface Stepped {
  lastStep: number;
}

export function stepState<T extends Stepped>(store: WeakMap<Oracle, T>, ctx: StepContext, create: (ctx: StepContext) => T, advance: (s: T, ctx: StepContext) => void): T {
  let s = store.get(ctx.oracle);
  if (!s) store.set(ctx.oracle, (s = create(ctx)));
  if (ctx.op && ctx.result && s.lastStep !== ctx.world.step) {
    s.lastStep = ctx.world.step;
    advance(s, ctx);
  }
  return s;
}

/** Process mappings an oracle follows: [start, end) of (guest, pid), cut by munmap, gone at exit. */
export interface Mapping {
  readonly start: number;
  readonly end: number;
  readonly object: number;
  readonly origin: number;
}

export class Mappings {
  private readonly byProc = new Map<string, Mapping[]>();

  add(guest: number, pid: number, m: Mapping): void {
    const k = `${guest}:${pid}`;
    const l = this.byProc.get(k) ?? [];
    l.push(m);
    this.byProc.set(k, l);
  }

  at(guest: number, pid: number, vpn: number): { object: number; index: number } | undefined {
    const m = this.byProc.get(`${guest}:${pid}`)?.find((x) => vpn >= x.start && vpn < x.end);
    return m && { object: m.object, index: vpn - m.origin };
  }

  cut(guest: number, pid: number, start: number, end: number): void {
    const k = `${guest}:${pid}`;
    const l = this.byProc.get(k);
    if (!l) return;
    const out: Mapping[] = [];
    for (const m of l) {
      if (m.end <= start || m.start >= end) out.push(m);
      else {
        if (m.start < start) out.push({ ...m, end: start });
        if (m.end > end) out.push({ ...m, start: end });
      }
    }
    this.byProc.set(k, out);
  }

  dropProcess(guest: number, pid: number): void {
    this.byProc.delete(`${guest}:${pid}`);
  }

  dropGuest(guest: number): void {
    for (const k of [...this.byProc.keys()]) if (k.startsWith(`${guest}:`)) this.byProc.delete(k);
  }

  /**
   * Follow the operations every mapping oracle must follow: munmap, exit, an OOM kill and a
   * crash end mappings; `mmapKind` adds one (object = args.file, origin = vpn - pgoff).
   */
  follow(ctx: StepContext, mmapKind: string, fixedPages?: number): void {
    const { op, result } = ctx;
    if (!op || !result?.ok) return;
    const a = op.args;
    const g = a.guest as number;
    switch (op.kind) {
      case mmapKind: {
        const start = a.vpn as number;
        const pages = fixedPages ?? (a.pages as number);
        this.add(g, a.pid as number, { start, end: start + pages, object: a.file as number, origin: start - ((a.pgoff as number | undefined) ?? 0) });
        return;
      }
      case 'guest.munmap':
        this.cut(g, a.pid as number, a.vpn as number, (a.vpn as number) + (a.pages as number));
        return;
      case 'guest.exit':
        this.dropProcess(g, a.pid as number);
        return;
      case 'oom.kill':
        if ((result.value ?? 0) > 0) this.dropProcess(g, result.value!);
        return;
      case 'guest.crash':
        this.dropGuest(g);
        return;
    }
  }
}
