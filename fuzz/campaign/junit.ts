/**
 * JUnit XML for CI dashboards: one testcase per property checked; a violated property fails
 * with the path of each of its counterexample files, so the dashboard links straight to the
 * reproducer (`npm run replay -- <file>`).
 */
import * as path from 'path';
import type { CampaignReport } from '../report/report';

function xml(value: unknown): string {
  // XML 1.0 forbids most control characters even escaped; drop them.
  return String(value)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** `dir` is the campaign directory, so failure paths in the XML are usable from anywhere. */
export function renderJunit(report: CampaignReport, dir: string): string {
  const properties = [...new Set([...report.properties, ...report.failures.map((f) => f.property)])].sort();
  const seconds = (report.elapsedMs / 1000).toFixed(3);
  const cases = properties.map((property) => {
    const failures = report.failures.filter((f) => f.property === property);
    const open = `    <testcase classname="fuzz.campaign" name="${xml(property)}" time="${seconds}">`;
    if (failures.length === 0) return `${open}</testcase>`;
    const lines = failures.map(
      (f) => `${f.opKind} / ${f.violationKind}: ${f.count} hit(s): ${f.message}\n  counterexample: ${f.file ? path.join(dir, f.file) : '(counted only)'}`,
    );
    const message = `${failures.length} distinct failure(s); counterexample: ${failures[0].file ? path.join(dir, failures[0].file) : '(counted only)'}`;
    return `${open}\n      <failure message="${xml(message)}" type="PropertyViolation">${xml(lines.join('\n'))}</failure>\n    </testcase>`;
  });
  const failed = properties.filter((p) => report.failures.some((f) => f.property === p)).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="fuzz campaign" tests="${properties.length}" failures="${failed}" time="${seconds}">`,
    `  <testsuite name="fuzz campaign seed ${xml(report.seed ?? 'merged')}" tests="${properties.length}" failures="${failed}" errors="0" skipped="0" time="${seconds}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
