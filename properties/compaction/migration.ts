/**
 * The rules of page migration (mm/migrate.c), checked on the ghost observations each
 * migration records at its edges (model/compaction/state.ts), for the migrations that took an
 * edge in this step (journal marks "compaction:<stage>"):
 * - migration-flush-before-copy: when the copy begins, nothing translates to the source any
 *   more: no present PTE or EPT leaf, no TLB entry (a write through one during the copy would
 *   be lost: try_to_unmap_flush before migrate_folio_move);
 * - migration-no-stale-mapping: once the migration is done, no mapping or TLB entry reaches the
 *   freed source;
 * - migration-preserves-contents: the target holds what the source held when the mappings moved;
 * - migration-only-movable: only movable pages are isolated (an anonymous page of a process on
 *   the guest side; a 4 KiB frame backing guest memory on the host side).
 * Events are per step, so the full check and the incremental check read the same marks.
 */
import { describeContent, sameContent } from '../../model/content';
import { describeGuestOwner } from '../../model/guest/guest';
import { describeOwner } from '../../model/host/frames';
import { migrationById, type Migration, type Reach } from '../../model/compaction/state';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

function marked(ctx: StepContext, stage: string): Migration[] {
  const ids = ctx.journal.marks.get(`compaction:${stage}`);
  if (!ids) return [];
  const out: Migration[] = [];
  for (const id of ids) {
    const m = migrationById(ctx.world, id);
    if (m) out.push(m);
  }
  return out;
}

function subject(m: Migration): string {
  return m.side === 'guest'
    ? `g${m.guest} migration #${m.id} gfn ${hex(m.src)} -> ${hex(m.dst)}`
    : `g${m.guest} gfn ${hex(m.gfn)} host migration #${m.id} hfn ${hex(m.src)} -> ${hex(m.dst)}`;
}

function describeReach(r: Reach): string {
  return [...r.mappings, ...r.tlb.map((t) => `TLB ${t}`)].join(', ');
}

function reaches(r: Reach | undefined): boolean {
  return r !== undefined && (r.mappings.length > 0 || r.tlb.length > 0);
}

const FLUSH = 'migration-flush-before-copy';

function checkFlush(ctx: StepContext, r: Reporter): void {
  for (const m of marked(ctx, 'copied'))
    if (reaches(m.atCopy))
      r.report({ property: FLUSH, kind: 'copy-before-flush', subject: subject(m), message: 'the copy began while a translation to the source was still live: a write through it would be lost', expected: 'no PTE, EPT leaf or TLB entry reaching the source', actual: describeReach(m.atCopy!) });
}

export const migrationFlushBeforeCopy: Property = {
  name: FLUSH,
  mechanism: 'compaction',
  kind: 'safety',
  description: 'a migration copies only after every mapping of the source is gone and the TLB flushed',
  checkStep: checkFlush,
  checkAll: checkFlush,
};

const STALE = 'migration-no-stale-mapping';

function checkStale(ctx: StepContext, r: Reporter): void {
  for (const m of marked(ctx, 'done'))
    if (reaches(m.atDone?.reach))
      r.report({ property: STALE, kind: 'stale-translation', subject: subject(m), message: 'after the move something still translates to the freed source', expected: 'nothing reaches the source', actual: describeReach(m.atDone!.reach) });
}

export const migrationNoStaleMapping: Property = {
  name: STALE,
  mechanism: 'compaction',
  kind: 'safety',
  description: 'after a migration no PTE, EPT leaf or TLB entry points at the source',
  checkStep: checkStale,
  checkAll: checkStale,
};

const CONTENTS = 'migration-preserves-contents';

function checkContents(ctx: StepContext, r: Reporter): void {
  for (const m of marked(ctx, 'done')) {
    const d = m.atDone;
    if (!d || !d.remapped || sameContent(d.src, d.dst)) continue;
    r.report({ property: CONTENTS, kind: 'content-lost', subject: subject(m), message: 'the target does not hold what the source held when the mapping moved', expected: describeContent(d.src), actual: describeContent(d.dst) });
  }
}

export const migrationPreservesContents: Property = {
  name: CONTENTS,
  mechanism: 'compaction',
  kind: 'safety',
  description: 'contents survive migration: the target holds the source\'s last contents',
  checkStep: checkContents,
  checkAll: checkContents,
};

const MOVABLE = 'migration-only-movable';

function checkMovable(ctx: StepContext, r: Reporter): void {
  for (const m of marked(ctx, 'begin')) {
    if (m.side === 'guest') {
      if (m.srcGuestOwner?.kind !== 'anon')
        r.report({ property: MOVABLE, kind: 'moved-unmovable', subject: subject(m), message: 'migration isolated a page that has no migration path', expected: 'an anonymous page of a process', actual: describeGuestOwner(m.srcGuestOwner) });
    } else if (m.srcHostOwner?.kind !== 'guest-memory' || m.srcHuge) {
      r.report({ property: MOVABLE, kind: 'moved-unmovable', subject: subject(m), message: 'host migration isolated a frame compaction must leave alone', expected: 'a 4 KiB frame backing guest memory', actual: `${describeOwner(m.srcHostOwner)}${m.srcHuge ? ' (2 MiB unit)' : ''}` });
    }
  }
}

export const migrationOnlyMovable: Property = {
  name: MOVABLE,
  mechanism: 'compaction',
  kind: 'safety',
  description: 'unmovable pages (kernel, page tables, zero pages, EPT tables, KSM pages) are never migrated',
  checkStep: checkMovable,
  checkAll: checkMovable,
};
