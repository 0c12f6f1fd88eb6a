/**
 * How this operations change the core's abstract oracle (properties/oracle.ts), from
 * the operations and their results only:
 * - a shared file or DAX mapping adds an opaque VMA (its pages are followed by the file and
 *   DAX oracles, not by the per-process map);
 * - mm.populate adds an anonymous VMA whose pages read zero;
 * - an OOM kill (the result names the victim) and a crash (every process) remove processes.
 */
import { SHARED_FILE_PAGES } from '../model/dax/shared-cache';
import { FRAMES_PER_1G } from '../model/constants';
import type { OracleEffect } from './oracle';

const addVma = (opaque: boolean, pagesOf: (a: Record<string, unknown>) => number): OracleEffect => (o, a, r) => {
  if (!r.ok) return;
  const p = o.process(a.guest as number, a.pid as number);
  if (!p) return;
  const start = a.vpn as number;
  p.vmas.push({ start, end: start + pagesOf(a), write: opaque ? (a.write as boolean) : true, exec: false, ...(opaque ? { opaque: true } : {}) });
};

export const pressureOracleEffects: Readonly<Record<string, OracleEffect>> = {
  'file.mmap': addVma(true, (a) => a.pages as number),
  'dax.mmap': addVma(true, () => SHARED_FILE_PAGES),
  // The memctl 1 GiB region is shared by every process that maps it and changed by the host
  // (DONTNEED drops to zero): memctl-zeroed-once follows its frames, not this map.
  'memctl.mmap': addVma(true, () => FRAMES_PER_1G),
  'mm.populate': addVma(false, (a) => a.pages as number),
  'oom.kill': (o, a, r) => {
    if (r.ok && (r.value ?? 0) > 0) o.processes.get(a.guest as number)?.delete(r.value!);
  },
  'guest.crash': (o, a, r) => {
    if (r.ok) o.processes.get(a.guest as number)?.clear();
  },
};
