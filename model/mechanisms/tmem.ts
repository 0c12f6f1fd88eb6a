/**
 * Transcendent memory (issue 4): cleancache and frontswap over host-held tmem pools.
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { pressureOperations } from '../ops/pressure';
import { tmemFreeAll } from '../tmem/backend';
import { cleancacheInit } from '../tmem/cleancache';
import { frontswapInit } from '../tmem/frontswap';
import type { World } from '../world';

export const tmemFaults: readonly FaultDef[] = [
  {
    name: 'cleancache-invalidate-inode-partial',
    mechanism: 'cleancache',
    breaks: ['cleancache-coherent'],
    reproduces: 'Documentation/vm/cleancache.rst: invalidate_inode must drop every page of the inode (truncate depends on it); one that drops only some lets a later get return a page the filesystem discarded',
    scenario: 'model/tmem/tmem.test.ts',
  },
  {
    name: 'tmem-pool-id-unchecked',
    mechanism: 'cleancache',
    breaks: ['cleancache-private-isolation'],
    reproduces: 'Xen XSA-15 / CVE-2012-3497: tmem took guest-supplied pool ids and handles on trust, so one domain could reach another\'s pages',
  },
  {
    name: 'frontswap-failed-dup-keeps-old',
    mechanism: 'frontswap',
    breaks: ['frontswap-persistent'],
    reproduces: '678e54d4bb9a ("mm/zswap: invalidate duplicate entry when !zswap_enabled"): a failed duplicate store left the old entry, and a later load returned stale data',
    scenario: 'model/tmem/tmem.test.ts',
  },
  {
    name: 'tmem-host-reclaims-persistent',
    mechanism: 'frontswap',
    breaks: ['frontswap-persistent', 'oracle-agreement'],
    reproduces: 'Documentation/vm/frontswap.rst: once a store succeeded the page must load back until invalidated; a backend taking persistent pages back under its own pressure loses swapped-out data',
    scenario: 'model/tmem/tmem.test.ts',
  },
];

export const tmemMechanism: MechanismModel = {
  name: 'tmem',
  operations: pressureOperations.filter((o) => o.mechanism === 'cleancache' || o.mechanism === 'frontswap'),
  faults: tmemFaults,
  transitions: {
    cleancache: ['absent->stored', 'stored->got', 'absent->missed', 'stored->invalidated', 'stored->dropped'],
    frontswap: ['absent->stored', 'absent->refused', 'stored->loaded', 'absent->missed', 'stored->invalidated'],
  },
  init(w: World) {
    cleancacheInit(w);
    frontswapInit(w);
  },
  teardown: tmemFreeAll,
};
