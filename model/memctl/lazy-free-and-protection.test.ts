/**
 * memctl requests meeting each other's effects:
 * - FREE (MADV_FREE) makes a page lazy, but a write since makes the lazy free void: the host's
 *   reclaim keeps it (mm/vmscan.c shrink_folio_list: a lazyfree folio dirtied again is not
 *   discarded, "if (folio_test_dirty(folio)) ... folio_set_swapbacked").
 * - Under the injected memctl-guest-zeroes fault the guest clears a handed page before use;
 *   after MPROTECT_R that clear is a store the host mapping forbids, so the read that needed
 *   it fails (hva_to_pfn: -EFAULT) and no clear is counted.
 * - Under the injected memctl-no-bounds-check fault an MPROTECT running past the caller's
 *   memory reaches the next guest, whose pages outside its own memctl region keep their
 *   protection record untouched, and memctl-confined reports the reach; an UNMERGEABLE
 *   running past it stops at the first merged page it cannot break (host-oom), in the
 *   caller's memory or in the next guest's.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import type { Operation } from '../../fuzz/contract';
import { memctlOf } from './memctl';
import { MAX_PAGE_ORDER } from '../constants';
import { ksmState } from '../ksm/ksm';

const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
const REGION = 3072;

function runner(faults: string[]): { r: Runner; errors: (string | undefined)[] } {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [guest, guest], faults, options: { 'memctl.enabled': true } };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  return { r, errors };
}

const o = (kind: string, args: Operation['args']): Operation => ({ kind, args });
const req = (func: string, gfn = REGION, pages = 1): Operation => o('memctl.request', { guest: 0, func, gfn, pages });

test('a page written after MADV_FREE is not reclaimed by the host: it keeps its data and its backing', () => {
  const { r, errors } = runner([]);
  const g = r.world.guests[0]!;
  r.apply(o('memctl.write', { guest: 0, gfn: REGION }));
  r.apply(req('FREE'));
  r.apply(o('memctl.write', { guest: 0, gfn: REGION }));
  const hfn = g.backing.get(REGION)!;
  const data = r.world.frames.read(hfn);
  expect(data.kind).toBe('data');
  r.apply(o('memctl.host.reclaim', { guest: 0 }));
  expect(errors).toEqual([undefined, undefined, undefined, undefined]);
  expect(g.backing.get(REGION)).toBe(hfn);
  expect(r.world.frames.read(hfn)).toEqual(data);
  expect(memctlOf(g)!.lazy.size).toBe(0);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test('memctl-guest-zeroes after MPROTECT_R: the guest clear of a handed page is a forbidden store, the read fails (sigbus) and no clear is counted', () => {
  const { r, errors } = runner(['memctl-guest-zeroes']);
  const g = r.world.guests[0]!;
  r.apply(req('MPROTECT_R'));
  r.apply(o('memctl.read', { guest: 0, gfn: REGION }));
  expect(errors).toEqual([undefined, 'sigbus']);
  expect(g.zeroings).toBe(0);
  expect(r.violation).toBeNull();
});

test('memctl-no-bounds-check: an MPROTECT past the end of guest 0 reaches guest 1, records no protection outside its region, and memctl-confined reports it', () => {
  const { r, errors } = runner(['memctl-no-bounds-check']);
  const g0 = r.world.guests[0]!;
  const g1 = r.world.guests[1]!;
  const v = r.apply(req('MPROTECT_R', g0.config.frames - 4, 8));
  expect(errors).toEqual([undefined]);
  expect(v.map((x) => `${x.property}|${x.kind}`)).toEqual(['memctl-confined|touched-other-guest']);
  expect(memctlOf(g0)!.prot.get(g0.config.frames - 1)).toBe('r');
  expect([...memctlOf(g1)!.prot.keys()].filter((gfn) => gfn < 4)).toEqual([]);
});

/** Take host frames (host.kalloc), largest blocks first, until none is free. */
function exhaustHost(r: Runner): void {
  for (let order = MAX_PAGE_ORDER; order >= 0; order--) {
    while (r.world.hostBuddy.freePages() >= 2 ** order) {
      const before = r.outcomes.length;
      r.apply(o('host.kalloc', { order, mt: 'MOVABLE' }));
      if (!r.outcomes[before]) break;
    }
  }
  expect(r.world.hostBuddy.freePages()).toBe(0);
}

const mergedSharers = (r: Runner): number[][] => [...ksmState(r.world).nodes.values()].map((n) => [...n.sharers]);

// UNMERGEABLE unmerges every KSM page of the range first (mm/ksm.c unmerge_ksm_pages ->
// break_ksm), and a break needs a private frame: with the host out of frames it fails
// (VM_FAULT_OOM, ksm_madvise returns -ENOMEM) and the request stops there.
test('memctl-no-bounds-check: an UNMERGEABLE past the end of guest 0 whose own merged pages cannot be broken (host-oom) stops there, before reaching guest 1', () => {
  const { r, errors } = runner(['memctl-no-bounds-check']);
  const g0 = r.world.guests[0]!;
  const end = g0.config.frames;
  r.apply(o('memctl.read', { guest: 0, gfn: end - 2 }));
  r.apply(o('memctl.read', { guest: 0, gfn: end - 1 }));
  r.apply(req('MERGEABLE', end - 2, 2));
  r.apply(o('ksm.scan', { pages: 4096 }));
  expect(errors).toEqual([undefined, undefined, undefined, undefined]);
  expect(mergedSharers(r)).toHaveLength(1);
  expect(mergedSharers(r)[0]).toHaveLength(2);
  exhaustHost(r);
  errors.length = 0;
  const v = r.apply(req('UNMERGEABLE', end - 2, 4));
  expect(errors).toEqual(['host-oom']);
  expect(v).toEqual([]);
  expect(mergedSharers(r)[0]).toHaveLength(2);
  expect(r.violation).toBeNull();
});

test("memctl-no-bounds-check: an UNMERGEABLE past the end of guest 0 reaches guest 1's merged pages, whose break fails (host-oom); memctl-confined reports the reach", () => {
  const { r, errors } = runner(['memctl-no-bounds-check']);
  const g1 = r.world.guests[1]!;
  const end = r.world.guests[0]!.config.frames;
  // Two zero-filled kernel pages of guest 1 at gfn 0 and 1, merged by ksmd.
  r.apply(o('guest.kalloc', { guest: 1, order: 0, mt: 'UNMOVABLE' }));
  r.apply(o('guest.kalloc', { guest: 1, order: 0, mt: 'UNMOVABLE' }));
  expect([...g1.kernelAllocs.values()].map((k) => k.gfn)).toEqual([0, 1]);
  for (const alloc of g1.kernelAllocs.keys()) r.apply(o('guest.kread', { guest: 1, alloc }));
  r.apply(o('ksm.madvise', { guest: 1, gfn: 0, pages: 2, mergeable: true }));
  r.apply(o('ksm.scan', { pages: 4096 }));
  expect(errors.every((e) => e === undefined)).toBe(true);
  expect(mergedSharers(r)).toHaveLength(1);
  exhaustHost(r);
  errors.length = 0;
  const v = r.apply(req('UNMERGEABLE', end - 2, 4));
  expect(errors).toEqual(['host-oom']);
  expect(v.map((x) => `${x.property}|${x.kind}`)).toEqual(['memctl-confined|touched-other-guest']);
  expect(mergedSharers(r)[0]).toHaveLength(2);
});
