/**
 * The registry lists each mechanism once, and every operation, fault and declared transition
 * names a mechanism id of MECHANISMS: the swarm draws operations by mechanism, the catalogue
 * and the transition coverage group by it, so an entry with a misspelt id would silently drop
 * out of them. Names are unique: scenarios and counterexample files look operations and faults
 * up by name.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { propertyNamed } from '../properties';
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

test('every property a fault says it breaks is a property of the catalogue, and its scenario file exists', () => {
  // The catalogue and the fast fault test accept a fault as caught only by a property it names:
  // a misspelt name would leave the fault's claim unchecked.
  expect(faults.flatMap((f) => f.breaks.filter((p) => propertyNamed(p) === undefined).map((p) => `${f.name}: ${p}`))).toEqual([]);
  const root = path.resolve(__dirname, '..');
  const missing = faults.filter((f) => f.scenario !== undefined && !(existsSync(path.join(root, f.scenario)) && statSync(path.join(root, f.scenario)).isFile()));
  expect(missing.map((f) => `${f.name}: ${f.scenario}`)).toEqual([]);
});

test('every fault is consulted by the model: a world.fault() call (or Buddy.faults.has()) of a model file names it, itself or by a constant', () => {
  // A fault whose name the model never asks about injects nothing; its catalogue entry would
  // then be caught only by luck or not at all.
  const root = path.resolve(__dirname);
  const sources: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) sources.push(readFileSync(p, 'utf8'));
    }
  };
  walk(root);
  const all = sources.join('\n');
  const consulted = (name: string): boolean => {
    if (all.includes(`fault('${name}')`)) return true;
    const constants = [...all.matchAll(new RegExp(`const (\\w+) = '${name}';`, 'g'))].map((m) => m[1]!);
    // The buddy allocator holds its own set of the world's faults (Buddy.faults).
    return constants.some((c) => all.includes(`fault(${c})`) || all.includes(`faults.has(${c})`));
  };
  expect(faults.filter((f) => !consulted(f.name)).map((f) => f.name)).toEqual([]);
});
