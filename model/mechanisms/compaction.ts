/**
 * Compaction and migration (issue: pages that move and merge): multi-step page migration on
 * both sides of the nested MMU and whole-zone compaction, triggered by failed high-order
 * guest allocations (the allocator's slow path) and by operations.
 */
import { compactionOperations } from '../compaction/ops';
import { directCompaction, FAULT_FREE_SCANNER_STARTS_LOW } from '../compaction/compact';
import { FAULT_COPY_BEFORE_FLUSH, FAULT_MIGRATES_UNMOVABLE, FAULT_SKIP_INVALIDATE, hostMigrationEntryAt, runMigration } from '../compaction/migrate';
import { compactionState, guestLockedSet } from '../compaction/state';
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { refuse } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';

export const compactionFaults: readonly FaultDef[] = [
  {
    name: FAULT_COPY_BEFORE_FLUSH,
    mechanism: 'compaction',
    scenario: 'model/compaction/migrate.test.ts',
    breaks: ['migration-flush-before-copy', 'tlb-coherence', 'migration-preserves-contents', 'read-returns-last-write'],
    reproduces: 'mm/migrate.c migrate_pages_batch: try_to_unmap_flush() must run before migrate_folio_move() copies; a batched flush deferred past the copy lets a write through a stale TLB entry land in the old page and be lost',
  },
  {
    name: FAULT_SKIP_INVALIDATE,
    mechanism: 'compaction',
    scenario: 'model/compaction/migrate.test.ts',
    breaks: ['migration-no-stale-mapping', 'migration-flush-before-copy', 'ept-coherence', 'tlb-coherence'],
    reproduces: 'f268f6cf875f class for migration: the primary mapping changes without the mmu notifier / TLB flush, so KVM and the TLB keep translating to the freed source frame',
  },
  {
    name: FAULT_MIGRATES_UNMOVABLE,
    mechanism: 'compaction',
    breaks: ['migration-only-movable'],
    reproduces: 'mm/compaction.c isolate_migratepages_block isolates only PageLRU or __PageMovable pages; isolating any order-0 page moves kernel pages and page tables under the pointers that still name the old frame',
  },
  {
    name: FAULT_FREE_SCANNER_STARTS_LOW,
    mechanism: 'compaction',
    scenario: 'model/compaction/compact.test.ts',
    breaks: ['compaction-finds-block'],
    reproduces: 'mm/compaction.c compact_zone / reset_cached_positions: the free scanner starts at the zone end and walks down to meet the migrate scanner; started at the migrate scanner\'s pageblock it takes targets inside the pageblock being emptied and compaction never frees it',
  },
];

/** compaction: migration stages and compaction runs (state.ts, compact.ts). */
export const compactionTransitions: Readonly<Record<string, readonly string[]>> = {
  compaction: [
    'none->locked', 'locked->unmapped', 'unmapped->copied', 'copied->done', 'locked->aborted', 'unmapped->aborted',
    'idle->compacting', 'compacting->success', 'compacting->complete', 'idle->skipped', 'idle->not-needed',
  ],
};

function init(w: World): void {
  for (const g of w.guests) {
    g.pressureHooks.push((world, guest, order) => directCompaction(world, guest, order));
    // An isolated page keeps the migration's reference: unmapping it does not free it; the
    // migration finds the mapping gone and frees it (mm/migrate.c).
    g.heldOnFree.push((world, guest, gfn) => guestLockedSet(compactionState(world), guest.id).has(gfn));
    g.backingHooks.push({
      // A host fault on a gfn whose primary mapping holds a migration entry waits for the
      // migration (mm/migrate.c migration_entry_wait, reached from hva_to_pfn's GUP).
      guard: (world, guest, gfn) => (hostMigrationEntryAt(world, guest, gfn) ? refuse('retry', `g${guest.id} gfn ${hex(gfn)}: under host migration`) : null),
      busy: (world, guest, gfn) => {
        const hfn = guest.backing.get(gfn);
        return hfn !== undefined && compactionState(world).hostLocked.has(hfn) ? 'locked for migration' : null;
      },
    });
  }
}

/** Every migration in flight runs to its end, or is put back. */
function settle(w: World): void {
  const s = compactionState(w);
  // Host side first: a guest-side migration reads page tables whose host frames may be the
  // ones a host-side migration holds.
  const order = [...s.active.values()].sort((a, b) => (a.side === b.side ? a.id - b.id : a.side === 'host' ? -1 : 1));
  for (const m of order) {
    runMigration(w, m); // a failing edge puts the migration back (runMigration aborts it)
  }
}

export const compactionMechanism: MechanismModel = {
  name: 'compaction',
  operations: compactionOperations,
  faults: compactionFaults,
  transitions: compactionTransitions,
  init,
  settle,
};
