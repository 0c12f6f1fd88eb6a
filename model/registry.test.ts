/**
 * The registry lists each mechanism once, and every operation, fault and declared transition
 * names a mechanism id of MECHANISMS: the swarm draws operations by mechanism, the catalogue
 * and the transition coverage group by it, so an entry with a misspelt id would silently drop
 * out of them. Names are unique: scenarios and counterexample files look operations and faults
 * up by name.
 */
import { declaredTransitions, faultNamed, faults, MECHANISMS, mechanisms, operationNamed, operations } from './registry';

const ids = new Set<string>(MECHANISMS);

test('every operation, fault and declared transition names a mechanism id, and every id is used by an operation', () => {
  expect(operations.filter((o) => !ids.has(o.mechanism)).map((o) => o.name)).toEqual([]);
  expect(faults.filter((f) => !ids.has(f.mechanism)).map((f) => f.name)).toEqual([]);
  expect(Object.keys(declaredTransitions).filter((k) => !ids.has(k))).toEqual([]);
  expect([...ids].filter((id) => !operations.some((o) => o.mechanism === id))).toEqual([]);
});

test('mechanisms, operations and faults each have unique names, and lookups by name find them', () => {
  const unique = (xs: string[]) => new Set(xs).size === xs.length;
  expect(unique(mechanisms.map((m) => m.name))).toBe(true);
  expect(unique(operations.map((o) => o.name))).toBe(true);
  expect(unique(faults.map((f) => f.name))).toBe(true);
  for (const o of operations) expect(operationNamed(o.name)).toBe(o);
  for (const f of faults) expect(faultNamed(f.name)).toBe(f);
  expect(operationNamed('no.such.operation')).toBeUndefined();
  expect(faultNamed('no-such-fault')).toBeUndefined();
});

test('a mechanism declares transitions only for ids its own operations use', () => {
  for (const m of mechanisms) {
    const used = new Set(m.operations.map((o) => o.mechanism));
    const declared = new Set(Object.keys(m.transitions));
    for (const id of declared) expect(used.has(id)).toBe(true);
  }
});

test('every fault says, in a sentence at least, the real bug or rule it reproduces, and names a property it breaks', () => {
  // The text is read by people (the catalogue prints it); each cites its source, which no
  // pattern checks, so this only keeps it from going missing.
  expect(faults.filter((f) => f.reproduces.length < 60).map((f) => f.name)).toEqual([]);
  expect(faults.filter((f) => f.breaks.length === 0).map((f) => f.name)).toEqual([]);
});
