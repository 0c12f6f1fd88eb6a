/**
 * Which tests each test file holds, as Stryker names them (the describe titles and the test
 * title, joined by spaces: jest-circus's getTestID), and how long each took in Stryker's
 * initial run. bail-environment.cjs records them during that run. fast-first-sequencer.cjs
 * reads them in mutant runs: it drops the test files that hold none of the mutant's covering
 * tests, and runs the files whose covering tests are cheapest first.
 *
 * Stryker's jest runner passes the covering tests only as a name pattern. So without this,
 * jest loads every related test file, and every one of them imports the whole model: about 7
 * CPU-seconds per mutant for a file like model/mmu/tlb.ts, even when no test of that file
 * matches. The file lives in the sandbox Stryker runs in (its working directory) and goes
 * with it.
 */
const { existsSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const FILE = path.join(process.cwd(), '.mutation-test-names.json');

/** The id jest-circus matches a test name pattern against. */
function testId(test) {
  const titles = [];
  for (let b = test.parent; b && b.parent; b = b.parent) titles.unshift(b.name);
  return [...titles, test.name].join(' ');
}

/** Test file path -> test id -> milliseconds in the initial run; null when none recorded. */
function readNames() {
  if (!existsSync(FILE)) return null;
  try {
    return JSON.parse(readFileSync(FILE, 'utf8'));
  } catch {
    return null;
  }
}

function writeNames(names) {
  writeFileSync(`${FILE}.tmp`, JSON.stringify(names));
  renameSync(`${FILE}.tmp`, FILE);
}

module.exports = { testId, readNames, writeNames };
