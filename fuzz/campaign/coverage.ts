/**
 * Coverage folding: BatchResult coverage summed over batches, workers and shards, and the
 * negative space the report must show, transitions declared but never taken.
 */
import type { Coverage, OperationCount } from '../contract';

export function emptyCoverage(): Coverage {
  return { operations: {}, transitions: {}, declared: {} };
}

/** Adds `b` into `a` (mutates and returns `a`): counts summed, declared transitions united. */
export function addCoverage(a: Coverage, b: Coverage): Coverage {
  for (const [kind, c] of Object.entries(b.operations)) {
    const into: OperationCount = (a.operations[kind] ??= { ran: 0, ok: 0, refused: 0 });
    into.ran += c.ran;
    into.ok += c.ok;
    into.refused += c.refused;
  }
  for (const [mechanism, counts] of Object.entries(b.transitions)) {
    const into = (a.transitions[mechanism] ??= {});
    for (const [t, n] of Object.entries(counts)) into[t] = (into[t] ?? 0) + n;
  }
  for (const [mechanism, list] of Object.entries(b.declared)) {
    const union = new Set([...(a.declared[mechanism] ?? []), ...list]);
    a.declared[mechanism] = [...union].sort();
  }
  return a;
}

/** Per mechanism, declared transitions with no count (mechanisms with none are left out). */
export function neverExercised(c: Coverage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const mechanism of Object.keys(c.declared).sort()) {
    const counts = c.transitions[mechanism] ?? {};
    const missing = c.declared[mechanism].filter((t) => !((counts[t] ?? 0) > 0));
    if (missing.length > 0) out[mechanism] = [...missing].sort();
  }
  return out;
}

/** Inventory operation kinds that never ran at all (weights may have switched them off). */
export function operationsNeverRun(c: Coverage, kinds: readonly string[]): string[] {
  return kinds.filter((k) => !((c.operations[k]?.ran ?? 0) > 0)).sort();
}
