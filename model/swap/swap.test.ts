/**
 * Guest swap (swap cache, slots, frontswap in front of the device) and host swap slots; the
 * scenario of every injected fault of swap.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import type { World } from '../world';
import { guestSwapOf } from './guest-swap';

const V = 1 << 24;
const SWAP = { 'swap.slots': 16, 'frontswap.enabled': false, 'cleancache.enabled': false };
const spawn = op('guest.spawn', { guest: 0 });
const populate = (pages: number) => op('mm.populate', { guest: 0, pid: 1, vpn: V, pages });
const write = (i: number) => op('guest.write', { guest: 0, pid: 1, vpn: V + i });
const read = (i: number) => op('guest.read', { guest: 0, pid: 1, vpn: V + i });
const swapOut = (i: number) => op('swap.out', { guest: 0, pid: 1, vpn: V + i });

describe('guest swap', () => {
  it('swap.out of a page never touched (no page table yet) is refused as not mapped; once written it goes out', () => {
    const mmap = op('guest.mmap', { guest: 0, pid: 1, vpn: V, pages: 2, write: true, exec: false, huge: false });
    const r = scenario(machine(SWAP), [spawn, mmap, swapOut(0), write(0), swapOut(0)], true);
    expect(kinds(r)).toEqual([]);
    expect(r.results.slice(1).map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'no-such-mapping', 'ok', 'ok']);
    expect(r.world.transitions.get('swap')?.get('mapped->swap-cache')).toBe(1);
  });

  it('a page swapped out and completed comes back with what was written', () => {
    const r = scenario(machine(SWAP), [spawn, populate(2), write(0), swapOut(0), op('io.complete', { guest: 0 }), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.world.transitions.get('swap')?.get('swapped->mapped')).toBe(1);
    expect(guestSwapOf(r.world, r.world.guests[0]!).device!.used).toBe(0);
  });

  it('a fault during the write takes the swap-cache page back; the slot is freed', () => {
    const r = scenario(machine(SWAP), [spawn, populate(1), write(0), swapOut(0), read(0), op('io.complete', { guest: 0 })]);
    expect(kinds(r)).toEqual([]);
    expect(r.world.transitions.get('swap')?.get('swap-cache->mapped')).toBe(1);
    expect(guestSwapOf(r.world, r.world.guests[0]!).device!.used).toBe(0);
  });

  it('tmem-host-reclaims-persistent through the guest swap: the swap-in misses frontswap, reads the never-written device slot (zero) and loses the write', () => {
    const steps = [spawn, populate(1), write(0), swapOut(0), op('io.complete', { guest: 0 }), op('tmem.host.reclaim', { pages: 4 }), read(0)];
    const bad = scenario(machine({ ...SWAP, 'frontswap.enabled': true }, ['tmem-host-reclaims-persistent']), steps);
    expect(kinds(bad)).toEqual(['read-returns-last-write|wrong-read', 'oracle-agreement|content-mismatch']);
    expect(bad.world.transitions.get('frontswap')?.get('absent->missed')).toBe(1);
    const good = scenario(machine({ ...SWAP, 'frontswap.enabled': true }), steps);
    expect(kinds(good)).toEqual([]);
    expect(good.world.transitions.get('frontswap')?.get('stored->loaded')).toBe(1);
  });

  it('through frontswap: the store serves the swap-in, the device slot is never written', () => {
    const r = scenario(machine({ ...SWAP, 'frontswap.enabled': true }), [spawn, populate(1), write(0), swapOut(0), op('io.complete', { guest: 0 }), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.world.transitions.get('frontswap')?.get('stored->loaded')).toBe(1);
  });

  it('munmap of swapped pages frees their slots; no slot outlives its entries', () => {
    const r = scenario(machine(SWAP), [spawn, populate(3), swapOut(0), swapOut(1), op('io.complete', { guest: 0 }), op('guest.munmap', { guest: 0, pid: 1, vpn: V, pages: 3 }), op('io.complete', { guest: 0 })]);
    expect(kinds(r)).toEqual([]);
    const s = guestSwapOf(r.world, r.world.guests[0]!);
    expect(s.device!.used).toBe(0);
    expect(s.ptes.size).toBe(0);
  });

  it('a full device refuses the swap-out and changes nothing', () => {
    const r = scenario(machine({ ...SWAP, 'swap.slots': 1 }), [spawn, populate(2), swapOut(0), swapOut(1)]);
    expect(kinds(r)).toEqual([]);
    expect(r.results[3]).toMatchObject({ ok: false, error: 'limit' });
  });
});

/** A backed gfn of guest 0 holding an anonymous page (for the host's swap). */
function anonGfn(w: World): number {
  const g = w.guests[0]!;
  for (const [gfn, o] of g.owners) if (o.kind === 'anon' && g.backing.has(gfn)) return gfn;
  throw new Error('no anonymous page');
}

describe('host swap', () => {
  it('reserves a slot per frame, writes it at the end, and swaps in from it', () => {
    const r = scenario(machine(SWAP), [spawn, populate(1), write(0), (w) => op('host.reclaim.begin', { guest: 0, gfn: anonGfn(w) }), op('host.reclaim.end', { guest: 0 }), read(0)]);
    expect(kinds(r)).toEqual([]);
    expect(r.world.hostSwapDevice.used).toBe(0);
    expect(r.world.transitions.get('swap')?.get('host-writeback->host-swapped')).toBe(1);
  });
});

describe('swap fault scenarios', () => {
  it('swap-slot-freed-while-referenced: swap-in frees the slot but keeps the entry that names it', () => {
    const steps = [spawn, populate(2), write(0), swapOut(0), op('io.complete', { guest: 0 }), read(0), swapOut(1)];
    const bad = kinds(scenario(machine(SWAP, ['swap-slot-freed-while-referenced']), steps));
    expect(bad).toContain('swap-slot-exclusive|entry-to-free-slot');
    expect(bad).toContain('swap-slot-exclusive|slot-shared');
    expect(bad).toContain('swapped-data-returns|swapped-data-changed');
    expect(kinds(scenario(machine(SWAP), steps))).toEqual([]);
  });

  it('swap-frees-before-writeback: the swap-cache page is freed while its write is in flight', () => {
    const steps = [spawn, populate(1), write(0), swapOut(0)];
    expect(kinds(scenario(machine(SWAP, ['swap-frees-before-writeback']), steps))).toContain('swap-frame-held-during-writeback|freed-during-writeback');
    expect(kinds(scenario(machine(SWAP), steps))).toEqual([]);
  });

  it('host-swap-frees-before-writeback: the host frees a frame its swap-out is still reading', () => {
    const steps = [spawn, populate(1), write(0), (w: World) => op('host.reclaim.begin', { guest: 0, gfn: anonGfn(w) })];
    expect(kinds(scenario(machine(SWAP, ['host-swap-frees-before-writeback']), steps))).toContain('swap-frame-held-during-writeback|freed-during-writeback');
    expect(kinds(scenario(machine(SWAP), steps))).toEqual([]);
  });
});

describe('swap.out refuses what is not a present 4 KiB anonymous page of the process', () => {
  it('a file mapping, a huge VMA, an unmapped address, a page not yet faulted in; the anonymous page itself goes out', () => {
    const r = scenario(machine({ ...SWAP, 'page-cache.cacheModes': 'none' }), [
      spawn,
      op('file.mmap', { guest: 0, pid: 1, file: 0, pgoff: 0, vpn: V + 64, pages: 4, write: true }),
      op('guest.mmap', { guest: 0, pid: 1, vpn: V + 4096, pages: 512, write: true, exec: false, huge: true }),
      op('guest.mmap', { guest: 0, pid: 1, vpn: V, pages: 4, write: true, exec: false, huge: false }),
      op('guest.write', { guest: 0, pid: 1, vpn: V + 64 }),
      swapOut(64),
      swapOut(4096),
      swapOut(1024),
      swapOut(1),
      write(0),
      swapOut(0),
      op('io.complete', { guest: 0 }),
      read(0),
    ]);
    expect(kinds(r)).toEqual([]);
    expect(r.results.map((x) => (x.ok ? 'ok' : x.error))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'invalid', 'invalid', 'invalid', 'no-such-mapping', 'ok', 'ok', 'ok', 'ok']);
    // read-returns-last-write held through the swap-out and the read (kinds is empty).
  });
});

describe('a guest crash with pages swapped out', () => {
  it('drops every swap entry and frees every slot (the next kernel rewrites the device); nothing is leaked', () => {
    const r = scenario(machine(SWAP), [spawn, populate(2), write(0), write(1), swapOut(0), swapOut(1), op('io.complete', { guest: 0 })]);
    const s = guestSwapOf(r.world, r.world.guests[0]!);
    expect(s.ptes.size).toBe(2);
    expect(s.device!.used).toBe(2);
    const after = scenario(machine(SWAP), [spawn, populate(2), write(0), write(1), swapOut(0), swapOut(1), op('io.complete', { guest: 0 }), op('guest.crash', { guest: 0 })], true);
    expect(kinds(after)).toEqual([]);
    const t = guestSwapOf(after.world, after.world.guests[0]!);
    expect(t.ptes.size).toBe(0);
    expect(t.device!.used).toBe(0);
  });
});
