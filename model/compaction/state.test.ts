/**
 * Migration bookkeeping (state.ts): ids from 1 (the operation's id argument starts there), at
 * most MIGRATIONS_IN_FLIGHT_MAX single migrations in flight while compaction's own are not
 * limited, and the finished records kept for the properties bounded to the newest
 * FINISHED_KEPT_MAX.
 */
import { writtenPages } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { isRefusal } from '../result';
import { beginGuestMigration } from './migrate';
import { FINISHED_KEPT_MAX, MIGRATIONS_IN_FLIGHT_MAX, compactionState, prune, type Migration } from './state';

const VPN = 2048;
const PAGES = MIGRATIONS_IN_FLIGHT_MAX + 2;


test(`ids start at 1; ${MIGRATIONS_IN_FLIGHT_MAX} single migrations may be in flight, the next is refused, compaction's own are not limited`, () => {
  const r = writtenPages(PAGES, VPN);
  const g = r.world.guests[0]!;
  const gfns = Array.from({ length: PAGES }, (_, i) => peekLeaf(r.world, g, g.processes.get(1)!, VPN + i)!.gfn);
  const begun = gfns.slice(0, MIGRATIONS_IN_FLIGHT_MAX).map((gfn) => beginGuestMigration(r.world, g, gfn, 'single') as Migration);
  expect(begun.map((m) => m.id)).toEqual(Array.from({ length: MIGRATIONS_IN_FLIGHT_MAX }, (_, i) => i + 1));
  const over = beginGuestMigration(r.world, g, gfns[MIGRATIONS_IN_FLIGHT_MAX]!, 'single');
  expect(isRefusal(over) && over.error).toBe('limit');
  const compaction = beginGuestMigration(r.world, g, gfns[MIGRATIONS_IN_FLIGHT_MAX]!, 'compaction');
  expect(isRefusal(compaction)).toBe(false);
  expect(compactionState(r.world).active.size).toBe(MIGRATIONS_IN_FLIGHT_MAX + 1);
});

test(`prune keeps the newest ${FINISHED_KEPT_MAX} records and drops the oldest`, () => {
  const m = new Map<number, string>();
  for (let id = 1; id <= FINISHED_KEPT_MAX; id++) m.set(id, `#${id}`);
  prune(m);
  expect(m.size).toBe(FINISHED_KEPT_MAX);
  m.set(FINISHED_KEPT_MAX + 1, 'newest');
  prune(m);
  expect(m.size).toBe(FINISHED_KEPT_MAX);
  expect(m.has(1)).toBe(false);
  expect(m.has(2)).toBe(true);
  expect(m.get(FINISHED_KEPT_MAX + 1)).toBe('newest');
});
