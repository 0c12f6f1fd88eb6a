/**
 * One guest's view of the host swap device (mm/swapfile.c; the host pages out the anonymous
 * memory that backs a guest, QEMU's guest RAM, like any other process memory): gfn -> the slot
 * that holds its contents. Slots come from the world's single host SwapDevice, so contents
 * live in the slot, not in the view: a slot shared by two gfns (or two guests) would show up
 * as one of them reading the other's page.
 *
 * The view keeps the small Map-like surface the core already used on `Guest.hostSwap`
 * (get, has, delete, clear, keys, size): `get` returns the contents of a written slot and
 * `delete` frees the slot, so a caller that drops a swapped page (swap-in, teardown, a
 * balloon discarding it) frees the slot by the same call.
 *
 * Every change of gfn's slot or of its contents journals the gfn: swap-slot-exclusive checks a
 * gfn's slot (checkHostGfn) only for the gfns in `journal.gfns`, and a swapped gfn's contents
 * are what the guest reads there (peekGuestPhysical). The device marks the slot, not the gfn.
 */
import type { Content } from '../content';
import type { Journal } from '../journal';
import type { SwapDevice } from '../swap/device';

export class HostSwap {
  private readonly slotOf = new Map<number, number>();

  constructor(
    private readonly device: SwapDevice,
    readonly guest: number,
    private readonly journal: Journal,
  ) {}

  get size(): number {
    return this.slotOf.size;
  }

  keys(): IterableIterator<number> {
    return this.slotOf.keys();
  }

  entries(): IterableIterator<[number, number]> {
    return this.slotOf.entries();
  }

  has(gfn: number): boolean {
    return this.slotOf.has(gfn);
  }

  /** The slot reserved or written for gfn. */
  slot(gfn: number): number | undefined {
    return this.slotOf.get(gfn);
  }

  /** get_swap_page for gfn (before the swap-out starts); false when the device is full. */
  reserve(gfn: number): boolean {
    if (this.slotOf.has(gfn)) return true;
    const s = this.device.alloc({ kind: 'guest-memory', guest: this.guest, gfn });
    if (s === null) return false;
    this.slotOf.set(gfn, s);
    this.journal.gfn(this.guest, gfn);
    return true;
  }

  /** The swapped contents (undefined while the slot is only reserved). */
  get(gfn: number): Content | undefined {
    const s = this.slotOf.get(gfn);
    return s === undefined ? undefined : this.device.content(s);
  }

  /** The swap-out write of gfn completed with contents `c`. */
  write(gfn: number, c: Content): void {
    const s = this.slotOf.get(gfn);
    if (s === undefined) return;
    this.device.write(s, c);
    this.journal.gfn(this.guest, gfn);
  }

  /** Reserve if needed and write (Map.set's shape, for callers that swap a page out in one go). */
  set(gfn: number, c: Content): this {
    if (this.reserve(gfn)) this.write(gfn, c);
    return this;
  }

  /** Drop gfn's swapped copy and free its slot. */
  delete(gfn: number): boolean {
    const s = this.slotOf.get(gfn);
    if (s === undefined) return false;
    this.slotOf.delete(gfn);
    this.device.free(s);
    this.journal.gfn(this.guest, gfn);
    return true;
  }

  clear(): void {
    for (const gfn of [...this.slotOf.keys()]) this.delete(gfn);
  }
}
