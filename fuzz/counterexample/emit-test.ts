/**
 * `replay --emit-test PATH`: a jest test that replays the trace without the generators (the
 * trace is embedded as JSON; the engine's `replay` is imported), to commit next to the fix.
 *
 * What it asserts, by what the counterexample was found with:
 * - found with injected faults: with those faults the recorded property is still violated (the
 *   check can still fail: known-bug injection), and with no faults the trace passes;
 * - found with no faults (a real bug): the trace passes. Until the fix lands the test fails,
 *   and its failure shows the recorded violation; once fixed, it keeps the bug from returning.
 */
import * as path from 'path';
import type { Counterexample } from '../contract';
import { REAL_ENGINE_PATH } from '../campaign/engine-port';
import { failingOperationKind } from './naming';

const CONTRACT_PATH = path.resolve(__dirname, '..', 'contract');

/** `./x` or `../y/x`: a relative module specifier from the test file's directory. */
function specifier(fromFile: string, toModule: string): string {
  let rel = path.relative(path.dirname(path.resolve(fromFile)), toModule).split(path.sep).join('/');
  rel = rel.replace(/\.ts$/, '');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

export interface EmitOptions {
  /** Engine module the test imports (default fuzz/engine; tests point it at the fake). */
  readonly enginePath?: string;
  readonly sourceFile: string;
}

export function renderRegressionTest(cx: Counterexample, testFile: string, o: EmitOptions): string {
  const engine = specifier(testFile, o.enginePath ?? REAL_ENGINE_PATH);
  const contract = specifier(testFile, CONTRACT_PATH);
  const v = cx.violation;
  const title = `${v.property}: ${v.kind} at ${failingOperationKind(cx)} (${path.basename(o.sourceFile)})`;
  const json = JSON.stringify(cx, null, 2);
  const tests =
    cx.faults.length > 0
      ? [
          `  test(${JSON.stringify(`with faults ${cx.faults.join(', ')}, ${v.property} is still violated`)}, () => {`,
          '    const result = replay(counterexample, { faults: counterexample.faults });',
          '    expect(result.violation?.property).toBe(counterexample.violation.property);',
          '    expect(result.violation?.kind).toBe(counterexample.violation.kind);',
          '  });',
          '',
          "  test('on the correct model (no faults) the trace passes', () => {",
          '    expect(replay(counterexample, { faults: [] }).violation).toBeNull();',
          '  });',
        ]
      : [
          "  test('the trace passes (it violated the property when found; see counterexample.violation)', () => {",
          '    expect(replay(counterexample, { faults: [] }).violation).toBeNull();',
          '  });',
        ];
  return [
    '/**',
    ` * Regression test emitted by \`npm run replay -- ${path.basename(o.sourceFile)} --emit-test\`.`,
    ` * Found: seed ${cx.origin.seed}, commit ${cx.origin.commit}, model ${cx.origin.modelVersion}, ${cx.origin.date}.`,
    ` * Violation: ${v.property} (${v.kind}) at step ${v.step}: ${v.message.replace(/\*\//g, '* /').split('\n')[0]}`,
    ' */',
    `import { replay } from ${JSON.stringify(engine)};`,
    `import type { Counterexample } from ${JSON.stringify(contract)};`,
    '',
    `const counterexample: Counterexample = ${json};`,
    '',
    `describe(${JSON.stringify(title)}, () => {`,
    ...tests,
    '});',
    '',
  ].join('\n');
}
