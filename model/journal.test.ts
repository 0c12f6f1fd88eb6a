/**
 * Journal marks: each names what changed, by a key the incremental checkers look up
 * (properties/), so a mark without a key is refused rather than filed where no checker looks.
 */
import { Journal } from './journal';

test('a mark needs a key', () => {
  const j = new Journal();
  expect(() => j.mark('', 3)).toThrow(new RangeError('journal mark of 3 without a key'));
  expect(() => j.mark('ksm:node', 3)).not.toThrow();
});
