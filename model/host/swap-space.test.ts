/**
 * The host swap view journals the gfn whose slot or swapped contents change: the incremental
 * swap-slot-exclusive check (checkHostGfn) and every other per-gfn check look only at the gfns
 * in the journal. Found by the journal-completeness oracle (fuzz/testing/journal-completeness.ts):
 * host.reclaim.begin reserved a slot for a gfn and left the gfn out of the journal.
 */
import { data } from '../content';
import { JournalAudit } from '../../fuzz/testing/journal-completeness';
import { machine, op } from '../../fuzz/testing/scenario';

test('reserve, write and delete each journal the gfn', () => {
  const audit = new JournalAudit(machine({}));
  const w = audit.world;
  const g = w.guests[0]!;
  const GFN = 0x123;
  w.journal.clear();
  expect(g.hostSwap.reserve(GFN)).toBe(true);
  expect([...(w.journal.gfns.get(0) ?? [])]).toEqual([GFN]);
  w.journal.clear();
  g.hostSwap.write(GFN, data(0, 1));
  expect([...(w.journal.gfns.get(0) ?? [])]).toEqual([GFN]);
  w.journal.clear();
  expect(g.hostSwap.delete(GFN)).toBe(true);
  expect([...(w.journal.gfns.get(0) ?? [])]).toEqual([GFN]);
  // Nothing to drop: nothing changed, nothing journaled.
  w.journal.clear();
  expect(g.hostSwap.delete(GFN)).toBe(false);
  expect(w.journal.gfns.size).toBe(0);
});

test('a host reclaim of a gfn the EPT does not map yet journals the gfn it reserves a slot for', () => {
  // host.fault.begin backs the gfn and leaves the EPT leaf to host.fault.finish: the reclaim's
  // zap finds no leaf, so only the slot reservation can journal the gfn.
  const audit = new JournalAudit(machine({}));
  const g = audit.world.guests[0]!;
  const GFN = 0x700;
  expect(audit.apply(op('host.fault.begin', { guest: 0, gfn: GFN }))).toEqual([]);
  expect(g.backing.has(GFN)).toBe(true);
  expect(g.ept.lookup(audit.world, GFN).kind).toBe('violation');
  expect(audit.apply(op('host.reclaim.begin', { guest: 0, gfn: GFN }))).toEqual([]);
  expect(g.hostSwap.slot(GFN)).toBeDefined();
  expect(audit.apply(op('host.reclaim.end', { guest: 0 }))).toEqual([]);
  expect(audit.apply(op('host.fault.finish', { guest: 0 }))).toEqual([]);
  expect(audit.runner.outcomes.slice(0, 3)).toEqual([true, true, true]);
});
