/**
 * dirty-page-never-dropped (page-cache): a file page that leaves the guest's page cache leaves
 * the disk holding a contents a read may return (its last write, written back). Checked on
 * the disk alone, host cache or medium, not on cleancache: a cleancache copy is ephemeral and
 * cannot stand in for a writeback. Invariant: a page not in the page cache reads from the
 * disk what the file oracle allows.
 */
import { diskPeek } from '../../model/pagecache/disk';
import { blockOf, diskOf, FILE_PAGES, GUEST_FILE_PAGES, pageKey, pageOfKey } from '../../model/pagecache/layout';
import { cacheOf } from '../../model/pagecache/state';
import type { World } from '../../model/world';
import type { Property, StepContext } from '../property';
import type { Reporter } from '../violation';
import { describeCodes, pageExpect, type FileOracle, fileOracle } from './file-oracle';
import { contentCode } from '../../model/ops/page-cache';

const NAME = 'dirty-page-never-dropped';

/** A non-resident page whose disk contents a read may not return; null if fine. */
export function droppedDirty(w: World, o: FileOracle, guest: number, file: number, index: number): { expected: string; actual: string } | null {
  const g = w.guests[guest]!;
  if (cacheOf(g).pages.has(pageKey(file, index))) return null;
  const disk = contentCode(diskPeek(w, guest, diskOf(file), blockOf(file, index)));
  const e = pageExpect(o, guest, file, index);
  return e.allowed.has(disk) ? null : { expected: describeCodes(e.allowed), actual: `${describeCodes([disk])} on disk` };
}

function checkPage(w: World, o: FileOracle, guest: number, key: number, r: Reporter): void {
  const { file, index } = pageOfKey(key);
  const bad = droppedDirty(w, o, guest, file, index);
  if (bad) r.report({ property: NAME, kind: 'dropped-dirty-page', subject: `g${guest} file ${file} page ${index}`, message: 'a page left the page cache but the disk does not hold its last write', ...bad });
}

export const dirtyPageNeverDropped: Property = {
  name: NAME,
  mechanism: 'page-cache',
  kind: 'safety',
  description: 'a dirty page is never dropped without writeback: a page out of the page cache reads its last write from the disk',
  checkStep(ctx: StepContext, r) {
    const o = fileOracle(ctx);
    const seen = new Set<string>();
    const visit = (guest: number, key: number): void => {
      if (seen.has(`${guest}:${key}`)) return;
      seen.add(`${guest}:${key}`);
      checkPage(ctx.world, o, guest, key, r);
    };
    for (const g of ctx.world.guests) for (const key of ctx.journal.marks.get(`pc:g${g.id}`) ?? []) visit(g.id, key);
    // A crash or an fsync changes what the oracle allows for pages the model may not have touched.
    const { op, result } = ctx;
    if (result?.ok && op?.kind === 'guest.crash') for (let key = 0; key < GUEST_FILE_PAGES; key++) visit(op.args.guest as number, key);
    if (result?.ok && op?.kind === 'file.fsync') for (let i = 0; i < FILE_PAGES; i++) visit(op.args.guest as number, pageKey(op.args.file as number, i));
  },
  checkAll(ctx: StepContext, r) {
    const o = fileOracle(ctx);
    for (const g of ctx.world.guests) for (let key = 0; key < GUEST_FILE_PAGES; key++) checkPage(ctx.world, o, g.id, key, r);
  },
};
