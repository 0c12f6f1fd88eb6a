/**
 * A replayed counterexample as text, step by step (Hypothesis prints a failure as a program;
 * syzkaller as a reproducer): each operation with its outcome, with --verbose what it changed,
 * and at the failing step the violation with expected and actual side by side.
 */
import type { Counterexample, Operation, ReplayResult, Violation } from '../contract';

/** Width of each column of the expected/actual comparison. */
const SIDE_COLUMN_CHARS = 48;

export function formatOperation(op: Operation): string {
  const args = Object.entries(op.args)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return args ? `${op.kind} ${args}` : op.kind;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) out.push('');
    for (let i = 0; i < line.length; i += width) out.push(line.slice(i, i + width));
  }
  return out;
}

/** Expected and actual in two columns, so the disagreement reads at a glance. */
export function sideBySide(expected: string, actual: string, width = SIDE_COLUMN_CHARS): string[] {
  const left = wrap(expected, width);
  const right = wrap(actual, width);
  const rows = [`${'expected'.padEnd(width)} | actual`, `${'-'.repeat(width)}-+-${'-'.repeat(width)}`];
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    rows.push(`${(left[i] ?? '').padEnd(width)} | ${right[i] ?? ''}`);
  }
  return rows;
}

export function formatViolation(v: Violation): string[] {
  return [`  VIOLATION ${v.property} (${v.kind}) at step ${v.step}: ${v.message}`, `  subject: ${v.subject}`, ...sideBySide(v.expected, v.actual).map((l) => '    ' + l)];
}

export function formatHeader(cx: Counterexample, file: string, faults: readonly string[]): string[] {
  const guests = cx.config.guests.map((g, i) => `g${i}: ${g.frames} frames, ${g.guestLevels}-level paging, ${g.eptLevels}-level EPT${g.hugePages ? ', huge pages' : ''}`);
  const options = Object.entries(cx.config.options).map(([k, v]) => `${k}=${String(v)}`);
  return [
    `replay ${file}`,
    `  recorded: ${cx.violation.property} (${cx.violation.kind}) at step ${cx.violation.step}`,
    `  faults: ${faults.join(', ') || 'none (the correct model)'}${faults.length === cx.faults.length ? '' : ` (recorded: ${cx.faults.join(', ') || 'none'})`}`,
    `  host: ${cx.config.hostFrames} frames; ${guests.join('; ') || 'no guests'}${options.length ? `; options: ${options.join(' ')}` : ''}`,
    `  origin: seed ${cx.origin.seed}, path "${cx.origin.path}", commit ${cx.origin.commit}, model ${cx.origin.modelVersion}, fast-check ${cx.origin.fastCheckVersion}, ${cx.origin.date}`,
    `  ${cx.operations.length} operation(s):`,
  ];
}

export function formatTrace(result: ReplayResult, verbose: boolean): string[] {
  const lines: string[] = [];
  if (result.violation && result.violation.step < 0) lines.push(...formatViolation(result.violation));
  for (const s of result.steps) {
    lines.push(`  #${s.step} ${formatOperation(s.operation)} -> ${s.outcome}`);
    if (verbose) for (const c of s.changes) lines.push(`      ${c}`);
    if (result.violation && result.violation.step === s.step) lines.push(...formatViolation(result.violation));
    else if (verbose) for (const v of s.violations) lines.push(`      also: ${v.property} (${v.kind}): ${v.message}`);
  }
  return lines;
}

export type Verdict = 'reproduces' | 'passes' | 'different';

export function verdictOf(cx: Counterexample, result: ReplayResult): Verdict {
  if (!result.violation) return 'passes';
  return result.violation.property === cx.violation.property ? 'reproduces' : 'different';
}
