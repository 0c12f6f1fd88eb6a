/**
 * checkArgs: the one-line reason a counterexample file's arguments do not fit an operation's
 * declared types (fuzz/engine.ts validates loaded files with it before running anything).
 */
import { ok } from '../result';
import { bool, checkArgs, int, oneOf, type OperationDef } from './operation';

const DEF: OperationDef = {
  name: 'demo.op',
  mechanism: 'demo',
  args: { guest: int(0, 3), write: bool, mode: oneOf('ram', 'giga') },
  apply: () => ok(),
};

test('arguments that fit the spec pass', () => {
  expect(checkArgs(DEF, { guest: 3, write: false, mode: 'giga' })).toBeNull();
});

test.each([
  ['not an object', 7, 'demo.op: args must be an object'],
  ['null', null, 'demo.op: args must be an object'],
  ['an array', [1, true, 'ram'], 'demo.op: args must be an object'],
  ['an unknown key', { guest: 0, write: true, mode: 'ram', pid: 1 }, 'demo.op: unknown argument "pid"'],
  ['a missing key', { guest: 0, mode: 'ram' }, 'demo.op: missing argument "write"'],
  ['an int out of range', { guest: 4, write: true, mode: 'ram' }, 'demo.op: argument "guest" must be an integer in [0, 3], got 4'],
  ['a non-integer', { guest: 1.5, write: true, mode: 'ram' }, 'demo.op: argument "guest" must be an integer in [0, 3], got 1.5'],
  ['a bool given as a number', { guest: 0, write: 1, mode: 'ram' }, 'demo.op: argument "write" must be a boolean'],
  ['an enum value not listed', { guest: 0, write: true, mode: 'RAM' }, 'demo.op: argument "mode" must be one of ram, giga'],
  ['an enum given as a number', { guest: 0, write: true, mode: 0 }, 'demo.op: argument "mode" must be one of ram, giga'],
])('%s is refused with its reason', (_name, args, reason) => {
  expect(checkArgs(DEF, args)).toBe(reason);
});
