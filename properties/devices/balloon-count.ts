/**
 * balloon-count (mm/balloon_compaction.c; virtio_balloon.c virtballoon_migratepage): the
 * balloon's page count equals the pages on its list plus the pages isolated for migration, and
 * no page is both on the list and isolated.
 */
import type { Guest } from '../../model/guest/guest';
import { COUNT_MARK } from '../../model/balloon/balloon-compaction';
import { balloonOf, pageMark } from '../../model/balloon/virtio-balloon';
import type { Property } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'balloon-count';

function check(g: Guest, r: Reporter): void {
  const vb = balloonOf(g);
  if (!vb) return;
  if (vb.count !== vb.list.length + vb.isolated.size)
    r.report({ property: NAME, kind: 'count-mismatch', subject: `g${g.id} virtio-balloon`, message: 'num_pages differs from the list plus the isolated pages', expected: `${vb.list.length} listed + ${vb.isolated.size} isolated`, actual: `num_pages ${vb.count}` });
  for (const gfn of vb.isolated)
    if (vb.list.includes(gfn))
      r.report({ property: NAME, kind: 'listed-and-isolated', subject: `g${g.id} gfn ${hex(gfn)}`, message: 'a page under migration is still on the balloon list', expected: 'off the list', actual: 'listed and isolated' });
}

export const balloonCount: Property = {
  name: NAME,
  mechanism: 'balloon-compaction',
  kind: 'safety',
  description: "the balloon's count equals the pages on its list plus those isolated for migration",
  checkStep({ world: w, journal: j }, r) {
    const ids = new Set<number>(j.marks.get(COUNT_MARK) ?? []);
    for (const g of w.guests) if (ids.has(g.id) || j.marks.has(pageMark(g))) check(g, r);
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) check(g, r);
  },
};
