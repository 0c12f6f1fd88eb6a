/**
 * The THP change history (state.ts recordChange): each split or collapse gets the next id from
 * 1, is marked in the journal for the properties of its step, and only the newest
 * CHANGES_KEPT_MAX stay.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { CHANGES_KEPT_MAX, recordChange, thpState } from './state';

test(`changes get ids 1, 2, ...; each is marked for its step; the newest ${CHANGES_KEPT_MAX} are kept`, () => {
  const w = stepper(machine({})).world;
  const split = () => recordChange(w, { kind: 'split', guest: 0, pid: 1, base: 0, pre: [], post: [] });
  const ids = Array.from({ length: CHANGES_KEPT_MAX + 1 }, () => split().id);
  expect(ids).toEqual(Array.from({ length: CHANGES_KEPT_MAX + 1 }, (_, i) => i + 1));
  expect([...(w.journal.marks.get('thp:change') ?? [])]).toEqual(ids);
  const kept = thpState(w).changes;
  expect(kept.size).toBe(CHANGES_KEPT_MAX);
  expect(kept.has(1)).toBe(false);
  expect([...kept.keys()]).toEqual(ids.slice(1));
});
