/**
 * file.evict reclaims one cached page as shrink_folio_list would (allowed to unmap and to
 * write it back): a page under writeback is kept (busy) until its I/O completes, then freed.
 * mm.populate faults in exactly the pages it maps, not the page after them.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';

test('file.evict of a page under writeback is busy; after io.complete it is freed', () => {
  const r = scenario(machine({}), [
    op('file.write', { guest: 0, file: 1, index: 2 }),
    op('file.writeback', { guest: 0, file: 1, index: 2 }),
    op('file.evict', { guest: 0, file: 1, index: 2 }),
    op('io.complete', { guest: 0 }),
    op('file.evict', { guest: 0, file: 1, index: 2 }),
    op('file.evict', { guest: 0, file: 1, index: 2 }),
  ]);
  expect(r.results.slice(1).map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'busy', 'ok', 'ok', 'no-such-mapping']);
  expect(r.results[2]).toEqual({ ok: false, error: 'busy', detail: 'g0 file 1 page 2 is under writeback' });
  expect(kinds(r)).toEqual([]);
});

test('mm.populate reports the pages of its own range even when another mapping follows it', () => {
  const r = scenario(machine({}), [
    op('guest.spawn', { guest: 0 }),
    op('guest.mmap', { guest: 0, pid: 1, vpn: 8, pages: 4, write: true, exec: false, huge: false }),
    op('mm.populate', { guest: 0, pid: 1, vpn: 4, pages: 4 }),
  ]);
  expect(r.results[2]).toEqual({ ok: true, value: 4 });
  expect(kinds(r)).toEqual([]);
});
