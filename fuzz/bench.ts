/**
 * `npm run bench`: throughput of the model on fixed operation sequences, printed as figures:
 * raw (no properties), checked (incremental checks after every step, full check at the end),
 * and naive (every property re-scans the whole state after every step). `--json` prints one
 * object. Figures only: no targets are asserted here or in tests.
 */
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import type { Operation } from './contract';
import { modelConfigOf } from './engine';
import { generate, KindTable } from './generate';
import { Runner, runTrace, type CheckMode } from './run';
import { defaultSwarm } from './swarm';

const TRACES = 40;
const STEPS = 120;

function traces(): Operation[][] {
  const cfg = defaultSwarm();
  const choices = fc.sample(fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: STEPS, maxLength: STEPS }), { seed: 42, numRuns: TRACES });
  return choices.map((cs) => {
    const r = new Runner(modelConfigOf(cfg, []), { check: 'none' });
    const t = new KindTable(cfg.weights);
    const ops: Operation[] = [];
    for (const c of cs) {
      const op = generate(r.world, t, c);
      ops.push(op);
      r.apply(op);
    }
    return ops;
  });
}

function opsPerSec(ts: Operation[][], check: CheckMode): number {
  const cfg = modelConfigOf(defaultSwarm(), []);
  let ops = 0;
  const t0 = performance.now();
  for (const t of ts) {
    const r = runTrace(cfg, t, { check, settle: false });
    if (r.violation) throw new Error(`bench trace failed: ${r.violation.property}`);
    ops += t.length;
  }
  return ops / ((performance.now() - t0) / 1000);
}

const ts = traces();
opsPerSec(ts, 'incremental'); // warm-up
const raw = opsPerSec(ts, 'none');
const checked = opsPerSec(ts, 'incremental');
const naive = opsPerSec(ts, 'full');
const out = { rawOpsPerSec: Math.round(raw), checkedOpsPerSec: Math.round(checked), naiveOpsPerSec: Math.round(naive), checkedOverRaw: +(checked / raw).toFixed(3), checkedOverNaive: +(checked / naive).toFixed(2) };
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
else {
  console.log(`traces: ${TRACES} x ${STEPS} operations, default configuration`);
  console.log(`raw model:          ${out.rawOpsPerSec} ops/s`);
  console.log(`checked (all props): ${out.checkedOpsPerSec} ops/s  (${out.checkedOverRaw} of raw)`);
  console.log(`naive full re-scan: ${out.naiveOpsPerSec} ops/s  (checked is ${out.checkedOverNaive}x faster)`);
}
