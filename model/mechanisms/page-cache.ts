/**
 * Page caches (issue 4): files on virtual disks cached by the guest and, for cache=writeback
 * images, by the host (page-cache); unmapped page-cache control (unmapped-page-control).
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { pageCacheOperations } from '../ops/page-cache';
import { dropHostCaches } from '../pagecache/disk';
import { completeAll } from '../pagecache/io';
import { mmapInit } from '../pagecache/mmap';
import { pcWorld } from '../pagecache/state';
import type { World } from '../world';

export const pageCacheFaults: readonly FaultDef[] = [
  {
    name: 'unmap-drops-pte-dirty',
    mechanism: 'page-cache',
    breaks: ['dirty-page-never-dropped', 'file-read-returns-last-write', 'reclaim-never-drops-dirty'],
    reproduces: 'mm/rmap.c try_to_unmap_one: "if (pte_dirty(pteval)) folio_mark_dirty(folio)"; an unmap that drops the PTE dirty bit makes a page written only through a mapping look clean, and reclaim frees it unwritten',
    scenario: 'model/pagecache/page-cache.test.ts',
  },
  {
    name: 'fsync-skips-mapped-dirty',
    mechanism: 'page-cache',
    breaks: ['file-read-returns-last-write', 'dirty-page-never-dropped'],
    reproduces: 'd08b3851da41 ("mm: tracking shared dirty pages"): before it, fsync/msync saw only PG_dirty and missed writes whose dirty bits were still in the PTEs; after a crash the fsynced data is not there',
    scenario: 'model/pagecache/page-cache.test.ts',
  },
  {
    name: 'double-cache-count-misses-host-evict',
    mechanism: 'page-cache',
    breaks: ['double-caching-exact'],
    reproduces: 'the statistics-drift class of bbbc709a0fbf ("mm: khugepaged: fix NR_FILE_PAGES accounting in collapse_file()"): one page-cache path skips its counter update and the figure drifts from the pages that exist',
  },
  {
    name: 'upc-drops-dirty',
    mechanism: 'unmapped-page-control',
    breaks: ['unmapped-control-safe', 'dirty-page-never-dropped'],
    reproduces: 'Balbir Singh\'s unmapped page-cache control reclaims with may_writepage = 0: a dirty page must stay; dropping it loses its writes',
    scenario: 'model/pagecache/page-cache.test.ts',
  },
  {
    name: 'upc-unmaps-mapped',
    mechanism: 'unmapped-page-control',
    breaks: ['unmapped-control-safe'],
    reproduces: 'unmapped page-cache control reclaims with may_unmap = 0 ("Selectively control Unmapped Page Cache", LKML 2010): unmapping pages processes are using breaks the rule it is named after',
    scenario: 'model/pagecache/page-cache.test.ts',
  },
];

export const pageCacheMechanism: MechanismModel = {
  name: 'page-cache',
  operations: pageCacheOperations,
  faults: pageCacheFaults,
  transitions: {
    'page-cache': [
      'absent->clean', 'absent->dirty', 'clean->dirty', 'dirty->writeback', 'writeback->clean', 'dirty->clean', 'clean->absent',
      'unmapped->mapped', 'mapped->unmapped', 'dirty->durable', 'io-in-flight->io-done', 'running->crashed',
      'host-absent->host-clean', 'host-absent->host-dirty', 'host-clean->host-dirty', 'host-dirty->host-clean', 'host-clean->host-absent',
    ],
    'unmapped-page-control': ['over-limit->reclaimed', 'over-limit->within-limit'],
  },
  init(w: World) {
    pcWorld(w);
    mmapInit(w);
  },
  /** Block I/O in flight completes (the device finishes what it was given). */
  settle(w: World) {
    for (const g of w.guests) completeAll(w, g);
  },
  teardown: dropHostCaches,
};
