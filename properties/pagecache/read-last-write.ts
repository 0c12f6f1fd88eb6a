/**
 * file-read-returns-last-write (page-cache): every read of a file page, through read(2) or
 * through a shared mapping, after any eviction, writeback, cleancache round trip or host
 * cache eviction, returns the last completed write; after a crash of the guest, the last
 * write fsync made durable or a write completed since (properties/pagecache/file-oracle.ts).
 */
import { contentCode } from '../../model/ops/page-cache';
import { blockOf, diskOf, FILE_PAGES } from '../../model/pagecache/layout';
import { diskState } from '../../model/pagecache/state';
import { ZERO } from '../../model/content';
import type { Property, StepContext } from '../property';
import type { Reporter } from '../violation';
import { describeCodes, fileOracle, pageExpect } from './file-oracle';

const NAME = 'file-read-returns-last-write';

function check(ctx: StepContext, r: Reporter): void {
  const o = fileOracle(ctx);
  for (const c of o.readChecks) {
    if (c.allowed.includes(c.got)) continue;
    r.report({ property: NAME, kind: 'stale-read', subject: c.subject, message: 'a file read did not return the last completed write (or, after a crash, a durable one)', expected: describeCodes(c.allowed), actual: describeCodes([c.got]) });
  }
  // fsync's promise, checked when it returns: the medium itself (not a cache of the host)
  // holds what a read after a crash must return.
  const { op, result, world: w } = ctx;
  if (op?.kind !== 'file.fsync' || !result?.ok) return;
  const g = op.args.guest as number;
  const file = op.args.file as number;
  const d = diskState(w, g, diskOf(file));
  for (let i = 0; i < FILE_PAGES; i++) {
    const e = pageExpect(o, g, file, i);
    const on = contentCode(d.medium.get(blockOf(file, i)) ?? ZERO);
    if (!e.durable.has(on))
      r.report({ property: NAME, kind: 'fsync-not-durable', subject: `g${g} file ${file} page ${i}`, message: 'fsync returned but the medium does not hold the data a read after a crash must return', expected: describeCodes(e.durable), actual: `${describeCodes([on])} on the medium` });
  }
}

export const fileReadReturnsLastWrite: Property = {
  name: NAME,
  mechanism: 'page-cache',
  kind: 'safety',
  description: 'every file read returns the last completed write, or after a guest crash the last fsynced write or a later one',
  checkStep: check,
  checkAll: check,
};
