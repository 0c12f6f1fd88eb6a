/**
 * Operations of KSM: the per-VM opt-in (MADV_MERGEABLE on the guest's memory), a pass of ksmd,
 * and a guest process filling a page with a byte pattern (memset), the contents two tenants
 * can both hold and KSM can merge (a written data version is unique to its writer).
 */
import { access } from '../mmu/access';
import { bool, FRAME_MAX, int, PAGES_MAX, VPN_MAX, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import { poison } from '../content';
import { ksmScan, ksmSetMergeable } from './ksm';
import { GUEST, guestOf } from '../ops/lookup';

/** The byte patterns a fill writes (a page of one repeated byte; content kind 'poison'). */
export const FILL_PATTERNS: readonly number[] = [0xaa, 0x55, 0xff, 0x01];

export const ksmOperations: readonly OperationDef[] = [
  {
    name: 'ksm.madvise', mechanism: 'ksm', args: { guest: GUEST, gfn: int(0, FRAME_MAX), pages: int(1, PAGES_MAX), mergeable: bool },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      return ksmSetMergeable(w, g, a.gfn as number, (a.gfn as number) + (a.pages as number), a.mergeable as boolean);
    },
  },
  {
    name: 'ksm.scan', mechanism: 'ksm', args: { pages: int(1, 4096) },
    apply: (w, a) => ksmScan(w, a.pages as number),
  },
  {
    name: 'ksm.fill', mechanism: 'ksm', args: { guest: GUEST, pid: int(1, 2 ** 20), vpn: int(0, VPN_MAX), pattern: int(0, FILL_PATTERNS.length - 1) },
    apply: (w, a) => {
      const g = guestOf(w, a);
      if ('ok' in g) return g;
      const p = g.processes.get(a.pid as number);
      if (!p) return refuse('no-such-process', `g${g.id} has no pid ${String(a.pid)}`);
      // KSM merges anonymous pages only (mm/ksm.c scans PageAnon pages of VM_MERGEABLE VMAs): the
      // fill is a memset of anonymous memory; a file mapping's writes are the page cache's.
      if (p.vmaAt(a.vpn as number)?.object) return refuse('invalid', `g${g.id} pid ${p.pid}: ksm.fill writes anonymous memory, va ${(a.vpn as number) * 4096} is file-backed`);
      const r = access(w, g, p, a.vpn as number, 'write', poison(FILL_PATTERNS[a.pattern as number]!));
      return r.ok ? ok(a.pattern as number) : r;
    },
  },
];
