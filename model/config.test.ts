import { createWorld } from './registry';
import { isRefusal } from './result';
import { validateModelConfig, type ModelConfig } from './config';

const good: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 5, hugePages: false }], faults: [] };

test('a possible machine is accepted and built', () => {
  expect(validateModelConfig(good)).toBeNull();
  expect(isRefusal(createWorld(good))).toBe(false);
});

const guest = good.guests[0]!;

test.each([
  ['the smallest host', { ...good, hostFrames: 2 ** 12 }],
  ['the largest host', { ...good, hostFrames: 2 ** 24 }],
  ['eight guests', { ...good, guests: Array.from({ length: 8 }, () => guest) }],
  ['the smallest guest', { ...good, guests: [{ ...guest, frames: 2 ** 10 }] }],
  ['the largest guest', { ...good, guests: [{ ...guest, frames: 2 ** 20 }] }],
])('the bounds themselves are possible: %s', (_name, config) => {
  expect(validateModelConfig(config)).toBeNull();
});

test.each([
  [{ ...good, hostFrames: 2 ** 11 }, /hostFrames must be a power of two in \[2\^12, 2\^24\], got 2048/],
  [{ ...good, hostFrames: 0 }, /hostFrames must be a power of two/],
  [{ ...good, hostFrames: -4096 }, /hostFrames must be a power of two/],
  [{ ...good, hostFrames: 4096.5 }, /hostFrames must be a power of two/],
  [{ ...good, guests: Array.from({ length: 9 }, () => guest) }, /guests must number 1\.\.8, got 9/],
  [{ ...good, guests: [{ ...guest, frames: 2 ** 9 }] }, /guest 0: frames must be a power of two in \[2\^10, 2\^20\], got 512/],
  [{ ...good, guests: [{ ...guest, frames: 2 ** 21 }] }, /guest 0: frames must be a power of two/],
  [{ ...good, guests: [guest, { ...guest, frames: 0 }] }, /guest 1: frames must be a power of two/],
  [{ ...good, hostFrames: 3 * 2 ** 12 }, /hostFrames must be a power of two/],
  [{ ...good, hostFrames: 2 ** 25 }, /hostFrames must be a power of two in \[2\^12, 2\^24\]/],
  [{ ...good, guests: [] }, /guests must number 1\.\.8/],
  [{ ...good, guests: [{ ...good.guests[0]!, frames: 3 * 2 ** 10 }] }, /guest 0: frames must be a power of two/],
  [{ ...good, guests: [{ ...good.guests[0]!, guestLevels: 3 as 4 }] }, /guest 0: guestLevels must be 4 or 5/],
  [{ ...good, guests: [{ ...good.guests[0]!, eptLevels: 6 as 5 }] }, /guest 0: eptLevels must be 4 or 5/],
])('an impossible machine is refused with its reason (%#)', (config, reason) => {
  expect(validateModelConfig(config)).toMatch(reason);
  const w = createWorld(config);
  expect(isRefusal(w) && w.detail).toMatch(reason);
});
