/**
 * Balloon page migration (mm/balloon_compaction.c balloon_page_isolate / balloon_page_putback;
 * drivers/virtio/virtio_balloon.c virtballoon_migratepage). Compaction may move a ballooned
 * page: isolate it from the balloon list, then the balloon inflates the new page (enqueue +
 * inflate request) and deflates the old one (deflate request); the migration core frees the old
 * page once both requests are acknowledged. A migration that fails puts the page back.
 *
 * A migration's cycle (compaction moves isolate/putback, the driver migrate, the device acks):
 *   ballooned -(isolate)-> isolated -(migratepage)-> migrating -(acks; old page freed)-> done
 *   isolated -(putback)-> ballooned
 * Throughout: vb->num_pages = pages on the list + isolated pages (balloon_page_isolate moves a
 * page from the list to isolated_pages; migratepage inserts the new page and drops isolated).
 */
import type { Guest } from '../guest/guest';
import { guestFree } from '../guest/kernel';
import { driverAlloc } from '../devices/driver-alloc';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { driverBusy, enqueuePage, pageMark, queueRequest, type VirtioBalloon, type VqRequest } from './virtio-balloon';

export interface BalloonMigration {
  readonly old: number;
  readonly new: number;
  readonly inflate: VqRequest;
  readonly deflate: VqRequest;
}

const migrations = new WeakMap<Guest, BalloonMigration[]>();

export function migrationsOf(g: Guest): readonly BalloonMigration[] {
  return migrations.get(g) ?? [];
}

export const COUNT_MARK = 'balloon-count';

/** balloon_page_isolate: take a ballooned page off the list for migration. */
export function isolate(world: World, g: Guest, vb: VirtioBalloon, gfn: number): boolean {
  // A ballooned page is on the list unless isolated (balloon-count holds the model to it).
  if (vb.pages.get(gfn) !== 'ballooned' || vb.isolated.has(gfn)) return false;
  // Hazard: the page must leave the list under pages_lock; a walk of the list that can still
  // reach a page under migration (balloon_page_dequeue racing compaction, fixed by Minchan
  // Kim in 2015) hands the same page to both paths.
  if (!world.fault('bcomp-isolate-keeps-on-list')) vb.list.splice(vb.list.indexOf(gfn), 1);
  vb.isolated.add(gfn);
  world.journal.mark(pageMark(g), gfn);
  world.journal.mark(COUNT_MARK, g.id);
  world.transition('balloon-compaction', 'ballooned', 'isolated');
  return true;
}

/** balloon_page_putback: migration gave up; back on the list. */
export function putback(world: World, g: Guest, vb: VirtioBalloon, gfn: number): boolean {
  if (!vb.isolated.delete(gfn)) return false;
  if (!vb.list.includes(gfn)) vb.list.push(gfn);
  world.journal.mark(pageMark(g), gfn);
  world.journal.mark(COUNT_MARK, g.id);
  world.transition('balloon-compaction', 'isolated', 'ballooned');
  return true;
}

/**
 * virtballoon_migratepage: "balloon's page migration 1st step -- inflate newpage", then
 * "2nd step -- deflate page". Takes balloon_lock with mutex_trylock (-EAGAIN when busy).
 */
export function migrate(world: World, g: Guest, vb: VirtioBalloon, old: number): BalloonMigration | 'busy' | 'no-page' | 'not-isolated' {
  if (!vb.isolated.has(old)) return 'not-isolated';
  if (driverBusy(vb)) return 'busy';
  const target = driverAlloc(world, g, 0, 'MOVABLE');
  if (target === null) return 'no-page';
  enqueuePage(world, g, vb, target);
  vb.isolated.delete(old);
  const inflate = queueRequest(world, g, vb, 'inflate', [target], {});
  vb.pages.set(old, 'deflating');
  world.journal.mark(pageMark(g), old);
  const deflate = queueRequest(world, g, vb, 'deflate', [old], { migration: true });
  vb.deflatingIn.set(old, deflate);
  const m: BalloonMigration = { old, new: target, inflate, deflate };
  let list = migrations.get(g);
  if (!list) migrations.set(g, (list = []));
  list.push(m);
  world.journal.mark(COUNT_MARK, g.id);
  world.journal.note(() => `g${g.id}: balloon migrates gfn ${hex(old)} -> ${hex(target)}`);
  world.transition('balloon-compaction', 'isolated', 'migrating');
  return m;
}

/**
 * After both acks the migration core frees the old page (no managed-page adjustment). The old
 * page is still deflating in this migration's request: nothing else deflates or releases it
 * (leak_balloon takes listed ballooned pages only, release_pages_balloon skips migrations).
 */
export function finish(world: World, g: Guest, vb: VirtioBalloon, m: BalloonMigration): boolean {
  if (!m.inflate.acked || !m.deflate.acked) return false;
  const list = migrations.get(g)!;
  list.splice(list.indexOf(m), 1);
  vb.pages.delete(m.old);
  vb.deflatingIn.delete(m.old);
  world.journal.mark(pageMark(g), m.old);
  g.clearOwner(m.old);
  guestFree(world, g, m.old, 0);
  world.journal.mark(COUNT_MARK, g.id);
  world.transition('balloon-compaction', 'migrating', 'done');
  return true;
}

/**
 * Settle: the device acknowledges every request queued on each queue (`ack` must take them
 * all), so every migration finishes in one pass; then every isolated page goes back.
 */
export function settleCompaction(world: World, g: Guest, vb: VirtioBalloon, ack: (q: 'inflate' | 'deflate') => void): void {
  ack('inflate');
  ack('deflate');
  for (const m of [...migrationsOf(g)]) finish(world, g, vb, m);
  for (const gfn of [...vb.isolated]) putback(world, g, vb, gfn);
}
