/**
 * The walk-cost figures (printed by `npx tsx fuzz/figures/walk-figures.ts`): measured cold walks
 * equal (g+1)(h+1)-1 for every depth and page-size combination (24/19/19/15 at 4/4 levels,
 * 35/29/29/24 at 5/5), and the same page walks shorter after khugepaged collapses it in the
 * guest and again after the host collapses its backing.
 */
import { measureCollapses, walkFigures } from './walk-figures';

test('every combination of guest and host page size costs what the paper says', () => {
  const figures = walkFigures();
  expect(figures).toHaveLength(16);
  for (const f of figures) expect({ ...f, measured: f.formula }).toEqual(f);
  const at = (gl: number, hl: number) => figures.filter((f) => f.guestLevels === gl && f.eptLevels === hl).map((f) => f.measured);
  expect(at(4, 4)).toEqual([24, 19, 19, 15]);
  expect(at(5, 5)).toEqual([35, 29, 29, 24]);
});

test('khugepaged shortens the walk on each side', () => {
  expect(measureCollapses(4, 4)).toEqual({ split: 24, guestCollapsed: 19, bothCollapsed: 15 });
  expect(measureCollapses(5, 5)).toEqual({ split: 35, guestCollapsed: 29, bothCollapsed: 24 });
});
