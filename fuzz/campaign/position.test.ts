import { doneCount, isDone, markDone, nextUndone, startPosition } from './position';

test('batches finishing out of order compact into doneBelow', () => {
  const p = startPosition();
  markDone(p, 2);
  markDone(p, 0);
  expect(p).toEqual({ doneBelow: 1, doneAbove: [2] });
  expect(nextUndone(p, 0)).toBe(1);
  expect(nextUndone(p, 2)).toBe(3);
  markDone(p, 1);
  markDone(p, 1);
  expect(p).toEqual({ doneBelow: 3, doneAbove: [] });
  expect(doneCount(p)).toBe(3);
  expect(isDone(p, 2)).toBe(true);
  expect(isDone(p, 3)).toBe(false);
});
