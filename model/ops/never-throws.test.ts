/**
 * Every operation on impossible input returns a typed refusal and never throws: random
 * operation kinds with random arguments drawn from their declared ranges (so mostly
 * nonsense: absent guests, pids, allocations, misaligned or out-of-range pages) are applied
 * to a machine that already has some state.
 */
import fc from 'fast-check';
import { createWorld, operations } from '../registry';
import { isRefusal } from '../result';
import type { ArgSpec, ArgValue } from './operation';

function argArb(spec: ArgSpec): fc.Arbitrary<ArgValue> {
  switch (spec.type) {
    case 'int':
      return fc.oneof(fc.constantFrom(spec.min, spec.max), fc.integer({ min: spec.min, max: Math.min(spec.max, spec.min + 4096) }), fc.integer({ min: spec.min, max: spec.max }));
    case 'bool':
      return fc.boolean();
    case 'enum':
      return fc.constantFrom(...spec.values);
  }
}

const opArb = fc.oneof(
  ...operations.map((o) => fc.record(Object.fromEntries(Object.entries(o.args).map(([k, s]) => [k, argArb(s)]))).map((args) => ({ kind: o.name, args }))),
);

test('no operation throws, whatever its arguments', () => {
  let refusedTotal = 0;
  let okTotal = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
      const w = createWorld({ hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }, { frames: 2 ** 12, guestLevels: 5, eptLevels: 5, hugePages: false }], faults: [] });
      if (isRefusal(w)) throw new Error(w.detail);
      // Some state to act on: a process with a mapping and a written page in each guest.
      for (const g of [0, 1]) {
        operations.find((o) => o.name === 'guest.spawn')!.apply(w, { guest: g });
        operations.find((o) => o.name === 'guest.mmap')!.apply(w, { guest: g, pid: 1, vpn: 1024, pages: 16, write: true, exec: false, huge: false });
        operations.find((o) => o.name === 'guest.write')!.apply(w, { guest: g, pid: 1, vpn: 1024 });
      }
      for (const op of ops) {
        const r = operations.find((o) => o.name === op.kind)!.apply(w, op.args);
        if (r.ok) okTotal++;
        else {
          refusedTotal++;
          expect(typeof r.error).toBe('string');
          expect(r.detail.length).toBeGreaterThan(0);
        }
        w.journal.clear();
      }
    }),
    { seed: 2026, numRuns: 250 },
  );
  // Both sides were exercised: nonsense was refused, and some of it happened to be valid.
  expect(refusedTotal).toBeGreaterThan(100);
  // (Every mechanism adds operation kinds that share the same draws: 50 valid ones are plenty.)
  expect(okTotal).toBeGreaterThan(50);
});
