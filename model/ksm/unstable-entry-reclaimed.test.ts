/**
 * ksmd's unstable tree outlives a ksm.scan call: it is rebuilt only when a pass ends
 * (mm/ksm.c ksm_do_scan / scan_get_next_rmap_item, ksm_scan.seqnr). A page it remembers may
 * have changed since; before merging with it, unstable_tree_search_insert re-checks the page
 * (get_mergeable_page: no page any more, e.g. the host swapped it out -> no merge). Here the
 * remembered page is reclaimed by the host between two scans: the next page with the same
 * contents does not merge with it but takes its place, and merges with the third one in the
 * next pass.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { peekLeaf } from '../mmu/peek';
import { ksmState } from './ksm';

const VPN = 2 ** 20;

test('a page the unstable tree remembers, reclaimed by the host before the next scan, is not merged with: the next equal page replaces it, and merges in the next pass', () => {
  const { r, apply } = stepper(machine({}));
  const g = r.world.guests[0]!;
  const s = ksmState(r.world);
  apply('guest.spawn', { guest: 0 });
  apply('guest.mmap', { guest: 0, pid: 1, vpn: VPN, pages: 3, write: true, exec: false, huge: false });
  for (let i = 0; i < 3; i++) expect(apply('ksm.fill', { guest: 0, pid: 1, vpn: VPN + i, pattern: 1 }).ok).toBe(true);
  const [a, b, cc] = [0, 1, 2].map((i) => peekLeaf(r.world, g, g.processes.get(1)!, VPN + i)!.gfn).sort((x, y) => x - y) as [number, number, number];
  expect(apply('ksm.madvise', { guest: 0, gfn: a, pages: cc - a + 1, mergeable: true }).ok).toBe(true);
  const candidates = [...g.backing.keys()].filter((gfn) => gfn >= a && gfn <= cc).sort((x, y) => x - y);
  expect(candidates[0]).toBe(a);
  // The first page of the pass goes into the unstable tree.
  expect(apply('ksm.scan', { pages: 1 })).toEqual({ ok: true, value: 0 });
  expect([...s.unstable.values()]).toHaveLength(1);
  // The host pages it out.
  expect(apply('host.reclaim.begin', { guest: 0, gfn: a }).ok).toBe(true);
  expect(apply('host.reclaim.end', { guest: 0 }).ok).toBe(true);
  expect(g.backing.has(a)).toBe(false);
  expect(g.hostSwap.has(a)).toBe(true);
  // The pass goes on past b (the candidate list lost a): the next equal page finds a gone.
  expect(apply('ksm.scan', { pages: candidates.length - 1 })).toEqual({ ok: true, value: 0 });
  expect(s.nodes.size).toBe(0);
  expect([...s.unstable.values()]).toHaveLength(1);
  expect([...s.unstable.values()]).not.toContain(undefined);
  // The next pass merges b and c; a stays swapped out and reads back.
  expect(apply('ksm.scan', { pages: 8 }).value).toBe(2);
  expect(s.nodes.size).toBe(1);
  expect(g.backing.get(b)).toBe(g.backing.get(cc));
  expect(g.backing.has(a)).toBe(false);
  for (let i = 0; i < 3; i++) expect(apply('guest.read', { guest: 0, pid: 1, vpn: VPN + i }).ok).toBe(true);
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
