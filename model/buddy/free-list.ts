/**
 * One buddy free list: Linux's `struct list_head free_list[MIGRATE_TYPES]` in
 * `struct free_area` (include/linux/mmzone.h), threaded through `page->buddy_list` of each free
 * block's head page. Here the "struct page" links are two sparse Maps keyed by pfn, so a list
 * costs memory only for the blocks on it.
 *
 * Every operation is O(1); iteration runs head -> tail and is bounded by `length`, so a
 * corrupted link can never loop forever. Insertion order is the only order: nothing here
 * depends on Map iteration, only on the explicit links.
 */

/** End-of-list marker (pfns are never negative). */
const NIL = -1;

/**
 * Which lists hold each pfn, kept by the lists themselves on every add and remove (so it can
 * never disagree with them): pfn -> list ids. Lets a checker ask "which lists hold this pfn"
 * in one lookup instead of asking every list.
 */
export type Membership = Map<number, number[]>;

export class FreeList {
  private readonly nextOf = new Map<number, number>();
  private readonly prevOf = new Map<number, number>();
  private headPfn = NIL;
  private tailPfn = NIL;

  constructor(
    private readonly id = 0,
    private readonly membership: Membership | null = null,
  ) {}

  private joined(pfn: number): void {
    if (!this.membership) return;
    const ids = this.membership.get(pfn);
    if (ids) ids.push(this.id);
    else this.membership.set(pfn, [this.id]);
  }

  private left(pfn: number): void {
    const ids = this.membership?.get(pfn);
    if (!ids) return;
    const i = ids.indexOf(this.id);
    if (i >= 0) ids.splice(i, 1);
    if (ids.length === 0) this.membership!.delete(pfn);
  }

  get length(): number {
    return this.nextOf.size;
  }

  has(pfn: number): boolean {
    return this.nextOf.has(pfn);
  }

  peekHead(): number | undefined {
    return this.headPfn === NIL ? undefined : this.headPfn;
  }

  peekTail(): number | undefined {
    return this.tailPfn === NIL ? undefined : this.tailPfn;
  }

  /** include/linux/list.h `list_add`: hot end; the allocator takes from here (LIFO reuse). */
  addHead(pfn: number): void {
    this.assertAbsent(pfn);
    this.prevOf.set(pfn, NIL);
    this.nextOf.set(pfn, this.headPfn);
    if (this.headPfn !== NIL) this.prevOf.set(this.headPfn, pfn);
    else this.tailPfn = pfn;
    this.headPfn = pfn;
    this.joined(pfn);
  }

  /** include/linux/list.h `list_add_tail`: cold end (move_to_free_list, FPI_TO_TAIL). */
  addTail(pfn: number): void {
    this.assertAbsent(pfn);
    this.nextOf.set(pfn, NIL);
    this.prevOf.set(pfn, this.tailPfn);
    if (this.tailPfn !== NIL) this.nextOf.set(this.tailPfn, pfn);
    else this.headPfn = pfn;
    this.tailPfn = pfn;
    this.joined(pfn);
  }

  /** include/linux/list.h `list_del`; false when `pfn` is not on this list. */
  remove(pfn: number): boolean {
    const next = this.nextOf.get(pfn);
    const prev = this.prevOf.get(pfn);
    if (next === undefined || prev === undefined) return false;
    if (prev === NIL) this.headPfn = next;
    else this.nextOf.set(prev, next);
    if (next === NIL) this.tailPfn = prev;
    else this.prevOf.set(next, prev);
    this.nextOf.delete(pfn);
    this.prevOf.delete(pfn);
    this.left(pfn);
    return true;
  }

  popHead(): number | undefined {
    const h = this.headPfn;
    if (h === NIL) return undefined;
    this.remove(h);
    return h;
  }

  /** Head -> tail; at most `length` steps even if the links were corrupted. */
  *[Symbol.iterator](): IterableIterator<number> {
    let cur = this.headPfn;
    for (let steps = this.length; steps > 0 && cur !== NIL; steps--) {
      yield cur;
      cur = this.nextOf.get(cur) ?? NIL;
    }
  }

  toArray(): number[] {
    return [...this];
  }

  /**
   * Adding a pfn twice would corrupt both neighbours' links: the kernel's CONFIG_DEBUG_LIST
   * (__list_add_valid) catches the same thing. This is a programming error of the caller, not
   * a refusal the model returns.
   */
  private assertAbsent(pfn: number): void {
    if (!Number.isInteger(pfn) || pfn < 0) throw new RangeError(`free-list: bad pfn ${pfn}`);
    if (this.nextOf.has(pfn)) throw new Error(`free-list: pfn 0x${pfn.toString(16)} already listed`);
  }
}
