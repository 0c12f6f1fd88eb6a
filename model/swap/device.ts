/**
 * A swap device: numbered slots, each free or owned by exactly one swapped-out page, holding
 * that page's contents once its write has completed (Linux mm/swapfile.c: swap_info_struct
 * swap_map, get_swap_pages / scan_swap_map_slots, swap_free / swap_entry_free). The same class
 * serves the host's swap of guest memory (one device for the whole host, shared by every
 * guest, so a slot shared by two owners would leak one tenant's page to another) and each
 * guest's own swap device.
 *
 * Slot cycle (one comment, as the code moves it):
 *   free -> reserved (add_to_swap / get_swap_page, before the page is unmapped)
 *        -> written (the swap-out write completed: content set)
 *        -> free (swap_free: after swap-in, or when the last reference is unmapped)
 *
 * Allocation hands out the lowest free slot (assumption: Linux scans clusters from
 * si->cluster_next; lowest-first is deterministic and makes slot reuse frequent, which is
 * where sharing bugs show).
 */
import type { Content } from '../content';
import type { Journal } from '../journal';

export type SlotOwner =
  | { readonly kind: 'anon'; readonly guest: number; readonly pid: number; readonly vpn: number }
  | { readonly kind: 'guest-memory'; readonly guest: number; readonly gfn: number };

interface Slot {
  readonly owner: SlotOwner;
  /** null while reserved: the write has not completed. */
  content: Content | null;
}

export function describeSlotOwner(o: SlotOwner | undefined): string {
  if (!o) return 'free';
  return o.kind === 'anon' ? `g${o.guest} pid ${o.pid} vpn 0x${o.vpn.toString(16)}` : `g${o.guest} gfn 0x${o.gfn.toString(16)}`;
}

export function sameSlotOwner(a: SlotOwner, b: SlotOwner): boolean {
  if (a.kind === 'anon') return b.kind === 'anon' && a.guest === b.guest && a.pid === b.pid && a.vpn === b.vpn;
  return b.kind === 'guest-memory' && a.guest === b.guest && a.gfn === b.gfn;
}

export class SwapDevice {
  private readonly slots = new Map<number, Slot>();
  /** Lowest slot that may be free (every slot below it is in use). */
  private hint = 0;

  constructor(
    readonly capacity: number,
    private readonly journal: Journal,
    /** Journal mark key for slot changes ("swap:host", "swap:g0"). */
    readonly markKey: string,
  ) {}

  get used(): number {
    return this.slots.size;
  }

  get available(): number {
    return this.capacity - this.slots.size;
  }

  /** get_swap_page: the lowest free slot, reserved for `owner`; null when the device is full. */
  alloc(owner: SlotOwner): number | null {
    if (this.slots.size >= this.capacity) return null;
    let s = this.hint;
    // A free slot exists, and it is at or above the hint (every slot below the hint is in use;
    // alloc and free keep that so), so the scan ends on it below capacity.
    while (this.slots.has(s)) s++;
    this.slots.set(s, { owner, content: null });
    this.hint = s + 1;
    this.journal.mark(this.markKey, s);
    return s;
  }

  has(slot: number): boolean {
    return this.slots.has(slot);
  }

  owner(slot: number): SlotOwner | undefined {
    return this.slots.get(slot)?.owner;
  }

  /** The written contents, or undefined (free, or reserved and not yet written). */
  content(slot: number): Content | undefined {
    return this.slots.get(slot)?.content ?? undefined;
  }

  /** The swap-out write completed: the slot now holds `c`. */
  write(slot: number, c: Content): void {
    const s = this.slots.get(slot);
    if (!s) return;
    s.content = c;
    this.journal.mark(this.markKey, slot);
  }

  /** swap_entry_free: false when the slot was not in use (a double free). */
  free(slot: number): boolean {
    if (!this.slots.delete(slot)) return false;
    this.hint = Math.min(this.hint, slot);
    this.journal.mark(this.markKey, slot);
    return true;
  }

  entries(): IterableIterator<[number, { readonly owner: SlotOwner; readonly content: Content | null }]> {
    return this.slots.entries();
  }
}
