/**
 * The KSM operations' argument specs (model/ksm/ops.ts) are what a counterexample file is
 * validated against (checkArgs): every argument an operation's apply reads is declared, in the
 * range apply can use. The campaign's generators (fuzz/generators/ksm.ts), sampled with a
 * fixed seed over a world with processes, merged pages and mergeable ranges, draw operations
 * that pass that validation.
 */
import fc from 'fast-check';
import { machine, stepper } from '../../fuzz/testing/scenario';
import { ksmGenerators } from '../../fuzz/generators/ksm';
import type { Choice } from '../../fuzz/generators/pick';
import { checkArgs } from '../ops/operation';
import { FILL_PATTERNS, ksmOperations } from './ops';
import { ksmState } from './ksm';

const VPN = 3000;
const SEED = 20240611;

const def = (name: string) => ksmOperations.find((o) => o.name === name)!;

test('every operation the KSM generators draw passes its argument spec, which declares every argument (none missing, none unknown)', () => {
  const st = stepper(machine({}, [], 2));
  const choices = fc.sample(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { seed: SEED, numRuns: 120 }) as Choice[];
  const drawn = new Map<string, number>();
  const check = () => {
    for (const [name, gen] of Object.entries(ksmGenerators))
      for (const c of choices) {
        const op = gen(st.world, c);
        if (!op) continue;
        const d = def(op.kind);
        expect(d).toBeDefined();
        expect(checkArgs(d, op.args)).toBeNull();
        expect(Object.keys(op.args).sort()).toEqual(Object.keys(d.args).sort());
        drawn.set(`${name}->${op.kind}`, (drawn.get(`${name}->${op.kind}`) ?? 0) + 1);
      }
  };
  // Nothing opted in yet: ksm.scan's generator opts a guest in first.
  check();
  for (const guest of [0, 1]) {
    st.apply('guest.spawn', { guest });
    st.apply('guest.mmap', { guest, pid: 1, vpn: VPN, pages: 4, write: true, exec: false, huge: false });
    for (let i = 0; i < 4; i++) st.apply('ksm.fill', { guest, pid: 1, vpn: VPN + i, pattern: i % 2 });
    st.apply('ksm.madvise', { guest, gfn: 0, pages: 4096, mergeable: true });
  }
  st.apply('ksm.scan', { pages: 4096 });
  expect(ksmState(st.world).nodes.size).toBeGreaterThan(0);
  check();
  expect([...drawn.keys()].sort()).toEqual(['ksm.fill->ksm.fill', 'ksm.madvise->ksm.madvise', 'ksm.scan->ksm.madvise', 'ksm.scan->ksm.scan']);
});

test('a fill\'s pattern indexes FILL_PATTERNS: the last index is accepted, one past it is refused', () => {
  const fill = def('ksm.fill');
  const args = { guest: 0, pid: 1, vpn: VPN };
  expect(checkArgs(fill, { ...args, pattern: 0 })).toBeNull();
  expect(checkArgs(fill, { ...args, pattern: FILL_PATTERNS.length - 1 })).toBeNull();
  expect(checkArgs(fill, { ...args, pattern: FILL_PATTERNS.length })).toMatch(/pattern/);
  expect(checkArgs(fill, { ...args, pattern: -1 })).toMatch(/pattern/);
});

test('ksm.madvise and ksm.scan refuse arguments outside their specs', () => {
  expect(checkArgs(def('ksm.madvise'), { guest: 0, gfn: 0, pages: 1, mergeable: true })).toBeNull();
  expect(checkArgs(def('ksm.madvise'), { guest: 0, gfn: 0, pages: 0, mergeable: true })).toMatch(/pages/);
  expect(checkArgs(def('ksm.madvise'), { guest: 0, gfn: -1, pages: 1, mergeable: true })).toMatch(/gfn/);
  expect(checkArgs(def('ksm.madvise'), { guest: 0, gfn: 0, pages: 1 })).toMatch(/mergeable/);
  expect(checkArgs(def('ksm.scan'), { pages: 1 })).toBeNull();
  expect(checkArgs(def('ksm.scan'), { pages: 0 })).toMatch(/pages/);
});
