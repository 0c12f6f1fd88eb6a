import { createWorld } from './registry';
import { isRefusal } from './result';
import { validateModelConfig, type ModelConfig } from './config';

const good: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 5, hugePages: false }], faults: [] };

test('a possible machine is accepted and built', () => {
  expect(validateModelConfig(good)).toBeNull();
  expect(isRefusal(createWorld(good))).toBe(false);
});

test.each([
  [{ ...good, hostFrames: 3000 }, /hostFrames must be a power of two/],
  [{ ...good, hostFrames: 2 ** 25 }, /hostFrames must be a power of two in \[2\^12, 2\^24\]/],
  [{ ...good, guests: [] }, /guests must number 1\.\.8/],
  [{ ...good, guests: [{ ...good.guests[0]!, frames: 100 }] }, /guest 0: frames must be a power of two/],
  [{ ...good, guests: [{ ...good.guests[0]!, guestLevels: 3 as 4 }] }, /guest 0: guestLevels must be 4 or 5/],
  [{ ...good, guests: [{ ...good.guests[0]!, eptLevels: 6 as 5 }] }, /guest 0: eptLevels must be 4 or 5/],
])('an impossible machine is refused with its reason (%#)', (config, reason) => {
  expect(validateModelConfig(config)).toMatch(reason);
  const w = createWorld(config);
  expect(isRefusal(w) && w.detail).toMatch(reason);
});
