/**
 * What THP's operations mean to the abstract oracle: MADV_DONTNEED on private anonymous
 * memory makes the range read zero again (madvise(2): "zero-fill-on-demand pages"); splits and
 * collapses change nothing a process can see.
 */
import type { OracleEffect } from '../oracle';

export const thpOracleEffects: Readonly<Record<string, OracleEffect>> = {
  'thp.dontneed': (o, a) => {
    const p = o.process(a.guest as number, a.pid as number);
    if (!p) return;
    const s = a.vpn as number;
    const e = s + (a.pages as number);
    for (const vpn of [...p.memory.keys()]) if (vpn >= s && vpn < e) p.memory.delete(vpn);
  },
};
