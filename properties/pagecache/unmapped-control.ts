/**
 * unmapped-control-safe (unmapped-page-control): a pass of unmapped page-cache control
 * (upc.reclaim) unmaps nothing (may_unmap = 0), writes nothing (may_writepage = 0), drops no
 * dirty page, and leaves the unmapped page cache within its limit whenever enough clean
 * unmapped pages existed.
 */
import { pageOfKey } from '../../model/pagecache/layout';
import { cacheOf } from '../../model/pagecache/state';
import { unmappedCount, upcCandidate, upcLimit } from '../../model/pagecache/unmapped-control';
import type { Property, StepContext } from '../property';
import type { Reporter } from '../violation';
import { droppedDirty } from './dirty-never-dropped';
import { fileOracle } from './file-oracle';

const NAME = 'unmapped-control-safe';

function check(ctx: StepContext, r: Reporter): void {
  const { world: w, journal: j, op, result } = ctx;
  const o = fileOracle(ctx);
  if (op?.kind !== 'upc.reclaim' || !result?.ok) return;
  const g = w.guests[op.args.guest as number]!;
  const subject = `g${g.id} unmapped page-cache pass`;
  const unmapped = j.ranges.filter((rg) => rg.guest === g.id);
  if (unmapped.length > 0)
    r.report({ property: NAME, kind: 'unmapped-a-mapped-page', subject, message: 'unmapped page-cache control changed page tables (may_unmap = 0)', expected: 'no mapping touched', actual: `pid ${unmapped[0]!.pid} va range ${unmapped[0]!.vpnStart}..${unmapped[0]!.vpnEnd}` });
  const io = j.marks.get(`pc-io:g${g.id}`);
  if (io && io.size > 0)
    r.report({ property: NAME, kind: 'wrote-a-page', subject, message: 'unmapped page-cache control wrote to the disk (may_writepage = 0)', expected: 'no writeback', actual: `${io.size} block(s) written` });
  for (const key of j.marks.get(`pc:g${g.id}`) ?? []) {
    const { file, index } = pageOfKey(key);
    const bad = droppedDirty(w, o, g.id, file, index);
    if (bad) r.report({ property: NAME, kind: 'dropped-a-dirty-page', subject: `g${g.id} file ${file} page ${index}`, message: 'unmapped page-cache control dropped a page whose last write is not on the disk', ...bad });
  }
  const limit = upcLimit(w);
  const count = unmappedCount(g);
  if (limit >= 0 && count > limit) {
    const left = [...cacheOf(g).pages.values()].filter((p) => upcCandidate(g, p)).length;
    if (left > 0)
      r.report({ property: NAME, kind: 'over-limit', subject, message: 'the unmapped page cache stayed over its limit although clean unmapped pages were left', expected: `<= ${limit} unmapped pages`, actual: `${count} unmapped, ${left} of them reclaimable` });
  }
}

export const unmappedControlSafe: Property = {
  name: NAME,
  mechanism: 'unmapped-page-control',
  kind: 'safety',
  description: 'unmapped page-cache control never unmaps, writes or drops a dirty page, and stays within its limit when it can',
  checkStep: check,
  checkAll: check,
};
