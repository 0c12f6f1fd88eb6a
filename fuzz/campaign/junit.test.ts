import { renderJunit } from './junit';
import type { CampaignReport } from '../report/report';

test('one testcase per property; violated ones fail with the counterexample path; all escaped', () => {
  const report = {
    seed: 1,
    elapsedMs: 1500,
    properties: ['a.ok', 'b<bad>'],
    failures: [{ key: 'b<bad>|op|k', property: 'b<bad>', opKind: 'op', violationKind: 'k', count: 3, file: 'failures/0123456789ab.json', message: 'x & "y"' }],
  } as unknown as CampaignReport;
  const xml = renderJunit(report, '/runs/c1');
  expect(xml).toContain('<testsuites name="fuzz campaign" tests="2" failures="1"');
  expect(xml).toContain('<testcase classname="fuzz.campaign" name="a.ok" time="1.500"></testcase>');
  expect(xml).toContain('name="b&lt;bad&gt;"');
  expect(xml).toContain('/runs/c1/failures/0123456789ab.json');
  expect(xml).toContain('x &amp; &quot;y&quot;');
  expect(xml).not.toContain('<bad>');
});
