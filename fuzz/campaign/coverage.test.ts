import { addCoverage, emptyCoverage, neverExercised, operationsNeverRun } from './coverage';

test('coverage sums counts, unites declared transitions and reports the ones never taken', () => {
  const c = emptyCoverage();
  addCoverage(c, { operations: { a: { ran: 2, ok: 1, refused: 1 } }, transitions: { m: { 'x->y': 2 } }, declared: { m: ['x->y', 'y->x'] } });
  addCoverage(c, { operations: { a: { ran: 1, ok: 1, refused: 0 } }, transitions: { m: { 'x->y': 1 } }, declared: { m: ['y->z'], n: ['p->q'] } });
  expect(c.operations.a).toEqual({ ran: 3, ok: 2, refused: 1 });
  expect(c.transitions.m['x->y']).toBe(3);
  expect(c.declared.m).toEqual(['x->y', 'y->x', 'y->z']);
  expect(neverExercised(c)).toEqual({ m: ['y->x', 'y->z'], n: ['p->q'] });
  expect(operationsNeverRun(c, ['a', 'b'])).toEqual(['b']);
});
