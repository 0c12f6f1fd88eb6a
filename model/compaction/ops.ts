/**
 * Operations of migration and compaction: a single migration started and stepped one edge at
 * a time (so guest accesses interleave with its stages), and whole-zone compaction runs.
 */
import { MAX_PAGE_ORDER } from '../constants';
import type { Guest } from '../guest/guest';
import { bool, FRAME_MAX, int, oneOf, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { compactZone } from './compact';
import { beginGuestMigration, beginHostMigration, stepMigration } from './migrate';
import { compactionState } from './state';
import type { Process } from '../guest/process';
import { allocZeroed } from '../guest/alloc';
import { slotFor, writeEntry } from '../guest/page-tables';
import { guestEntry } from '../paging/entries';
import { PT_ENTRIES } from '../constants';
import { isRefusal } from '../result';
import { mmap } from '../guest/kernel';
import { madviseDontneed } from '../thp/dontneed';
import { VPN_MAX } from '../ops/operation';
import { GUEST, guestOf } from '../ops/lookup';

const SIDE = oneOf('guest', 'host');

/**
 * The workload's first touch of [start, start + pages): do_anonymous_page for each page, with
 * one page-table lookup per PTE table rather than per page (the work the kernel's fault path
 * does, minus the walk it repeats). Returns the pages touched before memory ran out.
 */
function touchAll(w: World, g: Guest, p: Process, start: number, pages: number): number {
  let touched = 0;
  while (touched < pages) {
    const vpn = start + touched;
    const slot = slotFor(w, g, p, vpn, 1);
    if (isRefusal(slot) || slot.level !== 1) return touched;
    const end = Math.min(start + pages, vpn - (vpn % PT_ENTRIES) + PT_ENTRIES);
    for (let v = vpn; v < end; v++, touched++) {
      // The range is the workload's own fresh VMA (mmap refused an overlap; munmap cleared the
      // PTEs of what was there before): no PTE of it is present yet.
      const i = v % PT_ENTRIES;
      const gfn = allocZeroed(w, g, 0, 'MOVABLE', 'a fragmenting page');
      if (typeof gfn !== 'number') return touched;
      g.setOwner(gfn, { kind: 'anon', pid: p.pid, vpn: v });
      g.zeroings++;
      writeEntry(w, g, p.pid, slot.tableGfn, slot.table, i, guestEntry(gfn, { writable: true, user: true, nx: true }));
    }
  }
  return touched;
}

/** Pages one fragmenting workload touches at most. */
export const FRAGMENT_PAGES_MAX = 1024;

export const compactionOperations: readonly OperationDef[] = [
  {
    // A fragmenting workload (the pattern compaction exists for): a process maps `pages` pages,
    // touches them all (each a 4 KiB fault), then gives every other one back with
    // MADV_DONTNEED, leaving order-0 holes between movable pages. Returns the pages touched.
    name: 'compaction.fragment', mechanism: 'compaction',
    args: { guest: GUEST, pid: int(1, 2 ** 20), vpn: int(0, VPN_MAX), pages: int(1, FRAGMENT_PAGES_MAX) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const p = g.processes.get(a.pid as number);
      if (!p) return refuse('no-such-process', `g${g.id} has no pid ${String(a.pid)}`);
      const start = a.vpn as number;
      const pages = a.pages as number;
      if (start + pages > 2 ** (9 * g.config.guestLevels - 1)) return refuse('out-of-range', 'va beyond the user half');
      const m = mmap(w, g, p, start, pages, { write: true, exec: false }, false);
      if (!m.ok) return m;
      const touched = touchAll(w, g, p, start, pages);
      if (touched > 1) madviseDontneed(w, g, p, start + 1, touched - 1, 2);
      return ok(touched);
    },
  },
  {
    // Start migrating one page: the guest page at gfn (side guest) or the host frame behind gfn
    // (side host). Isolates and locks the source and takes the target.
    name: 'compaction.migrate.begin', mechanism: 'compaction', args: { side: SIDE, guest: GUEST, gfn: int(0, FRAME_MAX) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const gfn = a.gfn as number;
      if (gfn >= g.config.frames) return refuse('out-of-range', `g${g.id} gfn ${hex(gfn)}`);
      const m = a.side === 'guest' ? beginGuestMigration(w, g, gfn, 'single') : beginHostMigration(w, g, gfn, 'single');
      return 'ok' in m ? m : ok(m.id);
    },
  },
  {
    // One edge of a migration in flight: unmap, copy, or remap and free.
    name: 'compaction.migrate.step', mechanism: 'compaction', args: { id: int(1, 2 ** 30) },
    apply: (w, a) => {
      const m = compactionState(w).active.get(a.id as number);
      return m ? stepMigration(w, m) : refuse('no-such-allocation', `no migration #${String(a.id)} in flight`);
    },
  },
  {
    // compact_zone for a guest's zone or the host's: direct (suitability checked) or proactive.
    name: 'compaction.run', mechanism: 'compaction', args: { side: SIDE, guest: GUEST, order: int(0, MAX_PAGE_ORDER), proactive: bool },
    apply: (w, a) => {
      let g: Guest | null = null;
      if (a.side === 'guest') {
        const x = guestOf(w, a);
        if ('ok' in x) return x;
        g = x;
      }
      const run = compactZone(w, g, { order: a.order as number, proactive: a.proactive as boolean });
      return ok(run.outcome === 'success' ? 1 : 0);
    },
  },
];
