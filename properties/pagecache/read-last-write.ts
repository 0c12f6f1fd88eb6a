/**
 * file-read-returns-last-write (page-cache): every read of a file page, through read(2) or
 * through a shared mapping, after any eviction, writeback, cleancache round trip or host
 * cache eviction, returns the last completed write; after a crash of the guest, the last
 * write fsync made durable or a write completed since (properties/pagecache/file-oracle.ts).
 */
import type { Property, StepContext } from '../property';
import type { Reporter } from '../violation';
import { describeCodes, fileOracle } from './file-oracle';

const NAME = 'file-read-returns-last-write';

function check(ctx: StepContext, r: Reporter): void {
  for (const c of fileOracle(ctx).readChecks) {
    if (c.allowed.includes(c.got)) continue;
    r.report({ property: NAME, kind: 'stale-read', subject: c.subject, message: 'a file read did not return the last completed write (or, after a crash, a durable one)', expected: describeCodes(c.allowed), actual: describeCodes([c.got]) });
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
