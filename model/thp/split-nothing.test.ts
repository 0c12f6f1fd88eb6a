/**
 * A split with nothing huge to split refuses no-such-mapping and changes nothing: a guest range
 * never touched (pmd none), a range already mapped by PTEs (split before), a host unit backed by
 * 4 KiB frames. A split that goes ahead turns the 2 MiB folio into 512 order-0 pages
 * (split_page) with the PMD's permissions on every PTE, and is counted by what it split.
 */
import { Runner } from '../../fuzz/run';
import { FRAMES_PER_2M } from '../constants';
import { peekLeaf } from '../mmu/peek';
import { thpState } from './state';

const BASE = 4 * FRAMES_PER_2M;

function recording(zeroPage: boolean): { r: Runner; out: string[] } {
  const out: string[] = [];
  const guest = { frames: 2 ** 13, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: true };
  const r = new Runner({ hostFrames: 2 ** 14, guests: [guest], faults: [], options: { 'thp.use-zero-page': zeroPage } }, { check: 'incremental', onStep: (_s, _op, res) => out.push(res.ok ? 'ok' : `${res.error}: ${res.detail}`) });
  r.apply({ kind: 'guest.spawn', args: { guest: 0 } });
  r.apply({ kind: 'guest.mmap', args: { guest: 0, pid: 1, vpn: BASE, pages: 2 * FRAMES_PER_2M, write: true, exec: false, huge: true } });
  return { r, out };
}

function last(r: Runner, out: string[], kind: string, args: Record<string, number | boolean>): string {
  r.apply({ kind, args: { guest: 0, ...args } });
  return out[out.length - 1]!;
}

test('guest: an untouched range and a range already split are refused; a split maps the same frames by 512 writable PTEs of order-0 pages', () => {
  const { r, out } = recording(false);
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  const va = `0x${(BASE * 4096).toString(16)}`;
  expect(last(r, out, 'thp.split', { pid: 1, vpn: BASE + 5 })).toBe(`no-such-mapping: g0 pid 1 va ${va}: no huge page`);
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE + 5 })).toBe('ok');
  const head = peekLeaf(r.world, g, p, BASE)!;
  expect(head.level).toBe(2);
  expect(g.buddy.allocatedBlock(head.gfn)?.order).toBe(9);
  const changes = thpState(r.world).changes.size;
  expect(last(r, out, 'thp.split', { pid: 1, vpn: BASE + 5 })).toBe('ok');
  for (const off of [0, 5, 511]) {
    const l = peekLeaf(r.world, g, p, BASE + off)!;
    expect({ level: l.level, gfn: l.gfn, writable: l.writable }).toEqual({ level: 1, gfn: head.gfn + off, writable: true });
    expect(g.buddy.allocatedBlock(head.gfn + off)?.order).toBe(0);
  }
  expect(r.world.transitions.get('thp')?.get('mapped-2m->split')).toBe(1);
  expect(thpState(r.world).changes.size).toBe(changes + 1);
  expect(last(r, out, 'thp.split', { pid: 1, vpn: BASE + 5 })).toBe(`no-such-mapping: g0 pid 1 va ${va}: no huge page`);
  expect(thpState(r.world).changes.size).toBe(changes + 1);
  expect(r.world.transitions.get('thp')?.get('mapped-2m->split')).toBe(1);
  expect(r.violation).toBeNull();
});

test('guest: the huge zero PMD splits into read-only PTEs of the 4 KiB zero page, counted as huge-zero -> split', () => {
  const { r, out } = recording(true);
  const g = r.world.guests[0]!;
  const p = g.processes.get(1)!;
  expect(last(r, out, 'guest.read', { pid: 1, vpn: BASE })).toBe('ok');
  expect(last(r, out, 'thp.split', { pid: 1, vpn: BASE })).toBe('ok');
  const z4 = thpState(r.world).zero4k.get(0)!;
  for (const off of [0, 511]) {
    const l = peekLeaf(r.world, g, p, BASE + off)!;
    expect({ level: l.level, gfn: l.gfn, writable: l.writable }).toEqual({ level: 1, gfn: z4, writable: false });
  }
  const thp = r.world.transitions.get('thp')!;
  expect(thp.get('huge-zero->split')).toBe(1);
  expect(thp.get('mapped-2m->split')).toBeUndefined();
  expect(r.violation).toBeNull();
});

test('host: a unit backed by 4 KiB frames is refused, before and after a split', () => {
  const { r, out } = recording(false);
  const g = r.world.guests[0]!;
  expect(last(r, out, 'guest.write', { pid: 1, vpn: BASE })).toBe('ok');
  const gfn = peekLeaf(r.world, g, g.processes.get(1)!, BASE)!.gfn;
  const unit = Math.floor(gfn / FRAMES_PER_2M);
  const hex = `0x${(unit * FRAMES_PER_2M).toString(16)}`;
  expect(last(r, out, 'thp.host.split', { gfn })).toBe('ok');
  expect(r.world.transitions.get('thp')?.get('backed-2m->host-split')).toBe(1);
  expect(last(r, out, 'thp.host.split', { gfn })).toBe(`no-such-mapping: g0 unit ${hex} is not 2 MiB backed`);
  expect(r.world.transitions.get('thp')?.get('backed-2m->host-split')).toBe(1);
  expect(r.violation).toBeNull();
});
