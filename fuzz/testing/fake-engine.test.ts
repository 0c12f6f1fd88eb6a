import { createFakeEngine } from './fake-engine';
import { failureKey } from '../contract';

const engine = createFakeEngine();
const request = { seed: 11, runs: 30, faults: [] as string[], mechanisms: [] as string[], properties: [] as string[], knownKeys: [] as string[] };

test('runBatch is deterministic and finds nothing without faults', () => {
  const a = engine.runBatch(request);
  expect(engine.runBatch(request)).toEqual(a);
  expect(a.failures).toEqual([]);
  expect(a.runs).toBe(30);
  expect(a.operations).toBe(Object.values(a.coverage.operations).reduce((s, c) => s + c.ran, 0));
});

test('each fault fails its property deterministically; known keys are counted, not shrunk', () => {
  for (const fault of engine.inventory().faults) {
    const r = engine.runBatch({ ...request, runs: 60, faults: [fault.name] });
    expect(r.failures.length).toBeGreaterThan(0);
    expect(r.failures.every((f) => fault.breaks.includes(f.key.split('|')[0]))).toBe(true);
    const keys = [...new Set(r.failures.map((f) => f.key))];
    expect(r.failures.filter((f) => f.counterexample).length).toBe(keys.length);
    const again = engine.runBatch({ ...request, runs: 60, faults: [fault.name], knownKeys: keys });
    expect(again.failures.length).toBe(r.failures.length);
    expect(again.failures.some((f) => f.counterexample)).toBe(false);
  }
});

test('a shrunk counterexample replays to its violation with its faults, and passes without', () => {
  const r = engine.runBatch({ ...request, runs: 60, faults: ['tlb-skip-flush'] });
  const cx = r.failures.find((f) => f.counterexample)!.counterexample!;
  expect(failureKey(cx.violation.property, cx.operations[cx.violation.step].kind, cx.violation.kind)).toBe(r.failures[0].key);
  expect(engine.replay(cx, { faults: cx.faults }).violation).toEqual(cx.violation);
  expect(engine.replay(cx, { faults: [] }).violation).toBeNull();
});

test('validateOperation checks the kind, the argument names and ranges', () => {
  expect(engine.validateOperation({ kind: 'buddy.alloc', args: { order: 3 } })).toBeNull();
  expect(engine.validateOperation({ kind: 'buddy.alloc', args: { order: 11 } })).toMatch(/outside 0\.\.10/);
  expect(engine.validateOperation({ kind: 'buddy.alloc', args: { order: 3, x: 1 } })).toMatch(/unknown argument "x"/);
  expect(engine.validateOperation({ kind: 'nope', args: {} })).toMatch(/unknown operation kind/);
});
