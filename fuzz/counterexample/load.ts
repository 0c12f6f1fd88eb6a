/**
 * Validated loading of counterexample files: the only way any tool here reads one. Three gates,
 * each refusing with one line naming the file and the JSON path:
 *   1. bytes: size limit, JSON syntax, no prototype keys            (safe-json.ts)
 *   2. shape: the strict zod schema of the contract's Counterexample  (schema.ts)
 *   3. meaning: operations, property and faults known to this engine, the failing step inside
 *      the trace. A trace the model no longer understands must fail loudly (harness.md,
 *      "Corpus practice"), never replay as something else.
 */
import type { Counterexample } from '../contract';
import type { Engine } from '../campaign/engine-port';
import { counterexampleSchema, firstIssue } from './schema';
import { InputError, readJsonFile } from './safe-json';

export { InputError };

/** Loads `file` and checks it against `engine`; throws InputError with a one-line reason. */
export function loadCounterexample(file: string, engine: Pick<Engine, 'inventory' | 'validateOperation'>): Counterexample {
  return checkCounterexample(readJsonFile(file), file, engine);
}

/** Gates 2 and 3 on an already parsed document (`source` names it in messages). */
export function checkCounterexample(doc: unknown, source: string, engine: Pick<Engine, 'inventory' | 'validateOperation'>): Counterexample {
  const parsed = counterexampleSchema.safeParse(doc);
  if (!parsed.success) throw new InputError(`${source}: ${firstIssue(parsed.error)}`);
  const cx = parsed.data as Counterexample;
  const problem = semanticProblem(cx, engine);
  if (problem) throw new InputError(`${source}: ${problem}`);
  return cx;
}

function semanticProblem(cx: Counterexample, engine: Pick<Engine, 'inventory' | 'validateOperation'>): string | null {
  const inv = engine.inventory();
  const properties = new Set(inv.properties.map((p) => p.name));
  const faults = new Set(inv.faults.map((f) => f.name));
  const operations = new Set(inv.operations.map((o) => o.name));
  if (!properties.has(cx.violation.property)) return `$.violation.property: unknown property "${cx.violation.property}"`;
  // step == operations.length: seen by the end-of-run check or the settle phase (liveness).
  if (cx.violation.step > cx.operations.length) {
    return `$.violation.step: ${cx.violation.step} is past the last operation (${cx.operations.length} operations)`;
  }
  for (let i = 0; i < cx.faults.length; i++) {
    if (!faults.has(cx.faults[i])) return `$.faults[${i}]: unknown fault "${cx.faults[i]}"`;
  }
  for (const kind of Object.keys(cx.config.weights)) {
    if (!operations.has(kind)) return `$.config.weights: unknown operation kind "${kind}"`;
  }
  for (let i = 0; i < cx.operations.length; i++) {
    const reason = engine.validateOperation(cx.operations[i]);
    if (reason !== null) return `$.operations[${i}]: ${reason.split('\n')[0]}`;
  }
  return null;
}
