/**
 * What compaction's operations mean to the abstract oracle: migration and compaction are
 * invisible to it; the fragmenting workload maps a writable anonymous VMA whose pages all read
 * zero (it only reads them, and gives half of them back with MADV_DONTNEED).
 */
import { OK } from '../../model/result';
import type { OracleEffect } from '../oracle';

export const compactionOracleEffects: Readonly<Record<string, OracleEffect>> = {
  'compaction.fragment': (o, a) => {
    o.apply('guest.mmap', { guest: a.guest!, pid: a.pid!, vpn: a.vpn!, pages: a.pages!, write: true, exec: false, huge: false }, OK);
  },
};
