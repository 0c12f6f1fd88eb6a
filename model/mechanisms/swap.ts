/**
 * Swap (issue 4): guest swap devices and swap cache; host swap of guest memory (the core's
 * host reclaim, extended with slots in model/host/reclaim.ts).
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { pressureOperations } from '../ops/pressure';
import { swapInit } from '../swap/guest-swap';

export const swapFaults: readonly FaultDef[] = [
  {
    name: 'swap-slot-freed-while-referenced',
    mechanism: 'swap',
    breaks: ['swap-slot-exclusive', 'swapped-data-returns'],
    reproduces: '13ddaf26be32 ("mm/swap: fix race when skipping swapcache"): a swap entry freed while another reference to it lived on was reused for another page, and the stale reference read that page',
    scenario: 'model/swap/swap.test.ts',
  },
  {
    name: 'swap-frees-before-writeback',
    mechanism: 'swap',
    breaks: ['swap-frame-held-during-writeback', 'oracle-agreement'],
    reproduces: 'mm/vmscan.c shrink_folio_list keeps a folio under writeback until end_page_writeback; a swap-cache page freed at submission is reused while the device still reads it, and the slot receives the new owner\'s data',
    scenario: 'model/swap/swap.test.ts',
  },
  {
    name: 'host-swap-frees-before-writeback',
    mechanism: 'swap',
    breaks: ['swap-frame-held-during-writeback', 'ownership-partition'],
    reproduces: 'the same rule on the host: a frame backing a guest must not be freed while its swap-out write is in flight (folio_test_writeback)',
  },
];

export const swapMechanism: MechanismModel = {
  name: 'swap',
  operations: pressureOperations.filter((o) => o.mechanism === 'swap'),
  faults: swapFaults,
  transitions: {
    swap: [
      'host-backed->host-writeback', 'host-writeback->host-swapped',
      'mapped->swap-cache', 'swap-cache->swapped', 'swapped->mapped', 'swap-cache->mapped', 'swapped->freed',
    ],
  },
  init: swapInit,
};
