/**
 * Killing a process for good. exit() unmaps every VMA through the page tables, which are
 * guest memory: when the host cannot bring a table page back (it is out of memory, or an
 * invalidation of that page is in flight) the walk fails part way. A kill cannot be refused:
 * what exit could not unmap is reaped from the frame ledger instead, as the OOM reaper
 * (mm/oom_kill.c __oom_reap_task_mm) and exit_mmap finish a dying address space without
 * needing anything from it.
 */
import { guestTableOf } from '../content';
import { peekGuestPhysical } from '../mmu/peek';
import { framesAtLevel, guestIsLeaf, guestPresent } from '../paging/entries';
import type { Guest } from '../guest/guest';
import { exit, guestFree } from '../guest/kernel';
import { dropTableRefs } from '../guest/page-tables';
import type { Process } from '../guest/process';
import type { World } from '../world';

export function killProcess(w: World, g: Guest, p: Process): void {
  if (exit(w, g, p).ok) return;
  for (const h of g.unmapHooks) h(w, g, p, 0, Number.MAX_SAFE_INTEGER);
  const mine = [...g.tables.entries()].filter(([, t]) => t.pid === p.pid);
  for (const [gfn, info] of mine) {
    // Every table of the process is still one (peek reads it even mid-migration or swapped).
    const table = guestTableOf(peekGuestPhysical(w, g, gfn));
    if (!table) continue;
    const span = framesAtLevel(info.level);
    table.forEach((e, idx) => {
      if (guestPresent(e) && guestIsLeaf(e, info.level)) g.rmap.remove(e.pfn, info.level, p.pid, info.vpnBase + idx * span);
    });
  }
  for (const [gfn] of mine) g.tables.delete(gfn);
  dropTableRefs(g, new Set(mine.map(([gfn]) => gfn)));
  const heads = new Map<number, number>();
  for (const [gfn, o] of g.owners) {
    if ((o.kind !== 'anon' && o.kind !== 'page-table') || o.pid !== p.pid) continue;
    const b = g.buddy.allocatedBlock(gfn);
    if (b) heads.set(b.head, b.order);
  }
  for (const [head, order] of heads) {
    // Every page of the block is the process's (a THP is one process's, whole).
    for (let i = 0; i < 2 ** order; i++) g.clearOwner(head + i);
    guestFree(w, g, head, order);
  }
  w.tlb.flushPcid(g.vpid, p.pid);
  g.processes.delete(p.pid);
  w.journal.guests.add(g.id);
  w.journal.range(g.id, p.pid, 0, Number.MAX_SAFE_INTEGER);
  w.journal.note(() => `g${g.id}: pid ${p.pid} reaped (exit could not walk its tables)`);
  w.transition('nested-mmu', 'process', 'no-process');
}
