/**
 * Host khugepaged collapsing a guest's 2 MiB unit of which one 4 KiB frame the host has
 * swapped out: collapse_huge_page brings swapped PTEs in first (__collapse_huge_page_swapin,
 * up to max_ptes_swap), so the new huge page holds the swapped contents too, the swap slot is
 * freed, and the whole unit is backed by one 2 MiB page again.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M } from '../constants';
import { peekLeaf } from '../mmu/peek';

const B = 2 ** 20;

test('a host collapse of a unit with one host-swapped frame copies the swapped contents into the huge page and frees the slot', () => {
  const { r, apply } = stepper(machine({}, [], 1, true));
  const g = r.world.guests[0]!;
  apply('guest.spawn', { guest: 0 });
  apply('guest.mmap', { guest: 0, pid: 1, vpn: B, pages: 4, write: true, exec: false, huge: false });
  for (let i = 0; i < 4; i++) expect(apply('guest.write', { guest: 0, pid: 1, vpn: B + i }).ok).toBe(true);
  const gfn = peekLeaf(r.world, g, g.processes.get(1)!, B)!.gfn;
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  expect(g.hugeBacked.has(unit)).toBe(true);
  const data = r.world.frames.read(g.backing.get(gfn)!);
  expect(apply('thp.host.split', { guest: 0, gfn }).ok).toBe(true);
  expect(apply('host.reclaim.begin', { guest: 0, gfn }).ok).toBe(true);
  expect(apply('host.reclaim.end', { guest: 0 }).ok).toBe(true);
  expect(g.backing.has(gfn)).toBe(false);
  expect(g.hostSwap.has(gfn)).toBe(true);
  expect(apply('thp.host.scan', { guest: 0, gfn }).ok).toBe(true);
  expect(apply('thp.host.collapse', { guest: 0 }).ok).toBe(true);
  expect(g.hugeBacked.has(unit)).toBe(true);
  expect(g.hostSwap.has(gfn)).toBe(false);
  expect(r.world.frames.read(g.backing.get(gfn)!)).toEqual(data);
  expect(apply('guest.read', { guest: 0, pid: 1, vpn: B }).ok).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
