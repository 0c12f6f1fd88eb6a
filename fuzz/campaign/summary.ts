/** Human text printed at the end of a campaign or merge (stdout), and `--list`. */
import * as path from 'path';
import type { Inventory } from '../contract';
import type { CampaignReport } from '../report/report';

export function renderSummary(report: CampaignReport, dir: string, htmlPath: string, junit: string | null): string {
  const lines: string[] = [];
  const secs = report.elapsedMs / 1000;
  const rate = secs > 0 ? Math.round(report.operations.total / secs) : 0;
  const cfg = report.config;
  lines.push(
    `fuzz: ${report.runs.toLocaleString('en-US')} runs, ${report.operations.total.toLocaleString('en-US')} operations in ${secs.toFixed(1)} s (${rate.toLocaleString('en-US')} ops/s)` +
      (cfg ? `; seed ${cfg.seed}, shard ${cfg.shard.index}/${cfg.shard.count}, faults: ${cfg.faults.join(', ') || 'none'}` : `; merged from ${report.merged.length} campaign(s)`),
  );
  if (report.stopReason === 'interrupted') lines.push(`fuzz: interrupted; continue with: npm run fuzz -- --resume ${dir}`);
  if (report.failures.length === 0) lines.push('fuzz: no property violated');
  else {
    lines.push(`fuzz: ${report.failures.length} distinct failure(s):`);
    for (const f of report.failures) {
      lines.push(`  ${f.property} at ${f.opKind} (${f.violationKind}): ${f.count} hit(s)  ${f.file ? path.join(dir, f.file) : '(counted only)'}`);
    }
    const first = report.failures.find((f) => f.file);
    if (first?.file) lines.push(`fuzz: replay with: npm run replay -- ${path.join(dir, first.file)} --verbose`);
  }
  const never = Object.entries(report.coverage.neverExercised);
  if (never.length > 0) lines.push(`fuzz: never exercised: ${never.map(([m, ts]) => `${m}: ${ts.join(', ')}`).join('; ')}`);
  if (report.coverage.operationsNeverRun.length > 0) lines.push(`fuzz: operations never run: ${report.coverage.operationsNeverRun.join(', ')}`);
  if (junit) lines.push(`fuzz: junit: ${junit}`);
  lines.push(`fuzz: report: ${htmlPath}`);
  return lines.join('\n') + '\n';
}

export function renderInventory(inv: Inventory): string {
  const lines = ['Operations (mechanism: kinds):'];
  const byMechanism = new Map<string, string[]>();
  for (const o of inv.operations) byMechanism.set(o.mechanism, [...(byMechanism.get(o.mechanism) ?? []), o.name]);
  for (const [m, names] of [...byMechanism].sort()) lines.push(`  ${m}: ${names.join(', ')}`);
  lines.push('Properties:');
  for (const p of inv.properties) lines.push(`  ${p.name}  (${p.mechanism}, ${p.kind})`);
  lines.push('Faults (--fault NAME):');
  for (const f of inv.faults) lines.push(`  ${f.name}  (${f.mechanism}) breaks ${f.breaks.join(', ')}: ${f.reproduces}`);
  return lines.join('\n') + '\n';
}
