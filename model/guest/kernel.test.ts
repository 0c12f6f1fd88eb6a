/**
 * The guest kernel's munmap and mprotect never cut a huge page: part of a 2 MiB THP VMA or of
 * memctl's 1 GiB page is refused as misaligned (the model does not split on a partial
 * munmap/mprotect), nothing changes, and the whole range is accepted.
 */
import { Runner } from '../../fuzz/run';
import type { ModelConfig } from '../config';
import { FRAMES_PER_1G, FRAMES_PER_2M } from '../constants';
import { compactionState } from '../compaction/state';
import { peekLeaf } from '../mmu/peek';

const BASE = 4 * FRAMES_PER_2M;

function runner(options: ModelConfig['options'] = {}): { r: Runner; errors: (string | undefined)[] } {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [{ frames: 2 ** 12, guestLevels: 4, eptLevels: 4, hugePages: true }], faults: [], options };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  errors.length = 0;
  return { r, errors };
}

test('part of a 2 MiB page: munmap and mprotect refused, the mapping and its contents kept; the whole page goes', () => {
  const { r, errors } = runner();
  const p = r.world.guests[0]!.processes.get(1)!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: true, exec: false, huge: true } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE + 9 } });
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: BASE + 8, pages: 8 } });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE, pages: 16, write: false, exec: false } });
  expect(errors).toEqual([undefined, undefined, 'misaligned', 'misaligned']);
  expect(p.vmaAt(BASE + 8)?.prot.write).toBe(true);
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE + 9 } });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M, write: false, exec: false } });
  r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: BASE, pages: FRAMES_PER_2M } });
  expect(errors.slice(4)).toEqual([undefined, undefined, undefined]);
  expect(p.vmaAt(BASE + 8)).toBeUndefined();
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

test("part of memctl's 1 GiB page: mprotect refused; the whole gigabyte accepted", () => {
  const { r, errors } = runner({ 'memctl.enabled': true, 'memctl.region': 'giga', 'virtio-balloon.present': false });
  const p = r.world.guests[0]!.processes.get(1)!;
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, write: true } });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, pages: FRAMES_PER_2M, write: false, exec: false } });
  expect(errors).toEqual([undefined, 'misaligned']);
  expect(p.vmaAt(FRAMES_PER_1G)?.prot.write).toBe(true);
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, pages: FRAMES_PER_1G, write: false, exec: false } });
  expect(errors[2]).toBeUndefined();
  expect(p.vmaAt(FRAMES_PER_1G)?.prot.write).toBe(false);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

describe('a guest migration caught between unmap and remap (its PTE a migration entry)', () => {
  /** One written page alone in its page table, its migration begun and stepped to 'unmapped'. */
  function unmapped(): { r: Runner; errors: (string | undefined)[]; gfn: number; id: number } {
    const { r, errors } = runner();
    const g = r.world.guests[0]!;
    r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: 1, write: true, exec: false, huge: false } });
    r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE } });
    const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE)!.gfn;
    r.apply({ kind: 'compaction.migrate.begin', args: { side: 'guest', guest: 0, gfn } });
    const [id] = [...compactionState(r.world).active.keys()];
    r.apply({ kind: 'compaction.migrate.step', args: { id: id! } });
    expect(compactionState(r.world).active.get(id!)?.stage).toBe('unmapped');
    expect(errors).toEqual([undefined, undefined, undefined, undefined]);
    errors.length = 0;
    return { r, errors, gfn, id: id! };
  }

  test('munmap drops the migration entry and unlinks the emptied tables up to the root; the migration ends with both pages free', () => {
    const { r, errors, gfn, id } = unmapped();
    const g = r.world.guests[0]!;
    const p = g.processes.get(1)!;
    const tables = g.tables.size;
    r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: BASE, pages: 1 } });
    expect(errors).toEqual([undefined]);
    expect(p.vmaAt(BASE)).toBeUndefined();
    // The PTE, PMD and PUD tables held only this page: all three go, the root stays.
    expect(g.tables.size).toBe(tables - 3);
    for (let i = 0; i < 3 && compactionState(r.world).active.has(id); i++) r.apply({ kind: 'compaction.migrate.step', args: { id } });
    expect(compactionState(r.world).active.has(id)).toBe(false);
    expect(g.owners.has(gfn)).toBe(false);
    expect(g.buddy.allocatedAt(gfn)).toBeFalsy();
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });

  test('mprotect read-only makes the migration entry read-only: the page comes back mapped read-only with its data', () => {
    const { r, errors, id } = unmapped();
    const g = r.world.guests[0]!;
    const p = g.processes.get(1)!;
    r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE, pages: 1, write: false, exec: false } });
    expect(errors).toEqual([undefined]);
    for (let i = 0; i < 3 && compactionState(r.world).active.has(id); i++) r.apply({ kind: 'compaction.migrate.step', args: { id } });
    expect(compactionState(r.world).finished.get(id)?.stage).toBe('done');
    const leaf = peekLeaf(r.world, g, p, BASE)!;
    expect(leaf.writable).toBe(false);
    r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: BASE } });
    expect(errors).toEqual([undefined, undefined, undefined, undefined]);
    expect(r.violation).toBeNull();
    expect(r.finish()).toBeNull();
  });
});

test("memctl's 1 GiB leaf made read-only by mprotect and writable again: the next write faults and makes the same leaf writable (wp_page_shared)", () => {
  const { r, errors } = runner({ 'memctl.enabled': true, 'memctl.region': 'giga', 'virtio-balloon.present': false });
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const at = FRAMES_PER_1G + 5;
  r.apply({ kind: 'memctl.mmap', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, write: true } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: at } });
  const before = peekLeaf(r.world, g, p, at)!;
  expect(before).toMatchObject({ level: 3, writable: true });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, pages: FRAMES_PER_1G, write: false, exec: false } });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: FRAMES_PER_1G, pages: FRAMES_PER_1G, write: true, exec: false } });
  // mprotect makes only an exclusive anonymous page writable in place: the leaf stays read-only.
  expect(peekLeaf(r.world, g, p, at)).toMatchObject({ level: 3, writable: false, gfn: before.gfn });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: at } });
  expect(peekLeaf(r.world, g, p, at)).toMatchObject({ level: 3, writable: true, gfn: before.gfn });
  r.apply({ kind: 'guest.read', args: { guest: 0, pid: 1, vpn: at } });
  expect(errors).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});

describe('a ranged TLB flush (flush_tlb_mm_range): page by page up to tlb_single_page_flush_ceiling, the whole PCID above', () => {
  /** 40 pages mapped from BASE and one page each at BASE+33 and BASE+34 cached in the TLB. */
  function cached(): { r: Runner; errors: (string | undefined)[]; vpid: number; cachedAt: (vpn: number) => boolean } {
    const { r, errors } = runner();
    const g = r.world.guests[0]!;
    r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: 40, write: true, exec: false, huge: false } });
    for (let v = BASE; v < BASE + 40; v++) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: v } });
    const cachedAt = (vpn: number) => r.world.tlb.overlapping(g.vpid, 1, vpn, vpn + 1).length > 0;
    return { r, errors, vpid: g.vpid, cachedAt };
  }

  test('mprotect of 33 pages: 33 INVLPGs, one per page of the range; the pages past its end stay cached', () => {
    const { r, errors, cachedAt } = cached();
    expect(cachedAt(BASE)).toBe(true);
    expect(cachedAt(BASE + 33)).toBe(true);
    const before = r.world.tlb.stats.invlpg;
    r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE, pages: 33, write: false, exec: false } });
    expect(r.world.tlb.stats.invlpg - before).toBe(33);
    for (let v = BASE; v < BASE + 33; v++) expect(cachedAt(v)).toBe(false);
    expect(cachedAt(BASE + 33)).toBe(true);
    expect(cachedAt(BASE + 34)).toBe(true);
    expect(errors.every((e) => e === undefined)).toBe(true);
    expect(r.violation).toBeNull();
  });

  test('mprotect of 34 pages: no INVLPG, the whole address space flushed, pages outside the range too', () => {
    const { r, errors, cachedAt } = cached();
    expect(cachedAt(BASE + 35)).toBe(true);
    const before = r.world.tlb.stats.invlpg;
    r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE, pages: 34, write: false, exec: false } });
    expect(r.world.tlb.stats.invlpg - before).toBe(0);
    for (let v = BASE; v < BASE + 40; v++) expect(cachedAt(v)).toBe(false);
    expect(errors.every((e) => e === undefined)).toBe(true);
    expect(r.violation).toBeNull();
  });

  test('munmap of one page that leaves its page table in use: one INVLPG for that page, its neighbours stay cached', () => {
    const { r, errors, cachedAt } = cached();
    const before = r.world.tlb.stats.invlpg;
    r.apply({ kind: 'guest.munmap', args: { guest: 0, pid: 1, vpn: BASE + 1, pages: 1 } });
    expect(r.world.tlb.stats.invlpg - before).toBe(1);
    expect(cachedAt(BASE)).toBe(true);
    expect(cachedAt(BASE + 1)).toBe(false);
    expect(cachedAt(BASE + 2)).toBe(true);
    expect(errors.every((e) => e === undefined)).toBe(true);
    expect(r.violation).toBeNull();
  });
});

test('mprotect rewrites the present leaves of the range only: write and NX follow the new protection, the pages beyond keep theirs', () => {
  const { r, errors } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: 3, write: true, exec: false, huge: false } });
  for (let v = BASE; v < BASE + 3; v++) r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: v } });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE, pages: 2, write: false, exec: true } });
  expect(peekLeaf(r.world, g, p, BASE)).toMatchObject({ writable: false, nx: false });
  expect(peekLeaf(r.world, g, p, BASE + 1)).toMatchObject({ writable: false, nx: false });
  expect(peekLeaf(r.world, g, p, BASE + 2)).toMatchObject({ writable: true, nx: true });
  // Write back: an exclusive anonymous page becomes writable in place, and NX again.
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE + 1, pages: 1, write: true, exec: false } });
  expect(peekLeaf(r.world, g, p, BASE)).toMatchObject({ writable: false, nx: false });
  expect(peekLeaf(r.world, g, p, BASE + 1)).toMatchObject({ writable: true, nx: true });
  expect(errors.every((e) => e === undefined)).toBe(true);
  expect(r.violation).toBeNull();
});

test('mprotect over a hole is refused as no-such-mapping and changes nothing', () => {
  const { r, errors } = runner();
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: 2, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE + 3, pages: 2, write: true, exec: false, huge: false } });
  r.apply({ kind: 'guest.write', args: { guest: 0, pid: 1, vpn: BASE } });
  r.apply({ kind: 'guest.mprotect', args: { guest: 0, pid: 1, vpn: BASE, pages: 5, write: false, exec: false } });
  expect(errors).toEqual([undefined, undefined, undefined, 'no-such-mapping']);
  expect(p.vmas.map((v) => [v.start, v.end, v.prot.write])).toEqual([
    [BASE, BASE + 2, true],
    [BASE + 3, BASE + 5, true],
  ]);
  expect(peekLeaf(r.world, g, p, BASE)).toMatchObject({ writable: true });
  expect(r.violation).toBeNull();
});
