/**
 * report.html: one self-contained page (inline CSS and SVG; no script, font or network access),
 * so it opens from disk, from a CI artifact, or attached to an issue. Every dynamic string goes
 * through `esc`.
 */
import type { Counterexample, MemorySnapshot, ReplayResult } from '../contract';
import type { CampaignReport, ReportFailure } from './report';
import { esc } from './escape';
import { hostStrip, throughputChart } from './svg';

/** A failure with what the page shows of it; `problem` when its file could not be replayed. */
export interface FailureDetail {
  readonly failure: ReportFailure;
  readonly counterexample: Counterexample | null;
  readonly replay: ReplayResult | null;
  readonly problem: string | null;
}

/** Rows shown in long tables; the rest is in report.json and the counterexample files. */
const TABLE_ROWS_MAX = 256;

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111;max-width:1100px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{background:#fee2e2}.never{background:#fef3c7}.ok{color:#166534}.fail{color:#b91c1c}.muted{color:#666}
code,pre{font-family:ui-monospace,monospace;font-size:12px}pre{white-space:pre-wrap;margin:0}
.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle;border:1px solid #999}
.side{display:grid;grid-template-columns:1fr 1fr;gap:8px}.side div{border:1px solid #ddd;padding:6px}
.failure{border:1px solid #fca5a5;padding:8px 12px;margin:12px 0;border-radius:4px}`;

function table(head: readonly string[], rows: readonly string[][], rowClass: (i: number) => string = () => ''): string {
  const shown = rows.slice(0, TABLE_ROWS_MAX);
  const more = rows.length > shown.length ? `<p class="muted">${esc(rows.length - shown.length)} more rows not shown.</p>` : '';
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${shown
    .map((r, i) => `<tr class="${rowClass(i)}">${r.join('')}</tr>`)
    .join('')}</tbody></table>${more}`;
}

const td = (v: unknown, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${esc(v)}</td>`;
const num = (v: number) => td(v.toLocaleString('en-US'), 'num');

function summary(r: CampaignReport): string {
  const rows: [string, string][] = [
    ['Result', r.failures.length === 0 ? 'no property violated' : `${r.failures.length} distinct failure(s)`],
    ['Seed', r.seed === null ? 'several (merged)' : String(r.seed)],
    ['Shard', r.config ? `${r.config.shard.index}/${r.config.shard.count}` : 'merged'],
    ['Bound', r.config ? (r.config.runs !== null ? `${r.config.runs} runs` : `${(r.config.durationMs ?? 0) / 1000} s`) : 'merged'],
    ['Faults', r.config ? r.config.faults.join(', ') || 'none' : 'see sources'],
    ['Focus', r.config ? `mechanisms: ${r.config.mechanisms.join(', ') || 'all'}; properties: ${r.config.properties.join(', ') || 'all'}` : 'see sources'],
    ['Runs', r.runs.toLocaleString('en-US')],
    ['Operations', r.operations.total.toLocaleString('en-US')],
    ['Elapsed', `${(r.elapsedMs / 1000).toFixed(1)} s`],
    ['Stopped', r.stopReason],
    ['Model', r.modelVersion],
    ['Commit', r.commit],
    ['Started', r.startedAt],
  ];
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

function failuresTable(r: CampaignReport): string {
  if (r.failures.length === 0) return '<p class="ok">No property was violated.</p>';
  return table(
    ['Property', 'Operation at failing step', 'Violation kind', 'Hits', 'Counterexample'],
    r.failures.map((f) => [td(f.property), td(f.opKind), td(f.violationKind), num(f.count), f.file ? `<td><a href="${esc(f.file)}">${esc(f.file)}</a></td>` : td('counted only')]),
    () => 'bad',
  );
}

function coverageTables(r: CampaignReport): string {
  const ops = table(
    ['Operation', 'Ran', 'OK', 'Refused'],
    [
      ...Object.entries(r.coverage.operations).map(([k, c]) => [td(k), num(c.ran), num(c.ok), num(c.refused)]),
      ...r.coverage.operationsNeverRun.map((k) => [td(k), num(0), num(0), num(0)]),
    ],
    (i) => (i >= Object.keys(r.coverage.operations).length ? 'never' : ''),
  );
  const mechanisms = [...new Set([...Object.keys(r.coverage.declared), ...Object.keys(r.coverage.transitions)])].sort();
  const transitions = mechanisms
    .map((m) => {
      const counts = r.coverage.transitions[m] ?? {};
      const all = [...new Set([...(r.coverage.declared[m] ?? []), ...Object.keys(counts)])].sort();
      const rows = all.map((t) => [td(t), num(counts[t] ?? 0)]);
      return `<h3>${esc(m)}</h3>${table(['Transition', 'Count'], rows, (i) => ((counts[all[i]] ?? 0) > 0 ? '' : 'never'))}`;
    })
    .join('');
  const never = Object.entries(r.coverage.neverExercised);
  const neverList =
    never.length === 0
      ? '<p class="ok">Every declared transition was exercised.</p>'
      : `<p class="fail">Never exercised: ${never.map(([m, ts]) => ts.map((t) => `<code class="never">${esc(`${m}: ${t}`)}</code>`).join(' ')).join(' ')}</p>`;
  return `${neverList}<h3>Operations</h3>${ops}${transitions}`;
}

function memoryPicture(s: MemorySnapshot): string {
  const guests = s.guests
    .map((g) => {
      const hfnOf = new Map(g.backed.map(([gfn, hfn]) => [gfn, hfn]));
      const rows = g.mappings.map((m) => [num(m.pid), td('0x' + m.vpn.toString(16)), td('0x' + m.gfn.toString(16)), td(hfnOf.has(m.gfn) ? '0x' + hfnOf.get(m.gfn)!.toString(16) : 'not backed', hfnOf.has(m.gfn) ? '' : 'never')]);
      return `<h4>Guest ${esc(g.id)}: ${esc(g.mappings.length)} mapping(s), ${esc(g.backed.length)} backed gfn(s)</h4>${table(['pid', 'va page', 'gfn', 'hfn'], rows)}`;
    })
    .join('');
  return `<h4>Host frames by owner (${esc(s.hostFrames)} frames)</h4>${hostStrip(s)}${guests}`;
}

function failureSection(d: FailureDetail, i: number): string {
  const f = d.failure;
  const head = `<h3 id="failure-${i}">${esc(f.property)} <span class="muted">at ${esc(f.opKind)}, ${esc(f.violationKind)}, ${esc(f.count)} hit(s)</span></h3>`;
  if (!d.counterexample) return `<div class="failure">${head}<p class="fail">${esc(d.problem ?? 'no counterexample file (counted only)')}</p></div>`;
  const cx = d.counterexample;
  const v = d.replay?.violation ?? cx.violation;
  const steps = d.replay?.steps ?? [];
  const stepRows = steps.map((s) => [
    num(s.step),
    td(`${s.operation.kind} ${JSON.stringify(s.operation.args)}`),
    td(s.outcome),
    `<td><pre>${esc(s.changes.join('\n'))}</pre></td>`,
    `<td><pre>${esc(s.violations.map((x) => `${x.property}: ${x.message}`).join('\n'))}</pre></td>`,
  ]);
  const replayNote = d.problem ? `<p class="fail">${esc(d.problem)}</p>` : '';
  return [
    `<div class="failure">${head}`,
    `<p>File: <a href="${esc(f.file ?? '')}">${esc(f.file ?? '')}</a>; faults: ${esc(cx.faults.join(', ') || 'none')}; seed ${esc(cx.origin.seed)}; ${esc(cx.operations.length)} operation(s). Replay: <code>${esc(`npm run replay -- ${f.file ?? ''}`)}</code></p>`,
    `<p><b>${esc(v.message)}</b> (step ${esc(v.step)}, ${esc(v.subject)})</p>`,
    `<div class="side"><div><b>Expected</b><pre>${esc(v.expected)}</pre></div><div><b>Actual</b><pre>${esc(v.actual)}</pre></div></div>`,
    replayNote,
    steps.length > 0
      ? `<h4>Trace</h4>${table(['Step', 'Operation', 'Outcome', 'Changes', 'Violations'], stepRows, (i) => (steps[i].step === v.step ? 'bad' : ''))}`
      : `<h4>Trace</h4>${table(['Step', 'Operation'], cx.operations.map((op, i) => [num(i), td(`${op.kind} ${JSON.stringify(op.args)}`)]), (i) => (i === v.step ? 'bad' : ''))}`,
    d.replay ? `<h4>Memory at the failing step</h4>${memoryPicture(d.replay.snapshot)}` : '',
    '</div>',
  ].join('');
}

function workersTable(r: CampaignReport): string {
  if (r.workers.length === 0) return '';
  return table(
    ['Worker', 'Batches', 'Runs', 'Operations', 'Failures', 'Busy (s)'],
    r.workers.map((w) => [td(w.id), num(w.batches), num(w.runs), num(w.operations), num(w.failures), td((w.busyMs / 1000).toFixed(1), 'num')]),
  );
}

export function renderReportHtml(r: CampaignReport, details: readonly FailureDetail[]): string {
  const title = `Campaign report: ${r.failures.length === 0 ? 'nothing found' : `${r.failures.length} failure(s)`}`;
  const merged =
    r.merged.length > 0
      ? `<h2>Merged campaigns</h2>${table(['Directory', 'Seed', 'Shard', 'Runs'], r.merged.map((m) => [td(m.dir), td(m.seed ?? 'several'), td(m.shard ? `${m.shard.index}/${m.shard.count}` : 'merged'), num(m.runs)]))}`
      : '';
  return [
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">',
    `<title>${esc(title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    summary(r),
    `<h2>Failures</h2>${failuresTable(r)}`,
    details.map(failureSection).join(''),
    `<h2>Throughput</h2>${throughputChart(r.throughput.samples)}`,
    `<h2>Coverage</h2>${coverageTables(r)}`,
    `<h2>Workers</h2>${workersTable(r)}`,
    merged,
    '</body></html>\n',
  ].join('\n');
}
