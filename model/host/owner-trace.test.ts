/**
 * The verbose trace (Runner verbose: the journal's human-readable changes, what `npm run
 * replay` prints for a counterexample) names each host frame's owner before and after a change,
 * like mm/page_owner.c's record of who allocated a page. A host-side migration re-owns its
 * target frame without freeing it in between (alloc_migration_target, then
 * migrate_folio_move), so the trace line says "migration target -> guest memory", not
 * "free -> guest memory".
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { compactionState } from '../compaction/state';
import { hex } from '../../properties/violation';

test('the trace of a host migration names the target frame as a migration target, then as the guest page it becomes; the source goes back free', () => {
  const changes: string[][] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: false }], faults: [], options: {} };
  const r = new Runner(c, { check: 'incremental', verbose: true, onStep: (_s, _op, _res, ch) => changes.push([...ch]) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.kalloc', args: { guest: 0, order: 0, mt: 'MOVABLE' } });
  r.apply({ kind: 'guest.kwrite', args: { guest: 0, alloc: 1 } });
  const g = r.world.guests[0]!;
  const gfn = g.kernelAllocs.get(1)!.gfn;
  const src = g.backing.get(gfn)!;
  changes.length = 0;
  r.apply({ kind: 'compaction.migrate.begin', args: { side: 'host', guest: 0, gfn } });
  const m = [...compactionState(r.world).active.values()].find((x) => x.side === 'host')!;
  for (let i = 0; i < 4 && compactionState(r.world).active.has(m.id); i++) r.apply({ kind: 'compaction.migrate.step', args: { id: m.id } });
  expect(r.outcomes.every((o) => o)).toBe(true);
  const dst = g.backing.get(gfn)!;
  expect(dst).not.toBe(src);
  const frameLines = changes.flat().filter((l) => l.startsWith('hfn '));
  expect(frameLines).toContain(`hfn ${hex(dst)}: free -> migration target for g0 gfn ${hex(gfn)} (compaction: migrate-target)`);
  expect(frameLines).toContain(`hfn ${hex(dst)}: migration target for g0 gfn ${hex(gfn)} -> g0 gfn ${hex(gfn)} (compaction: migrate-target)`);
  expect(frameLines.some((l) => l.startsWith(`hfn ${hex(src)}: g0 gfn ${hex(gfn)} -> free`))).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
