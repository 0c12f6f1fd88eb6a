/**
 * The guest kernel's page-table pages (page-tables.ts) and its own physical accesses
 * (phys.ts): a frame is read as a table only when it holds a guest table; a new table is
 * zeroed once and recorded with its place in the tree; deepestSlot gives the empty slot a
 * missing table leaves, at the level it is missing (so zap and protect walks skip holes whole); and a
 * kernel access to a frame the host is reclaiming waits for the reclaim to end, then faults
 * the page back in.
 */
import { exhaustHost, machine, stepper } from '../../fuzz/testing/scenario';
import { PTE_PS } from '../constants';
import { data } from '../content';
import { PageTable } from '../paging/table';
import { guestEntry } from '../paging/entries';
import { allocTable, findSlot, deepestSlot, tableAt, writeEntry } from './page-tables';
import { physRead, physWrite } from './phys';

const VPN = 2048;

function world() {
  const s = stepper(machine({}));
  s.apply('guest.spawn', { guest: 0 });
  const g = s.r.world.guests[0]!;
  return { ...s, w: s.r.world, g, p: g.processes.get(1)! };
}

test('a frame is read as a page table only when it holds a guest table: EPT tables and data are refused', () => {
  const { w, g } = world();
  const gfn = allocTable(w, g, 1, 1, -1, 0, 0) as number;
  expect(tableAt(w, g, gfn)).toBeInstanceOf(PageTable);
  expect(physWrite(w, g, gfn, { kind: 'table', writer: g.id, table: new PageTable('ept', 1) })).toBe(true);
  expect(tableAt(w, g, gfn)).toMatchObject({ ok: false, error: 'invalid' });
  expect(physWrite(w, g, gfn, data(0, 1))).toBe(true);
  expect(tableAt(w, g, gfn)).toMatchObject({ ok: false, error: 'invalid' });
});

test('a new table page is zeroed once, owned as a page table, and recorded with its place in the tree', () => {
  const { w, g } = world();
  const zeroings = g.zeroings;
  const gfn = allocTable(w, g, 1, 2, 77, 5, 5 * 512);
  expect(typeof gfn).toBe('number');
  expect(g.zeroings).toBe(zeroings + 1);
  expect(g.owners.get(gfn as number)).toEqual({ kind: 'page-table', pid: 1, level: 2 });
  expect(g.tables.get(gfn as number)).toEqual({ pid: 1, level: 2, parent: 77, index: 5, vpnBase: 5 * 512 });
});

test('findSlot allocates nothing: null where a table is missing, the slot where the tables exist', () => {
  const { w, g, p, apply } = world();
  const tables = g.tables.size;
  expect(findSlot(w, g, p, VPN, 1)).toBeNull();
  expect(g.tables.size).toBe(tables);
  apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false });
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  expect(findSlot(w, g, p, VPN + 1, 1)).toMatchObject({ level: 1, index: (VPN + 1) % 512, entry: undefined });
  expect(findSlot(w, g, p, VPN + 512, 1)).toBeNull();
});

test('deepestSlot: the empty slot at the highest level a table is missing, or the 4 KiB slot where the tables exist', () => {
  const { w, g, p, apply } = world();
  expect(deepestSlot(w, g, p, VPN, 1)).toMatchObject({ tableGfn: p.cr3, level: 4, index: 0, entry: undefined });
  apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false });
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  expect(deepestSlot(w, g, p, VPN + 1, 1)).toMatchObject({ level: 1, index: (VPN + 1) % 512, entry: undefined });
  expect(deepestSlot(w, g, p, VPN + 512, 1)).toMatchObject({ level: 2, index: 5, entry: undefined });
  expect(deepestSlot(w, g, p, VPN + 512 ** 2, 1)).toMatchObject({ level: 3, index: 1, entry: undefined });
  expect(deepestSlot(w, g, p, VPN + 512 ** 3, 1)).toMatchObject({ tableGfn: p.cr3, level: 4, index: 1, entry: undefined });
});

test('deepestSlot refuses where a table on the way cannot be read: no gap is made up', () => {
  const { w, g, p, apply } = world();
  apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 1, write: true, exec: false, huge: false });
  expect(apply('guest.write', { guest: 0, pid: 1, vpn: VPN }).ok).toBe(true);
  expect(deepestSlot(w, g, p, VPN + 512, 1)).toMatchObject({ level: 2, entry: undefined });
  const pmd = [...g.tables.entries()].find(([, t]) => t.pid === 1 && t.level === 2)![0];
  // A stray kernel store over the PMD table: the frame no longer holds a table.
  expect(physWrite(w, g, pmd, data(0, 1))).toBe(true);
  expect(tableAt(w, g, pmd)).toMatchObject({ ok: false, error: 'invalid' });
  expect(deepestSlot(w, g, p, VPN + 512, 1)).toMatchObject({ ok: false, error: 'invalid' });
});

test("a kernel read of a page the host is reclaiming waits for the reclaim's end, then faults it back in and reads what was written", () => {
  const { w, g, apply } = world();
  const id = apply('guest.kalloc', { guest: 0, order: 0, mt: 'UNMOVABLE' }).value!;
  expect(apply('guest.kwrite', { guest: 0, alloc: id }).ok).toBe(true);
  const gfn = g.kernelAllocs.get(id)!.gfn;
  const written = w.frames.read(g.backing.get(gfn)!);
  expect(apply('host.reclaim.begin', { guest: 0, gfn }).ok).toBe(true);
  expect(g.pendingReclaim).not.toBeNull();
  expect(apply('guest.kread', { guest: 0, alloc: id }).ok).toBe(true);
  expect(g.pendingReclaim).toBeNull();
  expect(w.frames.read(g.backing.get(gfn)!)).toEqual(written);
});

test('deepestSlot inside a 2 MiB leaf: the leaf, nothing missing', () => {
  const s = stepper(machine({}, [], 1, true));
  s.apply('guest.spawn', { guest: 0 });
  const huge = 2 ** 20;
  expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: huge, pages: 512, write: true, exec: false, huge: true }).ok).toBe(true);
  expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: huge }).ok).toBe(true);
  const g = s.world.guests[0]!;
  expect(deepestSlot(s.world, g, g.processes.get(1)!, huge + 3, 1)).toMatchObject({ level: 2, index: (huge / 512) % 512, entry: { pfn: expect.any(Number) } });
});

test('a table page the host cannot back is given back whole: the allocation fails and the guest is as it was', () => {
  const { w, g, r } = world();
  exhaustHost(r);
  const free = g.buddy.freePages();
  const owners = g.owners.size;
  const zeroings = g.zeroings;
  expect(allocTable(w, g, 1, 1, -1, 0, 0)).toMatchObject({ ok: false });
  expect([g.buddy.freePages(), g.owners.size, g.zeroings]).toEqual([free, owners, zeroings]);
});

describe('what the kernel journals for the incremental checks', () => {
  test('a physical read or write is an access of the guest (the balloon and virtio-mem properties judge those); a write also names the gfn', () => {
    const { w, g } = world();
    const [a, b] = [g.buddy.alloc(0, 'MOVABLE'), g.buddy.alloc(0, 'MOVABLE')] as [number, number];
    // Backed first, so that no fault journals anything below.
    for (const gfn of [a, b]) expect(physWrite(w, g, gfn, data(0, 1))).toBe(true);
    w.journal.clear();
    expect(physWrite(w, g, a, data(1, 1))).toBe(true);
    expect(physRead(w, g, b)).toEqual(data(0, 1));
    expect([...w.journal.accessed.get(g.id)!]).toEqual([a, b]);
    expect([...w.journal.gfns.get(g.id)!]).toEqual([a]);
    expect(w.journal.ranges).toEqual([]);
  });

  test('a stray store into a live table page journals every address the table maps', () => {
    const { w, g } = world();
    const gfn = allocTable(w, g, 1, 2, 77, 5, 5 * 512 ** 2) as number;
    w.journal.clear();
    expect(physWrite(w, g, gfn, data(1, 1))).toBe(true);
    expect(w.journal.ranges).toEqual([{ guest: g.id, pid: 1, vpnStart: 5 * 512 ** 2, vpnEnd: 6 * 512 ** 2 }]);
  });

  test("an entry written journals its table, the addresses it maps and the table's host frame", () => {
    const { w, g } = world();
    const gfn = allocTable(w, g, 1, 2, 77, 5, 5 * 512 ** 2) as number;
    const table = tableAt(w, g, gfn) as PageTable;
    const hfn = g.backing.get(gfn)!;
    expect(hfn).toBeDefined();
    w.journal.clear();
    writeEntry(w, g, 1, gfn, table, 3, guestEntry(4096, { writable: true, user: true, nx: true }, PTE_PS));
    expect([...w.journal.guestTables.get(g.id)!]).toEqual([gfn]);
    expect(w.journal.ranges).toEqual([{ guest: g.id, pid: 1, vpnStart: 5 * 512 ** 2 + 3 * 512, vpnEnd: 5 * 512 ** 2 + 4 * 512 }]);
    expect(w.journal.frames.has(hfn)).toBe(true);
  });
});
