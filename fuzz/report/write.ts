/**
 * Writes report.json and report.html into a campaign (or merge) directory, atomically. The HTML
 * replays each kept counterexample once to show its trace and memory at the failing step; a
 * file that no longer loads or replays is shown with its problem rather than aborting the report.
 */
import * as path from 'path';
import type { Engine } from '../campaign/engine-port';
import { writeFileAtomic } from '../counterexample/atomic-write';
import { loadCounterexample } from '../counterexample/load';
import { renderReportHtml, type FailureDetail } from './html';
import { REPORT_HTML, REPORT_JSON, type CampaignReport } from './report';

export function failureDetails(dir: string, report: CampaignReport, engine: Engine): FailureDetail[] {
  return report.failures.map((failure) => {
    if (!failure.file) return { failure, counterexample: null, replay: null, problem: 'counted only: no counterexample was shrunk' };
    let counterexample;
    try {
      counterexample = loadCounterexample(path.join(dir, failure.file), engine);
    } catch (err) {
      return { failure, counterexample: null, replay: null, problem: (err as Error).message };
    }
    try {
      return { failure, counterexample, replay: engine.replay(counterexample, { faults: counterexample.faults }), problem: null };
    } catch (err) {
      return { failure, counterexample, replay: null, problem: `replay failed: ${(err as Error).message.split('\n')[0]}` };
    }
  });
}

/**
 * Writes both files. Returns their paths and the problems met replaying failure files (a
 * counterexample the engine wrote but the loader refuses is a contract bug worth a warning).
 */
export function writeReports(dir: string, report: CampaignReport, engine: Engine): { json: string; html: string; problems: string[] } {
  const json = path.join(dir, REPORT_JSON);
  const html = path.join(dir, REPORT_HTML);
  const details = failureDetails(dir, report, engine);
  writeFileAtomic(json, JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(html, renderReportHtml(report, details));
  return { json, html, problems: details.filter((d) => d.failure.file && d.problem).map((d) => d.problem!) };
}
