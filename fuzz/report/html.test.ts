import * as fs from 'fs';
import * as path from 'path';
import { startCampaign } from '../campaign/campaign';
import { InlinePool } from '../campaign/pool';
import { silentProgress } from '../campaign/progress';
import { fakeRef, tmpDir } from '../testing/helpers';
import { esc } from './escape';
import { renderReportHtml } from './html';
import { readReport } from './read';
import type { CampaignReport } from './report';

const EVIL = '<script>alert(1)</script>';

/** A campaign on a fake engine whose buddy property is named with markup. */
async function evilCampaign(): Promise<{ dir: string; report: CampaignReport; html: string }> {
  const ref = fakeRef({ buddyPropertyName: EVIL });
  const dir = tmpDir();
  const { report, files } = await startCampaign(
    {
      workers: 2,
      json: false,
      junit: null,
      out: dir,
      config: { seed: 1, shard: { index: 0, count: 1 }, runs: 100, durationMs: null, faults: ['buddy-double-merge'], mechanisms: [], properties: [] },
    },
    {
      engineRef: ref,
      makePool: (n) => new InlinePool(ref.engine, n),
      clock: (() => {
        let t = 0;
        return () => (t += 100);
      })(),
      now: () => new Date('2025-01-01T00:00:00.000Z'),
      progress: silentProgress,
      stop: { requested: false },
      commit: () => 'c',
      warn: () => {},
    },
  );
  return { dir, report, html: fs.readFileSync(files.html, 'utf8') };
}

let c: Awaited<ReturnType<typeof evilCampaign>>;
beforeAll(async () => {
  c = await evilCampaign();
});

test('every string is escaped: a property named <script> appears only as text', () => {
  expect(c.report.failures.map((f) => f.property)).toContain(EVIL);
  expect(c.html).not.toContain('<script');
  expect(c.html).toContain(esc(EVIL));
  expect(esc(`<a href="x" onclick='y'>&`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;');
});

test('the page is self-contained: no script, no external resource, a CSP that forbids them', () => {
  expect(c.html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
  expect(c.html).not.toMatch(/(src|href)="(https?:)?\/\//i);
  expect(c.html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
});

test('it shows the summary, throughput chart, coverage with never-exercised transitions, and each failure', () => {
  expect(c.html).toContain('<h1>Campaign report: 2 failure(s)</h1>');
  expect(c.html).toContain('aria-label="operations per second over time"');
  expect(c.html).toContain('<code class="never">buddy: free-&gt;isolated</code>');
  expect(c.html).toMatch(/<tr class="never"><td>free-&gt;isolated<\/td>/);
  for (const f of c.report.failures) expect(c.html).toContain(`<a href="${f.file}">${f.file}</a>`);
  expect(c.html).toContain('aria-label="host frames by owner"');
  expect(c.html).toContain('<b>Expected</b>');
  expect(c.html).toMatch(/<tr class="bad"><td class="num">0<\/td><td>buddy\.(free|alloc) /);
});

test('a failure file that no longer loads is shown with its problem, not dropped', () => {
  const broken = { ...c.report, failures: [{ ...c.report.failures[0], file: 'failures/000000000000.json' }] };
  const html = renderReportHtml(broken, [{ failure: broken.failures[0], counterexample: null, replay: null, problem: 'failures/000000000000.json: cannot read (ENOENT)' }]);
  expect(html).toContain('<p class="fail">failures/000000000000.json: cannot read (ENOENT)</p>');
});

test('report.json reads back through its schema; unknown keys are refused', () => {
  expect(readReport(c.dir)).toEqual(c.report);
  const file = path.join(c.dir, 'report.json');
  fs.writeFileSync(file, JSON.stringify({ ...c.report, extra: 1 }));
  expect(() => readReport(c.dir)).toThrow(/report\.json: \$: Unrecognized key: "extra"/);
});
