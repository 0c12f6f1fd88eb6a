/** What KSM's operations mean to the abstract oracle: a fill writes a page of one byte value. */
import { poison } from '../../model/content';
import { FILL_PATTERNS } from '../../model/ksm/ops';
import type { OracleEffect } from '../oracle';

export const ksmOracleEffects: Readonly<Record<string, OracleEffect>> = {
  'ksm.fill': (o, a) => {
    o.process(a.guest as number, a.pid as number)?.memory.set(a.vpn as number, poison(FILL_PATTERNS[a.pattern as number]!));
  },
};
