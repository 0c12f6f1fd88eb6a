/** isRefusal tells a refusal from any other value an operation may hand back. */
import { isRefusal, ok, refuse } from './result';

test.each([undefined, null, 0, 7, 'refused', true, false, ok(), ok(3), { ok: true }, {}])('%p is not a refusal', (x) => {
  expect(isRefusal(x)).toBe(false);
});

test('a refusal is one', () => {
  expect(isRefusal(refuse('busy', 'the page is locked'))).toBe(true);
  expect(isRefusal({ ok: false })).toBe(true);
});
