/**
 * Reverse map from target frames to the leaf entries that point at them: for the EPT, host
 * frame -> (guest, gfn) (KVM's rmap, arch/x86/kvm/mmu/mmu.c pte_list_add); for guest page
 * tables, gfn -> (pid, vpn) (Linux's anon rmap, mm/rmap.c). Updated only by the entry-write
 * primitives, so it always reflects what the tables really hold; checks use it to find every
 * entry that still reaches a frame whose owner changed.
 */
import { framesAtLevel } from '../paging/entries';

export interface RmapHit {
  /** Who holds the entry: a guest (EPT) or a pid (guest tables). */
  readonly owner: number;
  /** The source page (gfn for EPT, vpn for guest tables) that maps the queried frame. */
  readonly source: number;
  readonly level: number;
}

export class LeafRmap {
  /** Per leaf level (index level-1): target base -> [owner, source base] pairs. */
  private readonly byLevel: Map<number, [number, number][]>[] = [new Map(), new Map(), new Map()];

  add(targetBase: number, level: number, owner: number, sourceBase: number): void {
    const m = this.byLevel[level - 1]!;
    const list = m.get(targetBase);
    if (list) list.push([owner, sourceBase]);
    else m.set(targetBase, [[owner, sourceBase]]);
  }

  remove(targetBase: number, level: number, owner: number, sourceBase: number): void {
    const m = this.byLevel[level - 1]!;
    const list = m.get(targetBase);
    if (!list) return;
    const i = list.findIndex(([o, s]) => o === owner && s === sourceBase);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) m.delete(targetBase);
  }

  /** Every mapped target base at a leaf level, with its mappings, in the order first mapped. */
  *mapped(level: number): IterableIterator<[number, readonly (readonly [number, number])[]]> {
    yield* this.byLevel[level - 1]!.entries();
  }

  /** Leaves whose mapped range includes `target`, with the source page that maps it. */
  reaching(target: number): RmapHit[] {
    const out: RmapHit[] = [];
    for (let level = 1; level <= 3; level++) {
      const span = framesAtLevel(level);
      const base = target - (target % span);
      const list = this.byLevel[level - 1]!.get(base);
      if (list) for (const [owner, s] of list) out.push({ owner, source: s + (target - base), level });
    }
    return out;
  }
}
