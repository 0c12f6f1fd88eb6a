/**
 * The branches of `model/` no test or campaign took, listed from c8's istanbul report
 * (reports/coverage/coverage-final.json, written by `npm run coverage`), each with the
 * explanation that coverage-explained.json gives for it or `UNEXPLAINED`. The issue asks that
 * every untaken arm be covered or explained; a percentage alone hides which rule went
 * unexercised.
 *
 *   npm run -s coverage && node .build/fuzz/coverage-gaps.js [--json] [report.json] [--explained FILE]
 *
 * An arm is one V8 block range as v8-to-istanbul reports it (a branch body, a function body
 * never called, the rest of a block after an early return). An explanation names its arm by
 * file and by the code at the arm's start, not by line number, so it survives edits elsewhere
 * in the file: `code` must be a prefix of the source text from the arm's start (whitespace runs
 * count as one space, and the text runs on past the arm's end, so a short arm such as
 * `return;` can be told apart by what follows it). An explanation whose code starts arms at
 * two different places is ambiguous and explains neither; one that matches no arm is reported
 * as stale but does not fail the run (a time-bounded campaign may take an arm one day and
 * miss it the next).
 *
 * Exit status: 0 every arm of model/ explained; 1 some arm unexplained; 2 the report or the
 * explanations file is missing or malformed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { z } from 'zod';

const Position = z.object({ line: z.number().int(), column: z.number().int().nullable().optional() });
const Location = z.object({ start: Position, end: Position });
const FileCoverage = z.object({
  branchMap: z.record(z.string(), z.object({ type: z.string(), loc: Location, locations: z.array(Location) })),
  b: z.record(z.string(), z.array(z.number())),
});
const Report = z.record(z.string(), FileCoverage);
export type Report = z.infer<typeof Report>;

const Explanation = z.strictObject({
  file: z.string().min(1),
  code: z.string().trim().min(1),
  reason: z.string().trim().min(10),
});
const Explanations = z.array(Explanation);
export type Explanation = z.infer<typeof Explanation>;

/** Where an arm starts or ends: 1-based line, 0-based column (istanbul's convention). */
export interface Pos {
  readonly line: number;
  readonly column: number;
}

export interface Gap {
  readonly file: string;
  readonly kind: string;
  readonly start: Pos;
  readonly end: Pos;
  /** The arm's first line from its start column (trimmed, at most SOURCE_CHARS_MAX). */
  readonly source: string;
  /** Normalized source text from the arm's start on (at most CONTEXT_CHARS_MAX), for matching. */
  readonly context: string;
}

export interface ExplainedGap extends Gap {
  readonly reason: string | undefined;
  /** Set when explanations matched this arm but were ambiguous (they start arms elsewhere too). */
  readonly ambiguous?: readonly string[];
}

/** How much of the arm's first line the listing shows. */
const SOURCE_CHARS_MAX = 100;
/** How far past the arm's start an explanation's `code` may reach. */
const CONTEXT_CHARS_MAX = 400;
const CONTEXT_LINES_MAX = 20;
/** Only model/ arms must be explained (the report holds nothing else today). */
const MUST_EXPLAIN_PREFIX = 'model/';

/** Whitespace runs as one space, so a re-indented or re-wrapped line still matches. */
export function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * Every untaken branch arm of the report, in file then position order. `readSource` gives a
 * file's text (undefined when it is gone: the arm is listed with no source).
 */
export function gaps(report: Report, root: string, readSource: (path: string) => string | undefined = readIfExists): Gap[] {
  const out: Gap[] = [];
  for (const [path, c] of Object.entries(report)) {
    const text = readSource(path);
    const lines = text === undefined ? [] : text.split('\n');
    for (const [id, counts] of Object.entries(c.b)) {
      const m = c.branchMap[id];
      if (m === undefined) continue;
      counts.forEach((n, i) => {
        if (n !== 0) return;
        const loc = m.locations[i] ?? m.loc;
        // v8-to-istanbul gives column -1 for a range that starts on the previous line's
        // newline (the code after an early `continue;`): the arm's text starts on this line.
        const start = { line: loc.start.line, column: Math.max(0, loc.start.column ?? 0) };
        const end = { line: loc.end.line, column: Math.max(0, loc.end.column ?? 0) };
        const first = (lines[start.line - 1] ?? '').slice(start.column);
        const rest = [first, ...lines.slice(start.line, start.line + CONTEXT_LINES_MAX)].join('\n');
        const context = normalize(rest).slice(0, CONTEXT_CHARS_MAX);
        out.push({
          file: relative(root, path),
          kind: m.type,
          start,
          end,
          // A range that starts at a line's end shows the code it reaches on the next line.
          source: first.trim() !== '' ? first.trim().slice(0, SOURCE_CHARS_MAX) : context === '' ? '' : `⏎ ${context.slice(0, SOURCE_CHARS_MAX)}`,
          context,
        });
      });
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file) || a.start.line - b.start.line || a.start.column - b.start.column);
}

/**
 * Pairs each arm with the explanation whose file and code match it. An explanation that
 * matches arms starting at two or more places explains none of them; `unused` lists the
 * explanations that matched no arm.
 */
export function explain(list: readonly Gap[], explanations: readonly Explanation[]): { arms: ExplainedGap[]; unused: Explanation[]; ambiguous: Explanation[] } {
  const matches = explanations.map((e) => {
    const code = normalize(e.code);
    return list.filter((g) => g.file === e.file && g.context.startsWith(code));
  });
  const place = (g: Gap) => `${g.start.line}:${g.start.column}`;
  const isAmbiguous = matches.map((ms) => new Set(ms.map(place)).size > 1);
  const arms = list.map((g) => {
    let reason: string | undefined;
    const ambiguous: string[] = [];
    explanations.forEach((e, i) => {
      if (!matches[i]!.includes(g)) return;
      if (isAmbiguous[i]) ambiguous.push(e.code);
      else reason ??= e.reason;
    });
    return ambiguous.length > 0 && reason === undefined ? { ...g, reason, ambiguous } : { ...g, reason };
  });
  return {
    arms,
    unused: explanations.filter((_, i) => matches[i]!.length === 0),
    ambiguous: explanations.filter((_, i) => isAmbiguous[i]),
  };
}

/** The listing, first line `N untaken branch arms in M files: E explained, U unexplained`. */
export function render(result: ReturnType<typeof explain>): string {
  const { arms, unused, ambiguous } = result;
  const byFile = new Map<string, ExplainedGap[]>();
  for (const g of arms) byFile.set(g.file, [...(byFile.get(g.file) ?? []), g]);
  const explained = arms.filter((g) => g.reason !== undefined).length;
  const out = [`${arms.length} untaken branch arms in ${byFile.size} files: ${explained} explained, ${arms.length - explained} unexplained`];
  const unexplainedIn = (gs: readonly ExplainedGap[]) => gs.filter((g) => g.reason === undefined).length;
  const files = [...byFile].sort((a, b) => unexplainedIn(b[1]) - unexplainedIn(a[1]) || b[1].length - a[1].length || a[0].localeCompare(b[0]));
  for (const [f, gs] of files) {
    out.push(`${f} (${gs.length}, ${unexplainedIn(gs)} unexplained)`);
    for (const g of gs) {
      out.push(`  ${g.start.line}:${g.start.column}-${g.end.line}:${g.end.column}\t${g.kind}\t${g.source}`);
      if (g.reason !== undefined) out.push(`      explained: ${g.reason}`);
      else if (g.ambiguous !== undefined) out.push(`      UNEXPLAINED (ambiguous explanation, code matches arms elsewhere in the file too: ${g.ambiguous.map((c) => JSON.stringify(c)).join(', ')})`);
      else out.push('      UNEXPLAINED');
    }
  }
  for (const e of ambiguous) out.push(`ambiguous explanation (explains nothing; lengthen its code): ${e.file} ${JSON.stringify(e.code)}`);
  for (const e of unused) out.push(`stale explanation (matches no untaken arm): ${e.file} ${JSON.stringify(e.code)}`);
  return `${out.join('\n')}\n`;
}

/** Reads and validates the explanations file; a one-line message when it is malformed. */
export function parseExplanations(text: string, file: string): Explanation[] | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return `${file} is not JSON (${(e as Error).message})`;
  }
  const parsed = Explanations.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  return `${file} is malformed at ${issue.path.length > 0 ? issue.path.join('.') : '(top)'}: ${issue.message}`;
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export function main(argv: readonly string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): number {
  const json = argv.includes('--json');
  const explainedFile = option(argv, '--explained') ?? 'coverage-explained.json';
  const positional = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--explained');
  const file = positional[0] ?? 'reports/coverage/coverage-final.json';
  if (!existsSync(file)) {
    err(`coverage-gaps: ${file} not found (run npm run coverage first)\n`);
    return 2;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    err(`coverage-gaps: ${file} is not JSON (${(e as Error).message})\n`);
    return 2;
  }
  const report = Report.safeParse(raw);
  if (!report.success) {
    err(`coverage-gaps: ${file} is not an istanbul coverage map (${report.error.issues[0]!.path.join('.')}: ${report.error.issues[0]!.message})\n`);
    return 2;
  }
  let explanations: Explanation[] = [];
  if (option(argv, '--explained') !== undefined && !existsSync(explainedFile)) {
    err(`coverage-gaps: ${explainedFile} not found\n`);
    return 2;
  }
  if (existsSync(explainedFile)) {
    const parsed = parseExplanations(readFileSync(explainedFile, 'utf8'), explainedFile);
    if (typeof parsed === 'string') {
      err(`coverage-gaps: ${parsed}\n`);
      return 2;
    }
    explanations = parsed;
  }
  const result = explain(gaps(report.data, process.cwd()), explanations);
  if (json) out(`${JSON.stringify(result.arms.map(({ context: _context, ...g }) => g), null, 2)}\n`);
  else out(render(result));
  return result.arms.some((g) => g.reason === undefined && g.file.startsWith(MUST_EXPLAIN_PREFIX)) ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
