/**
 * report.html in a real browser: Debian's Chromium, headless, driven by playwright-core (no
 * browser download). Proves the page renders its failures from disk with no network.
 * Needs `apt-get install -y chromium` (CI installs it: .ci/run).
 */
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { chromium, type BrowserContext } from 'playwright-core';
import { fuzzInline, tmpDir } from '../testing/helpers';

const CHROMIUM = '/usr/bin/chromium';

let browser: BrowserContext;
let userDataDir: string;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  userDataDir = tmpDir('chromium-profile-');
  // A fresh profile per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
});

test('a generated report.html renders its failures, chart and memory picture offline', async () => {
  const dir = tmpDir();
  let t = 0;
  const clock = () => (t += 250); // a stepped clock: the throughput chart has several points
  const { code } = await fuzzInline(['--runs', '120', '--out', dir, '--fault', 'balloon-leak', '--fault', 'tlb-skip-flush'], { clock });
  expect(code).toBe(1);
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(path.join(dir, 'report.html')).href);

  await expect(page.locator('h1').textContent()).resolves.toBe('Campaign report: 2 failure(s)');
  const headings = await page.locator('.failure h3').allTextContents();
  expect(headings.map((h) => h.split(' ')[0]).sort()).toEqual(['balloon.accounting', 'mmu.tlb-coherent']);
  await expect(page.locator('svg.chart polyline').count()).resolves.toBe(1);
  await expect(page.locator('svg.strip rect').count()).resolves.toBeGreaterThan(1);
  await expect(page.locator('.failure .side').first().textContent()).resolves.toContain('Expected');
  expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
  expect(errors).toEqual([]);
  await page.close();
});
