/**
 * The branches of `model/` no test or campaign took, listed from c8's istanbul report
 * (reports/coverage/coverage-final.json, written by `npm run coverage`): one line per branch,
 * `file:line  kind  source`, grouped by file, most gaps first. The list is what the issue asks
 * to be explained or covered; coverage percentages alone hide which rule went unexercised.
 *
 *   npm run -s coverage && node .build/fuzz/coverage-gaps.js [--json] [report.json]
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface Loc {
  readonly start: { readonly line: number };
}
interface FileCoverage {
  readonly branchMap: Record<string, { readonly type: string; readonly loc: Loc; readonly locations: readonly Loc[] }>;
  readonly b: Record<string, readonly number[]>;
}

export interface Gap {
  readonly file: string;
  readonly line: number;
  readonly kind: string;
  readonly source: string;
}

/** Every untaken branch arm of the report, in file then line order. */
export function gaps(report: Record<string, FileCoverage>, root: string): Gap[] {
  const out: Gap[] = [];
  for (const [path, c] of Object.entries(report)) {
    const lines = existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
    for (const [id, counts] of Object.entries(c.b)) {
      const m = c.branchMap[id]!;
      counts.forEach((n, i) => {
        if (n !== 0) return;
        const line = (m.locations[i] ?? m.loc).start.line;
        out.push({ file: relative(root, path), line, kind: m.type, source: (lines[line - 1] ?? '').trim().slice(0, 100) });
      });
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

function main(argv: readonly string[]): number {
  const json = argv.includes('--json');
  const file = argv.find((a) => !a.startsWith('--')) ?? 'reports/coverage/coverage-final.json';
  if (!existsSync(file)) {
    process.stderr.write(`coverage-gaps: ${file} not found (run npm run coverage first)\n`);
    return 2;
  }
  let report: Record<string, FileCoverage>;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as Record<string, FileCoverage>;
  } catch (e) {
    process.stderr.write(`coverage-gaps: ${file} is not JSON (${(e as Error).message})\n`);
    return 2;
  }
  const list = gaps(report, process.cwd());
  if (json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return 0;
  }
  const byFile = new Map<string, Gap[]>();
  for (const g of list) byFile.set(g.file, [...(byFile.get(g.file) ?? []), g]);
  process.stdout.write(`${list.length} untaken branch arms in ${byFile.size} files\n`);
  for (const [f, gs] of [...byFile].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))) {
    process.stdout.write(`${f} (${gs.length})\n`);
    for (const g of gs) process.stdout.write(`  ${g.line}\t${g.kind}\t${g.source}\n`);
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
