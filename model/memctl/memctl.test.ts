/**
 * The pvmemcontrol device's request rules, each request's effect on memctl's records, and the
 * hand-over bookkeeping behind memctl-zeroed-once (model/memctl/memctl.ts):
 * - INFO answers the host page size; every request is recorded, in order, with the guest it
 *   acted on (memctl-confined reads the record).
 * - addr and length aligned to the host page size, length at least one page, the whole range
 *   inside the caller's memory (-EINVAL otherwise); DONTNEED/REMOVE/FREE of a range holding
 *   an mlocked page refused, and only such a range; MLOCK of a range holding the page under
 *   host reclaim refused (EAGAIN), and only such a range.
 * - MLOCK populates (mm/gup.c populate_vma_page_range: a swapped page comes back), PAGEOUT
 *   pages out what is backed and not mlocked, FREE makes only touched pages lazy, and the
 *   host's reclaim of lazy pages hands back exactly the frames it discarded.
 * - Each frame handed out is zeroed once: by the host, or twice under memctl-guest-zeroes.
 */
import { FRAMES_PER_1G, FRAMES_PER_2M } from '../constants';
import { createWorld } from '../registry';
import type { World } from '../world';
import { nestedWalk, type WalkResult } from '../mmu/walk';
import { leafMayMap } from '../guest/leaf';
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { gigaRegionGfn, handedOf, initMemctl, isHanded, MEMCTL_OBJECT, MEMCTL_REGION_FRAMES, memctlMergeable, memctlMmap, memctlOf, memctlRequest, memctlRequests, type Memctl } from './memctl';

const REGION = 3072; // guest 0's memctl region: the top 4 MiB of its 16 MiB
const END = 4096;

function ram(faults: string[] = [], guests = 1, huge = false): { s: Stepper; m: Memctl } {
  const s = stepper(machine({ 'memctl.enabled': true, 'virtio-balloon.present': false }, faults, guests, huge));
  return { s, m: memctlOf(s.world.guests[0]!)! };
}

const req = (s: Stepper, func: string, gfn: number, pages = 1, guest = 0) => s.apply('memctl.request', { guest, func, gfn, pages });

test('INFO answers the host page size (4 KiB, or 2 MiB with huge host pages) and is recorded acting on the caller', () => {
  const { s } = ram();
  expect(memctlRequests(s.world)).toEqual([]);
  expect(req(s, 'INFO', REGION + 5)).toEqual({ ok: true, value: 4096 });
  expect(req(s, 'DONTDUMP', REGION, 2)).toEqual({ ok: true });
  expect(memctlRequests(s.world)).toEqual([
    { caller: 0, func: 'INFO', target: 0, start: REGION + 5, end: REGION + 5 },
    { caller: 0, func: 'DONTDUMP', target: 0, start: REGION, end: REGION + 2 },
  ]);
  const huge = ram([], 1, true).s;
  expect(req(huge, 'INFO', REGION)).toEqual({ ok: true, value: FRAMES_PER_2M * 4096 });
});

test('a request must start in the region, be host-page aligned, hold a page and end inside the caller; one that ends at its last frame goes through', () => {
  const { s, m } = ram();
  expect(req(s, 'DONTNEED', REGION - 1)).toEqual({ ok: false, error: 'invalid' });
  // One past the region (and guest RAM): not memctl memory, rather than a range running past it.
  expect(req(s, 'DONTNEED', END)).toEqual({ ok: false, error: 'invalid' });
  expect(req(s, 'DONTNEED', REGION, 0)).toEqual({ ok: false, error: 'misaligned' });
  expect(req(s, 'DONTNEED', END - 2, 3)).toEqual({ ok: false, error: 'out-of-range' });
  expect(req(s, 'DONTDUMP', END - 2, 2)).toEqual({ ok: true });
  expect([...m.dontdump]).toEqual([END - 2, END - 1]);
  expect(s.r.violation).toBeNull();

  const huge = ram([], 1, true);
  expect(req(huge.s, 'DONTNEED', REGION + 1, FRAMES_PER_2M)).toEqual({ ok: false, error: 'misaligned' });
  expect(req(huge.s, 'DONTNEED', REGION, 1)).toEqual({ ok: false, error: 'misaligned' });
  expect(req(huge.s, 'DONTNEED', REGION, FRAMES_PER_2M + 1)).toEqual({ ok: false, error: 'misaligned' });
  expect(req(huge.s, 'DONTNEED', REGION + FRAMES_PER_2M, FRAMES_PER_2M)).toEqual({ ok: true });
  expect(huge.s.r.violation).toBeNull();
});

test('DONTNEED/REMOVE/FREE are refused exactly for ranges holding an mlocked page; other requests on it go through', () => {
  const { s, m } = ram();
  const L = REGION + 2;
  expect(s.apply('memctl.write', { guest: 0, gfn: L - 1 }).ok).toBe(true);
  expect(s.apply('memctl.write', { guest: 0, gfn: L + 1 }).ok).toBe(true);
  expect(req(s, 'MLOCK', L)).toEqual({ ok: true });
  for (const func of ['DONTNEED', 'REMOVE', 'FREE']) expect(req(s, func, L)).toEqual({ ok: false, error: 'invalid' });
  // The neighbours on either side are not locked.
  expect(req(s, 'FREE', L - 1)).toEqual({ ok: true });
  expect(req(s, 'DONTNEED', L + 1)).toEqual({ ok: true });
  expect(m.lazy.has(L - 1)).toBe(true);
  expect(s.world.guests[0]!.backing.has(L + 1)).toBe(false);
  for (const func of ['MPROTECT_R', 'PAGEOUT', 'DONTDUMP', 'SET_VMA_ANON_NAME', 'MLOCK']) expect(req(s, func, L)).toEqual({ ok: true });
  expect([...m.mlocked]).toEqual([L]);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('MLOCK is refused (EAGAIN) exactly when its range holds the page under host reclaim; MUNLOCK is not', () => {
  const { s, m } = ram();
  const P = REGION + 5;
  expect(s.apply('memctl.write', { guest: 0, gfn: P }).ok).toBe(true);
  expect(s.apply('host.reclaim.begin', { guest: 0, gfn: P })).toEqual({ ok: true });
  expect(req(s, 'MLOCK', P - 1)).toEqual({ ok: true });
  expect(req(s, 'MLOCK', P + 1)).toEqual({ ok: true });
  expect(req(s, 'MLOCK', P)).toEqual({ ok: false, error: 'busy' });
  expect(req(s, 'MUNLOCK', P - 1, 3)).toEqual({ ok: true });
  expect(m.mlocked.size).toBe(0);
  expect(s.apply('host.reclaim.end', { guest: 0 })).toEqual({ ok: true });
  expect(s.r.violation).toBeNull();
});

test('MLOCK populates the range: an untouched page gets a host frame and a paged-out one comes back; PAGEOUT skips it while locked', () => {
  const { s, m } = ram();
  const g = s.world.guests[0]!;
  const [A, B] = [REGION + 8, REGION + 9];
  expect(s.apply('memctl.write', { guest: 0, gfn: B }).ok).toBe(true);
  const data = s.world.frames.read(g.backing.get(B)!);
  expect(req(s, 'PAGEOUT', A, 2)).toEqual({ ok: true });
  // Only the backed page went out: the other has nothing to page out.
  expect([g.backing.has(A), g.hostSwap.has(A), g.backing.has(B), g.hostSwap.has(B)]).toEqual([false, false, false, true]);
  expect(req(s, 'MLOCK', A, 2)).toEqual({ ok: true });
  expect([g.backing.has(A), g.backing.has(B), g.hostSwap.has(B)]).toEqual([true, true, false]);
  expect(s.world.frames.read(g.backing.get(B)!)).toEqual(data);
  expect(s.world.frames.read(g.backing.get(A)!).kind).toBe('zero');
  expect(req(s, 'PAGEOUT', A, 2)).toEqual({ ok: true });
  expect([g.backing.has(A), g.backing.has(B)]).toEqual([true, true]);
  // Populating is not touching: A is still handed, its first touch still to come.
  expect(isHanded(m, A)).toBe(true);
  expect(s.apply('memctl.read', { guest: 0, gfn: A }).ok).toBe(true);
  expect(m.firstTouches.map((t) => [t.gfn, t.host, t.guest])).toEqual([[B, 1, 0], [A, 1, 0]]);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('FREE makes only touched pages lazy; the host reclaim hands back exactly the pages it discards and counts them', () => {
  const { s, m } = ram();
  const g = s.world.guests[0]!;
  // FREE of a page never touched: nothing to free lazily, so the host has nothing to reclaim.
  expect(req(s, 'FREE', REGION)).toEqual({ ok: true });
  expect(m.lazy.size).toBe(0);
  expect(s.apply('memctl.host.reclaim', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  // FREE then DONTNEED: the page is handed again, no longer lazy.
  expect(s.apply('memctl.write', { guest: 0, gfn: REGION }).ok).toBe(true);
  expect(req(s, 'FREE', REGION)).toEqual({ ok: true });
  expect(req(s, 'DONTNEED', REGION)).toEqual({ ok: true });
  expect(m.lazy.size).toBe(0);
  expect(s.apply('memctl.host.reclaim', { guest: 0 })).toEqual({ ok: false, error: 'invalid' });
  // Two pages freed lazily, one written again: the host reclaims one.
  for (const x of [REGION + 1, REGION + 2, REGION + 3]) expect(s.apply('memctl.write', { guest: 0, gfn: x }).ok).toBe(true);
  expect(req(s, 'FREE', REGION + 1, 3)).toEqual({ ok: true });
  expect(s.apply('memctl.write', { guest: 0, gfn: REGION + 2 }).ok).toBe(true);
  expect(s.apply('memctl.host.reclaim', { guest: 0 })).toEqual({ ok: true, value: 2 });
  expect([REGION + 1, REGION + 2, REGION + 3].map((x) => [g.backing.has(x), isHanded(m, x)])).toEqual([[false, true], [true, false], [false, true]]);
  expect(s.apply('memctl.read', { guest: 0, gfn: REGION + 1 }).ok).toBe(true);
  expect(m.firstTouches.at(-1)).toMatchObject({ gfn: REGION + 1, host: 1, guest: 0 });
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('2 MiB host pages: a lazily freed page the host cannot discard alone stays backed and is not handed again', () => {
  const { s, m } = ram([], 1, true);
  const g = s.world.guests[0]!;
  expect(s.apply('memctl.write', { guest: 0, gfn: REGION }).ok).toBe(true);
  expect(req(s, 'FREE', REGION, FRAMES_PER_2M)).toEqual({ ok: true });
  // The model's host reclaims lazy pages one 4 KiB page at a time; a 2 MiB page is not split.
  expect(s.apply('memctl.host.reclaim', { guest: 0 })).toEqual({ ok: true, value: 0 });
  expect(g.backing.has(REGION)).toBe(true);
  expect(isHanded(m, REGION)).toBe(false);
  expect(s.apply('memctl.read', { guest: 0, gfn: REGION }).ok).toBe(true);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('the protection each MPROTECT records, and the protection an access met', () => {
  const { s, m } = ram();
  const funcs = ['MPROTECT_NONE', 'MPROTECT_R', 'MPROTECT_W', 'MPROTECT_RW'];
  funcs.forEach((func, i) => expect(req(s, func, REGION + i)).toEqual({ ok: true }));
  expect([0, 1, 2, 3].map((i) => m.prot.get(REGION + i))).toEqual(['none', 'r', 'w', 'rw']);
  expect(s.apply('memctl.write', { guest: 0, gfn: REGION + 2 }).ok).toBe(true);
  expect(s.apply('memctl.read', { guest: 0, gfn: REGION + 4 }).ok).toBe(true);
  expect(m.accesses.map((a) => ({ gfn: a.gfn, write: a.write, prot: a.prot }))).toEqual([
    { gfn: REGION + 2, write: true, prot: 'w' },
    { gfn: REGION + 4, write: false, prot: 'rw' },
  ]);
  expect(m.accesses[1]!.step).toBe(s.world.step);
  expect(s.r.violation).toBeNull();
});

test('DONTDUMP and SET_VMA_ANON_NAME record exactly their range', () => {
  const { s, m } = ram();
  expect(req(s, 'DONTDUMP', REGION + 4, 2)).toEqual({ ok: true });
  expect(req(s, 'SET_VMA_ANON_NAME', REGION + 8, 3)).toEqual({ ok: true });
  expect([...m.dontdump]).toEqual([REGION + 4, REGION + 5]);
  expect([...m.named]).toEqual([REGION + 8, REGION + 9, REGION + 10]);
});

test('a guest write returns its data version, a read none; each guest keeps its own touches', () => {
  const { s } = ram([], 2);
  const [g0, g1] = s.world.guests as [typeof s.world.guests[0], typeof s.world.guests[0]];
  const w = s.apply('memctl.write', { guest: 0, gfn: REGION });
  expect(w.ok && w.value).toBe(s.world.version);
  expect(s.world.frames.read(g0.backing.get(REGION)!)).toEqual({ kind: 'data', writer: 0, version: w.value });
  expect(s.apply('memctl.read', { guest: 1, gfn: REGION + 1 })).toEqual({ ok: true });
  expect(s.apply('memctl.read', { guest: 1, gfn: REGION + 2 })).toEqual({ ok: true });
  expect(memctlOf(g0)!.firstTouches.map((t) => t.gfn)).toEqual([REGION]);
  expect(memctlOf(g1)!.firstTouches.map((t) => t.gfn)).toEqual([REGION + 1, REGION + 2]);
  expect(memctlOf(g1)!.accesses).toHaveLength(2);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('memctl-guest-zeroes: the guest clears a handed page before its first touch; memctl-zeroed-once counts two clears', () => {
  const { s, m } = ram(['memctl-guest-zeroes']);
  const g = s.world.guests[0]!;
  const before = g.zeroings;
  expect(s.apply('memctl.read', { guest: 0, gfn: REGION }).ok).toBe(true);
  expect(s.broke()).toEqual(['memctl-zeroed-once|zeroed-more-than-once']);
  expect(m.firstTouches).toEqual([{ gfn: REGION, host: 1, guest: 1, step: s.world.step }]);
  expect(g.zeroings).toBe(before + 1);
  // A page no longer handed is not cleared again.
  expect(s.apply('memctl.write', { guest: 0, gfn: REGION }).ok).toBe(true);
  expect(g.zeroings).toBe(before + 1);
});

test('memctl-no-bounds-check: the request is recorded once per guest it acts on, the spill clamped to the next guest\'s memory, and leaves that guest\'s hand-over records alone', () => {
  const { s } = ram(['memctl-no-bounds-check'], 2);
  const m1 = memctlOf(s.world.guests[1]!)!;
  const handed1 = new Map(m1.handed);
  expect(req(s, 'MPROTECT_R', END - 4, 8)).toEqual({ ok: true });
  expect(req(s, 'DONTNEED', END - 4, 8)).toEqual({ ok: true });
  expect(req(s, 'SET_VMA_ANON_NAME', END - 4, 3 * END)).toEqual({ ok: true });
  expect(memctlRequests(s.world).map((q) => [q.func, q.target, q.start, q.end])).toEqual([
    ['MPROTECT_R', 0, END - 4, END], ['MPROTECT_R', 1, 0, 4],
    ['DONTNEED', 0, END - 4, END], ['DONTNEED', 1, 0, 4],
    ['SET_VMA_ANON_NAME', 0, END - 4, END], ['SET_VMA_ANON_NAME', 1, 0, END],
  ]);
  expect(m1.handed).toEqual(handed1);
  expect(m1.lazy.size).toBe(0);
});

test('memctl-no-bounds-check with one guest: the spill has no other guest to reach and the request acts on the caller\'s range only', () => {
  const { s } = ram(['memctl-no-bounds-check']);
  const g = s.world.guests[0]!;
  expect(s.apply('guest.kalloc', { guest: 0, order: 0, mt: 'UNMOVABLE' }).ok).toBe(true);
  expect(s.apply('memctl.write', { guest: 0, gfn: END - 1 }).ok).toBe(true);
  const low = [...g.backing.keys()].filter((x) => x < REGION);
  expect(low.length).toBeGreaterThan(0);
  expect(req(s, 'DONTNEED', END - 2, 8)).toEqual({ ok: true });
  expect(req(s, 'FREE', END - 2, 8)).toEqual({ ok: true });
  expect(memctlRequests(s.world).map((q) => [q.func, q.target, q.start, q.end])).toEqual([['DONTNEED', 0, END - 2, END], ['FREE', 0, END - 2, END]]);
  expect([...g.backing.keys()].filter((x) => x < REGION)).toEqual(low);
  expect(s.r.violation).toBeNull();
});

test('FREE past the caller under memctl-no-bounds-check makes none of the next guest\'s pages outside its region lazy', () => {
  const { s } = ram(['memctl-no-bounds-check'], 2);
  const m1 = memctlOf(s.world.guests[1]!)!;
  expect(s.apply('guest.kalloc', { guest: 1, order: 0, mt: 'UNMOVABLE' }).ok).toBe(true);
  expect(req(s, 'FREE', END - 2, 4)).toEqual({ ok: true });
  expect(m1.lazy.size).toBe(0);
});

test('boot: the region is the top max-order block, every frame handed and owned by memctl; it cannot be reserved twice', () => {
  const w = createWorld(machine({ 'virtio-balloon.present': false })) as World;
  const g = w.guests[0]!;
  expect(memctlOf(g)).toBeUndefined();
  expect(memctlMergeable(g, REGION)).toBe(false);
  expect(memctlRequest(w, g, 'INFO', REGION, 1)).toMatchObject({ ok: false, error: 'invalid' });
  const m = initMemctl(w, g)!;
  expect(m.region).toEqual({ gfn: END - MEMCTL_REGION_FRAMES, frames: MEMCTL_REGION_FRAMES });
  expect(m.mode).toBe('ram');
  expect(m.handed.size).toBe(MEMCTL_REGION_FRAMES);
  expect([...m.handed.keys()].filter((x) => x < REGION || x >= END)).toEqual([]);
  expect([...m.handed.values()].every((h) => h.clearsAt === 0 && h.guest === 0)).toBe(true);
  expect(g.owners.get(REGION)).toEqual({ kind: 'memctl', region: 1 });
  expect(g.owners.get(END - 1)).toEqual({ kind: 'memctl', region: 1 });
  expect(g.owners.get(REGION - 1)).toBeUndefined();
  expect([...g.owners.values()].filter((o) => o.kind === 'memctl')).toHaveLength(MEMCTL_REGION_FRAMES);
  expect(initMemctl(w, g)).toBeNull();
  expect(memctlOf(g)).toBe(m);
});

test('boot, giga: the region is the first gigabyte above RAM, nothing recorded until touched; a second region there is refused', () => {
  const w = createWorld(machine({ 'virtio-balloon.present': false })) as World;
  const g = w.guests[0]!;
  expect(gigaRegionGfn(g)).toBe(FRAMES_PER_1G);
  const m = initMemctl(w, g, 'giga')!;
  expect(m.region).toEqual({ gfn: FRAMES_PER_1G, frames: FRAMES_PER_1G });
  expect(m.handed.size + m.seen.size).toBe(0);
  expect(initMemctl(w, g, 'giga')).toBeNull();
  // Outside the region nothing is handed, and looking creates no record.
  for (const x of [FRAMES_PER_1G - 1, 2 * FRAMES_PER_1G]) {
    expect(isHanded(m, x)).toBe(false);
    expect(handedOf(m, x)).toBeUndefined();
  }
  expect(m.handed.size + m.seen.size).toBe(0);
  expect(isHanded(m, 2 * FRAMES_PER_1G - 1)).toBe(true);
  expect(handedOf(m, 2 * FRAMES_PER_1G - 1)).toEqual({ clearsAt: 0, guest: 0 });
});

test('boot, giga: a region is refused only when another memslot overlaps its gigabyte', () => {
  const fresh = (): World => createWorld(machine({ 'virtio-balloon.present': false })) as World;
  const G = FRAMES_PER_1G;
  const windows: [number, number, boolean][] = [[G - 8, G, true], [2 * G, 2 * G + 8, true], [G - 8, G + 1, false], [2 * G - 1, 2 * G + 8, false]];
  for (const [start, end, fits] of windows) {
    const w = fresh();
    const g = w.guests[0]!;
    g.windows.push({ start, end, ram: false });
    expect([start, end, initMemctl(w, g, 'giga') !== null]).toEqual([start, end, fits]);
  }
});

test('memctl-no-bounds-check into a guest with no memctl device: every function spills without memctl state there', () => {
  const w = createWorld(machine({ 'virtio-balloon.present': false }, ['memctl-no-bounds-check'], 2)) as World;
  const [g0, g1] = [w.guests[0]!, w.guests[1]!];
  initMemctl(w, g0);
  expect(memctlOf(g1)).toBeUndefined();
  const funcs = ['DONTNEED', 'REMOVE', 'FREE', 'PAGEOUT', 'DONTDUMP', 'SET_VMA_ANON_NAME', 'MLOCK', 'MUNLOCK', 'MPROTECT_NONE', 'MPROTECT_RW', 'MERGEABLE', 'UNMERGEABLE'] as const;
  for (const func of funcs) expect([func, memctlRequest(w, g0, func, END - 1, 2).ok]).toEqual([func, true]);
  expect(memctlRequests(w).filter((q) => q.target === 1).map((q) => [q.func, q.start, q.end])).toEqual(funcs.map((f) => [f, 0, 1]));
  // MLOCK populated the spilled page; nothing of memctl's was created for guest 1.
  expect(g1.backing.has(0)).toBe(true);
  expect(memctlOf(g1)).toBeUndefined();
  expect(memctlMergeable(g1, 0)).toBe(false);
});

describe('the 1 GiB region', () => {
  const giga = (): { s: Stepper; m: Memctl; base: number } => {
    const s = stepper(machine({ 'memctl.enabled': true, 'memctl.region': 'giga', 'virtio-balloon.present': false }));
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    const m = memctlOf(s.world.guests[0]!)!;
    return { s, m, base: m.region.gfn };
  };

  test('a frame discarded before its first touch is handed once: one first touch, then none', () => {
    const { s, m, base } = giga();
    expect(req(s, 'DONTNEED', base + 9)).toEqual({ ok: true });
    expect(s.apply('memctl.write', { guest: 0, gfn: base + 9 }).ok).toBe(true);
    expect(s.apply('memctl.read', { guest: 0, gfn: base + 9 }).ok).toBe(true);
    expect(m.firstTouches.map((t) => [t.gfn, t.host, t.guest])).toEqual([[base + 9, 1, 0]]);
    expect(isHanded(m, base + 9)).toBe(false);
    expect(s.r.violation).toBeNull();
  });

  test("a process's accesses are recorded for the region only", () => {
    const { s, m, base } = giga();
    expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: 16, pages: 1, write: true, exec: false, huge: false })).toEqual({ ok: true });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 16 }).ok).toBe(true);
    expect(m.accesses).toEqual([]);
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: FRAMES_PER_1G, write: true })).toEqual({ ok: true });
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 2 }).ok).toBe(true);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 3 }).ok).toBe(true);
    expect(m.accesses.map((a) => [a.gfn, a.write])).toEqual([[base + 2, false], [base + 3, true]]);
    expect(s.r.violation).toBeNull();
  });

  test("a file mapping beside the region's mapping keeps its own pages: the region resolves only its own object", () => {
    const { s, base } = giga();
    const g = s.world.guests[0]!;
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: FRAMES_PER_1G, write: true })).toEqual({ ok: true });
    expect(s.apply('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: 16, pages: 2, write: true }).ok).toBe(true);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: 16 }).ok).toBe(true);
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: FRAMES_PER_1G }).ok).toBe(true);
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: 17 }).ok).toBe(true);
    const p = g.processes.get(1)!;
    const filePage = (nestedWalk(s.world, g, p.cr3, 16, 'read', false) as { gfn: number }).gfn;
    expect(leafMayMap(g, 1, 16, filePage)).toBe(true);
    expect(leafMayMap(g, 1, FRAMES_PER_1G, base)).toBe(true);
    expect(leafMayMap(g, 1, 16, base + 16)).toBe(false);
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });

  test('mmap without a memctl device is refused', () => {
    const s = stepper(machine({ 'virtio-balloon.present': false }));
    expect(s.apply('guest.spawn', { guest: 0 })).toEqual({ ok: true, value: 1 });
    const g = s.world.guests[0]!;
    expect(memctlMmap(s.world, g, g.processes.get(1)!, FRAMES_PER_1G, true)).toMatchObject({ ok: false, error: 'invalid' });
    expect(g.processes.get(1)!.vmaAt(FRAMES_PER_1G)).toBeUndefined();
  });

  test('mmap: the first and the last gigabyte of the user half map, with no page table; a negative address and an overlap are refused', () => {
    const { s } = giga();
    const g = s.world.guests[0]!;
    const top = 2 ** 35 - FRAMES_PER_1G; // 4-level guest: the user half is 2^35 frames
    const tables = g.tables.size;
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: 0, write: true })).toEqual({ ok: true });
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: top, write: true })).toEqual({ ok: true });
    // mmap only records the VMA: the fault installs the leaf and any table above it.
    expect(g.tables.size).toBe(tables);
    // A read/write mapping of the region object, never executable, not a THP candidate.
    expect(s.world.guests[0]!.processes.get(1)!.vmaAt(top + 5)).toEqual({
      start: top, end: top + FRAMES_PER_1G, prot: { write: true, exec: false }, huge: false, pageFrames: FRAMES_PER_1G, object: { kind: MEMCTL_OBJECT, id: 0, vpnOrigin: top },
    });
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: -FRAMES_PER_1G, write: true })).toEqual({ ok: false, error: 'out-of-range' });
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: top, write: true })).toEqual({ ok: false, error: 'overlap' });
    expect(s.apply('guest.mmap', { guest: 0, pid: 1, vpn: FRAMES_PER_1G + 8, pages: 1, write: true, exec: false, huge: false })).toEqual({ ok: true });
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn: FRAMES_PER_1G, write: true })).toEqual({ ok: false, error: 'overlap' });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: top + 3 }).ok).toBe(true);
    expect(s.r.violation).toBeNull();
  });

  test('a write after mprotect read-only and back makes the 1 GiB leaf writable again (wp_page_shared); a read does not', () => {
    const { s, m, base } = giga();
    const vpn = FRAMES_PER_1G;
    expect(s.apply('memctl.mmap', { guest: 0, pid: 1, vpn, write: true })).toEqual({ ok: true });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: vpn + 1 }).ok).toBe(true);
    expect(s.apply('guest.mprotect', { guest: 0, pid: 1, vpn, pages: FRAMES_PER_1G, write: false, exec: false })).toEqual({ ok: true });
    expect(s.apply('guest.write', { guest: 0, pid: 1, vpn: vpn + 1 })).toEqual({ ok: false, error: 'segv' });
    expect(s.apply('guest.mprotect', { guest: 0, pid: 1, vpn, pages: FRAMES_PER_1G, write: true, exec: false })).toEqual({ ok: true });
    const g = s.world.guests[0]!;
    const p = g.processes.get(1)!;
    const walk = (): WalkResult => nestedWalk(s.world, g, p.cr3, vpn + 1, 'read', false);
    const writable = (): boolean => (walk() as { writable: boolean }).writable;
    expect(s.apply('guest.read', { guest: 0, pid: 1, vpn: vpn + 1 })).toEqual({ ok: true });
    // The 1 GiB leaf is a user mapping, not executable.
    expect(walk()).toMatchObject({ kind: 'ok', guestLeafLevel: 3, writable: false, user: true, nx: true });
    const w = s.apply('guest.write', { guest: 0, pid: 1, vpn: vpn + 1 });
    expect(w.ok).toBe(true);
    expect(writable()).toBe(true);
    expect(s.world.frames.read(g.backing.get(base + 1)!)).toEqual({ kind: 'data', writer: 0, version: w.value });
    expect(m.firstTouches.map((t) => t.gfn)).toEqual([base + 1]);
    // Making the leaf writable is not a new mapping of the region.
    expect(s.world.transitions.get('memctl')?.get('unmapped->mapped-1g')).toBe(1);
    expect(s.r.violation).toBeNull();
    expect(s.r.finish()).toBeNull();
  });
});

test('each request acts on its range only: the page just after it is left as it was', () => {
  const { s, m } = ram();
  const g = s.world.guests[0]!;
  const A = REGION + 8;
  const B = A + 2; // requests below are on [A, B)
  for (const gfn of [A, A + 1, B]) expect(s.apply('memctl.write', { guest: 0, gfn }).ok).toBe(true);
  expect(req(s, 'PAGEOUT', A, 2).ok).toBe(true);
  expect([g.backing.has(A + 1), g.backing.has(B)]).toEqual([false, true]);
  expect(req(s, 'FREE', A, 2).ok).toBe(true);
  expect([m.lazy.has(A + 1), m.lazy.has(B)]).toEqual([true, false]);
  expect(req(s, 'MLOCK', A, 3).ok).toBe(true);
  expect(req(s, 'MUNLOCK', A, 2).ok).toBe(true);
  expect([m.mlocked.has(A + 1), m.mlocked.has(B)]).toEqual([false, true]);
  expect(req(s, 'MPROTECT_R', A, 2).ok).toBe(true);
  expect([m.prot.get(A + 1), m.prot.get(B)]).toEqual(['r', undefined]);
  expect(req(s, 'MERGEABLE', A, 2).ok).toBe(true);
  expect([memctlMergeable(g, A + 1), memctlMergeable(g, B)]).toEqual([true, false]);
  expect(s.r.violation).toBeNull();
});
