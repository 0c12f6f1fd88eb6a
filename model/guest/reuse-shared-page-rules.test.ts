/**
 * reuseSharedPage's own rules (mm/memory.c do_wp_page -> wp_page_shared -> wp_page_reuse): it
 * makes writable in place only a present, read-only 4 KiB PTE that maps the mapping's own page,
 * and only for a write. Any other fault or leaf is not its own (null), and the entry stays as it
 * was.
 */
import { PTE_RW } from '../constants';
import { oneProcess } from '../../fuzz/testing/scenario';
import { findSlot, writeEntry, type LeafSlot } from './page-tables';
import { mmap } from './kernel';
import { access } from '../mmu/access';
import { reuseSharedPage } from './fault';

const V = 1536;

/** A process with a written 4 KiB page at V whose PTE is then made read-only; its slot and gfn. */
function readOnlyPte() {
  const s = oneProcess();
  expect(mmap(s.w, s.g, s.p, V, 1, { write: true, exec: false }, false).ok).toBe(true);
  expect(access(s.w, s.g, s.p, V, 'write').ok).toBe(true);
  const slot = findSlot(s.w, s.g, s.p, V, 1) as LeafSlot;
  writeEntry(s.w, s.g, s.p.pid, slot.tableGfn, slot.table, slot.index, { ...slot.entry!, flags: slot.entry!.flags & ~PTE_RW });
  return { ...s, slot: findSlot(s.w, s.g, s.p, V, 1) as LeafSlot, gfn: slot.entry!.pfn };
}

test('a write to a present read-only PTE of the mapping\'s own page: made writable in place', () => {
  const { w, g, p, slot, gfn } = readOnlyPte();
  expect(reuseSharedPage(w, g, p, slot, 'write', gfn)).toBe(true);
  expect(slot.table.get(slot.index)).toMatchObject({ pfn: gfn });
  expect(slot.table.get(slot.index)!.flags & PTE_RW).toBe(PTE_RW);
});

test('a read, another page, an already writable PTE, or a slot above level 1: not its own, nothing changes', () => {
  const cases: [string, (x: ReturnType<typeof readOnlyPte>) => true | null][] = [
    ['a read', (x) => reuseSharedPage(x.w, x.g, x.p, x.slot, 'read', x.gfn)],
    ['another page', (x) => reuseSharedPage(x.w, x.g, x.p, x.slot, 'write', x.gfn + 1)],
    ['an already writable PTE', (x) => reuseSharedPage(x.w, x.g, x.p, { ...x.slot, entry: { ...x.slot.entry!, flags: x.slot.entry!.flags | PTE_RW } }, 'write', x.gfn)],
    ['a slot above level 1', (x) => reuseSharedPage(x.w, x.g, x.p, { ...x.slot, level: 2 }, 'write', x.gfn)],
  ];
  for (const [name, call] of cases) {
    const x = readOnlyPte();
    const before = x.slot.table.get(x.slot.index);
    expect([name, call(x)]).toEqual([name, null]);
    expect(x.slot.table.get(x.slot.index)).toEqual(before);
  }
});
