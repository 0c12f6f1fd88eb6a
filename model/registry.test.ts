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
import { declaredTransitions, faultNamed, faults, MECHANISMS, mechanisms, operationNamed, operations, settleOrder } from './registry';

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

test("each mechanism is named after its file in model/mechanisms/, and every such file but the shared argument helpers is one", () => {
  const files = readdirSync(path.join(__dirname, 'mechanisms'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'device-args.ts')
    .map((f) => f.replace(/\.ts$/, ''));
  expect(mechanisms.map((m) => m.name).sort()).toEqual(files.sort());
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

/**
 * Stryker's instrumented copy of a model file wraps each string literal as
 * `stryMutAct_x("7") ? "" : (stryCov_x("7"), 'name')`; unwrapped, the source reads as written, so
 * the check below holds inside a mutation run too (its initial test run fails otherwise).
 */
function unwrapInstrumentedStrings(source: string): string {
  return source.replace(/stryMutAct_\w+\("\d+"\) \? "" : \(stryCov_\w+\([^)]*\), ('[^']*')\)/g, '$1');
}

/** Whether the sources ask world.fault() (or Buddy.faults.has()) about the fault, by name or by a constant. */
function consultedIn(all: string, name: string): boolean {
  if (all.includes(`fault('${name}')`)) return true;
  const constants = [...all.matchAll(new RegExp(`const (\\w+) = '${name}';`, 'g'))].map((m) => m[1]!);
  // The buddy allocator holds its own set of the world's faults (Buddy.faults).
  return constants.some((c) => all.includes(`fault(${c})`) || all.includes(`faults.has(${c})`));
}

test('a fault counts as consulted by name or by constant, in the source as written and as Stryker instruments it', () => {
  const plain = "export const F = 'f-a';\nif (w.fault(F)) x();\nif (world.fault('f-b')) y();";
  const instrumented =
    'export const F = stryMutAct_9fa48("0") ? "" : (stryCov_9fa48("0"), \'f-a\');\n' +
    'if (stryMutAct_9fa48("38") ? false : stryMutAct_9fa48("37") ? true : (stryCov_9fa48("37", "38"), w.fault(F))) x();\n' +
    'if (world.fault(stryMutAct_9fa48("40") ? "" : (stryCov_9fa48("40"), \'f-b\'))) y();';
  for (const src of [plain, unwrapInstrumentedStrings(instrumented)]) {
    expect(consultedIn(src, 'f-a')).toBe(true);
    expect(consultedIn(src, 'f-b')).toBe(true);
    expect(consultedIn(src, 'f-c')).toBe(false);
  }
  expect(consultedIn(instrumented, 'f-a')).toBe(false);
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
  const all = unwrapInstrumentedStrings(sources.join('\n'));
  expect(faults.filter((f) => !consultedIn(all, f.name)).map((f) => f.name)).toEqual([]);
});

test('the settle phase settles every mechanism once, virtio-mem then free page reporting last', () => {
  expect([...settleOrder].sort((a, b) => a.name.localeCompare(b.name))).toEqual([...mechanisms].sort((a, b) => a.name.localeCompare(b.name)));
  expect(settleOrder.slice(-2).map((m) => m.name)).toEqual(['virtio-mem', 'free-page-reporting']);
});
