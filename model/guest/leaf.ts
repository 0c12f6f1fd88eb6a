/**
 * Which frame a guest leaf entry may map: the anonymous page the kernel gave that process at
 * that address, or, in an object-backed VMA, the page its object keeps at that index (a file's
 * page-cache page, a DAX window's gfn), as the object's mechanism reports it
 * (Guest.objectResolvers). Used by the page-table checks.
 */
import type { Content } from '../content';
import type { World } from '../world';
import type { Guest } from './guest';

export function leafMayMap(g: Guest, pid: number, vpn: number, gfn: number): boolean {
  const o = g.owners.get(gfn);
  if (o?.kind === 'anon') return o.pid === pid && o.vpn === vpn;
  // The shared zero pages (THP's huge zero page, the 4 KiB one) may be mapped anywhere by
  // anyone, read-only; page-table-well-formed checks the write bit.
  if (o?.kind === 'zero-page') return true;
  const obj = g.processes.get(pid)?.vmaAt(vpn)?.object;
  if (!obj) return false;
  for (const resolve of g.objectResolvers) {
    const at = resolve(obj, vpn - obj.vpnOrigin);
    if (at !== undefined) return at === gfn;
  }
  return false;
}

/**
 * The contents of pid's page at vpn where a mechanism keeps it outside the page tables (a guest
 * swap entry), or undefined. The model keeps swap entries beside the tables, where Linux keeps
 * them in the PTE, so "pte_none" in a mechanism's test means no leaf and nothing paged out.
 */
export function pagedOut(world: World, g: Guest, pid: number, vpn: number): Content | undefined {
  for (const h of g.pagedOutHooks) {
    const c = h(world, g, pid, vpn);
    if (c !== undefined) return c;
  }
  return undefined;
}
