/**
 * The journal records everything a step changes (fuzz/testing/journal-completeness.ts): random
 * fault-free traces audited step by step find no change the incremental checkers would miss,
 * and a suppressed journal call is reported, naming the step, the operation and what changed.
 * Small on purpose (it runs against every mutant): a few hundred steps in all.
 */
import { checkJournalCompleteness, JournalAudit, type Omission } from '../fuzz/testing/journal-completeness';
import { machine, op } from '../fuzz/testing/scenario';

/** Traces per configuration family and steps per trace: about a second in all. */
const TRACES = 4;
const STEPS = 70;

function readable(os: readonly Omission[]): string[] {
  return os.map((o) => `step ${o.step} ${o.op}: ${o.what}`);
}

describe('journal completeness', () => {
  test('the default configuration (two guests, one backed by huge pages): every change is journaled', () => {
    const r = checkJournalCompleteness({ seed: 11, traces: TRACES, steps: STEPS, configs: 'default' });
    expect(readable(r.omissions)).toEqual([]);
    // The traces did something: most operations succeeded, across many kinds.
    expect(r.succeeded).toBeGreaterThan(r.steps / 2);
    expect(r.kinds.size).toBeGreaterThan(30);
  });

  test('swarm configurations (4 or 5 levels, huge pages or not, 1-3 guests, options drawn): every change is journaled', () => {
    const r = checkJournalCompleteness({ seed: 12, traces: TRACES, steps: STEPS, configs: 'swarm' });
    expect(readable(r.omissions)).toEqual([]);
    expect(r.succeeded).toBeGreaterThan(r.steps / 2);
  });

  /** A small machine with one process that wrote one page at V; returns the audit and the pid. */
  function written(): { audit: JournalAudit; pid: number } {
    const audit = new JournalAudit(machine({}));
    expect(audit.apply(op('guest.spawn', { guest: 0 }))).toEqual([]);
    const pid = [...audit.world.guests[0]!.processes.keys()][0]!;
    expect(audit.apply(op('guest.mmap', { guest: 0, pid, vpn: V, pages: 4, write: true, exec: false, huge: false }))).toEqual([]);
    expect(audit.apply(op('guest.write', { guest: 0, pid, vpn: V }))).toEqual([]);
    expect(audit.runner.outcomes).toEqual([true, true, true]);
    return { audit, pid };
  }
  const V = 0x400;

  test('an unmapping whose ranges are not journaled is reported as an uncovered translation', () => {
    const { audit, pid } = written();
    const range = jest.spyOn(audit.world.journal, 'range').mockImplementation(() => undefined);
    const found = audit.apply(op('guest.munmap', { guest: 0, pid, vpn: V, pages: 4 }));
    range.mockRestore();
    expect(audit.runner.outcomes[3]).toBe(true);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatchObject({ step: 3, op: 'guest.munmap' });
    expect(readable(found)).toContainEqual(expect.stringMatching(new RegExp(`^step 3 guest.munmap: g0 pid ${pid} va 0x400000 translation gfn 0x[0-9a-f]+ L1 W NX -> none: not covered by journal.ranges$`)));
    // With the journal left alone the same step is clean.
    const again = written();
    expect(again.audit.apply(op('guest.munmap', { guest: 0, pid: again.pid, vpn: V, pages: 4 }))).toEqual([]);
  });

  test('a first touch whose gfns are not journaled is reported as an unjournaled backing and EPT leaf', () => {
    const { audit, pid } = written();
    const gfn = jest.spyOn(audit.world.journal, 'gfn').mockImplementation(() => undefined);
    const found = audit.apply(op('guest.write', { guest: 0, pid, vpn: V + 1 }));
    gfn.mockRestore();
    expect(audit.runner.outcomes[3]).toBe(true);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((o) => o.step === 3 && o.op === 'guest.write')).toBe(true);
    expect(readable(found)).toContainEqual(expect.stringMatching(/^step 3 guest.write: g0 gfn 0x[0-9a-f]+ backing none -> 0x[0-9a-f]+, .*EPT leaf none -> hfn 0x[0-9a-f]+ L1 .*: not in journal.gfns$/));
  });

  test('a table entry cleared behind the journal is reported, as a frame and as a translation', () => {
    const { audit, pid } = written();
    const w = audit.world;
    const g = w.guests[0]!;
    const leafTables = [...g.tables].filter(([, t]) => t.pid === pid && t.level === 1);
    expect(leafTables).toHaveLength(1);
    const hfn = g.backing.get(leafTables[0]![0])!;
    const c = w.frames.read(hfn);
    if (c.kind !== 'table') throw new Error('the leaf table frame holds no table');
    // PageTable.set is the primitive writeEntry journals around; called alone, nothing is.
    c.table.set(V % 512, undefined);
    // A step that touches neither the table nor the process.
    const found = audit.apply(op('host.kalloc', { order: 0, mt: 'MOVABLE' }));
    expect(audit.runner.outcomes[3]).toBe(true);
    expect(readable(found)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^step 3 host.kalloc: hfn 0x[0-9a-f]+ \(g0 gfn 0x[0-9a-f]+\) content table\(g0, level 1, 1 entries\) -> table\(g0, level 1, 0 entries\): not in journal.frames$/),
        expect.stringMatching(new RegExp(`^step 3 host.kalloc: g0 pid ${pid} va 0x400000 translation gfn 0x[0-9a-f]+ L1 W NX -> none: not covered by journal.ranges$`)),
      ]),
    );
  });
});
