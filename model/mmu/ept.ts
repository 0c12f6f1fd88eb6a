/**
 * One guest's EPT: a radix tree of 4 or 5 levels whose tables live in host frames (owner
 * 'ept-table'), mapping guest frames to host frames with R/W/X permissions (SDM vol. 3C 29.3;
 * Linux arch/x86/kvm/mmu/). The EPT is KVM's secondary MMU: a cache of the host's primary
 * mapping of guest memory (Guest.backing), kept coherent by the invalidation protocol
 * (mmu/notifier.ts).
 */
import { EPT_RWX } from '../constants';
import { ZERO } from '../content';
import { eptIsLeaf, eptLeafEntry, eptPresent, eptTableEntry, framesAtLevel, indexAt } from '../paging/entries';
import { PageTable, type Entry } from '../paging/table';
import type { World } from '../world';
import { hostAlloc, hostFree } from '../host/alloc';
import { refuse, type Refusal } from '../result';
import { hex } from '../../properties/violation';

export type EptLookup =
  | { readonly kind: 'leaf'; readonly entry: Entry; readonly level: number; readonly refs: number; readonly hfn: number }
  | { readonly kind: 'violation'; readonly refs: number; readonly level: number }
  | { readonly kind: 'misconfig'; readonly refs: number; readonly level: number; readonly tableHfn: number };

export interface EptTableInfo {
  readonly level: number;
  /** Host frame of the parent table and index in it; -1 for the root. */
  readonly parent: number;
  readonly index: number;
  /** First gfn this table covers. */
  readonly gfnBase: number;
}

export class Ept {
  readonly tables = new Map<number, EptTableInfo>();

  private constructor(
    readonly guest: number,
    readonly levels: 4 | 5,
    readonly root: number,
  ) {}

  static create(world: World, guest: number, levels: 4 | 5): Ept | Refusal {
    const root = allocTable(world, guest, levels);
    if (typeof root !== 'number') return root;
    const ept = new Ept(guest, levels, root);
    ept.tables.set(root, { level: levels, parent: -1, index: 0, gfnBase: 0 });
    return ept;
  }

  /**
   * The table object held by an EPT table frame, or null when the frame holds anything else
   * (freed or overwritten under the walk): lookup reports that as an EPT misconfiguration, the
   * exit a paging-structure entry with reserved or invalid bits gives (SDM 29.3.3.1).
   */
  table(world: World, hfn: number): PageTable | null {
    const c = world.frames.read(hfn);
    if (c.kind === 'table' && c.table.kind === 'ept') return c.table;
    return null;
  }

  /**
   * Hardware EPT walk for one gfn: one memory reference per level read, ending early at a
   * large-page leaf.
   */
  lookup(world: World, gfn: number): EptLookup {
    let hfn = this.root;
    let refs = 0;
    for (let level = this.levels; level >= 1; level--) {
      const t = this.table(world, hfn);
      refs++;
      if (!t) return { kind: 'misconfig', refs, level, tableHfn: hfn };
      const e = t.get(indexAt(gfn, level));
      if (!eptPresent(e)) return { kind: 'violation', refs, level };
      if (eptIsLeaf(e, level)) {
        const off = gfn % framesAtLevel(level);
        return { kind: 'leaf', entry: e, level, refs, hfn: e.pfn + off };
      }
      hfn = e.pfn;
    }
    /* c8 ignore next */
    throw new Error('unreachable: level 1 entries are leaves');
  }

  /**
   * Map [gfn, gfn + framesAtLevel(level)) to host frames starting at hfn with a leaf at
   * `level` (1: 4 KiB, 2: 2 MiB), allocating intermediate tables from the host. A large leaf
   * maps a naturally aligned range on both sides (SDM 29.3.2: the address bits below the
   * page size come from the guest-physical address), so gfn and hfn must be aligned to it.
   */
  mapLeaf(world: World, gfn: number, hfn: number, level: number, flags = EPT_RWX): true | Refusal {
    const frames = framesAtLevel(level);
    if (gfn % frames !== 0 || hfn % frames !== 0) return refuse('invalid', `EPT L${level} leaf gfn ${hex(gfn)} -> hfn ${hex(hfn)} is not aligned to ${frames} frames`);
    let tableHfn = this.root;
    for (let l = this.levels; l > level; l--) {
      const t = this.table(world, tableHfn)!;
      const idx = indexAt(gfn, l);
      const e = t.get(idx);
      if (eptPresent(e) && eptIsLeaf(e, l)) return refuse('overlap', `EPT leaf at L${l} covers gfn ${hex(gfn)}`);
      if (!eptPresent(e)) {
        const child = allocTable(world, this.guest, l - 1);
        if (typeof child !== 'number') return child;
        const span = framesAtLevel(l);
        this.tables.set(child, { level: l - 1, parent: tableHfn, index: idx, gfnBase: gfn - (gfn % span) });
        this.write(world, tableHfn, t, idx, eptTableEntry(child));
        tableHfn = child;
      } else {
        tableHfn = e.pfn;
      }
    }
    const t = this.table(world, tableHfn)!;
    const idx = indexAt(gfn, level);
    const old = t.get(idx);
    if (eptPresent(old)) {
      if (eptIsLeaf(old, level)) return refuse('overlap', `EPT leaf at L${level} already maps gfn ${hex(gfn)}`);
      // A huge leaf replaces a table that zaps left empty (KVM frees such child tables when
      // it installs a huge SPTE); a table still holding leaves would be orphaned, so refuse.
      const child = this.table(world, old.pfn);
      if (child && child.size > 0) return refuse('overlap', `EPT table under gfn ${hex(gfn)} still maps pages`);
      this.tables.delete(old.pfn);
      hostFree(world, old.pfn, 0);
    }
    this.write(world, tableHfn, t, idx, eptLeafEntry(hfn, level, flags));
    for (let i = 0; i < frames; i++) world.journal.gfn(this.guest, gfn + i);
    world.eptRmap.add(hfn, level, this.guest, gfn);
    return true;
  }

  /**
   * Zap the leaf that covers gfn, if any (kvm_unmap_gfn_range). Returns the gfn range the
   * zapped leaf covered, or null. Empty tables are kept (KVM frees them lazily).
   */
  zap(world: World, gfn: number): { gfn: number; frames: number } | null {
    let tableHfn = this.root;
    for (let l = this.levels; l >= 1; l--) {
      const t = this.table(world, tableHfn);
      if (!t) return null;
      const idx = indexAt(gfn, l);
      const e = t.get(idx);
      if (!eptPresent(e)) return null;
      if (eptIsLeaf(e, l)) {
        const span = framesAtLevel(l);
        const base = gfn - (gfn % span);
        this.write(world, tableHfn, t, idx, undefined);
        world.eptRmap.remove(e.pfn, l, this.guest, base);
        for (let i = 0; i < span; i++) world.journal.gfn(this.guest, base + i);
        return { gfn: base, frames: span };
      }
      tableHfn = e.pfn;
    }
    return null;
  }

  /** Every present leaf: [gfn base, level, entry], in tree order. */
  leaves(world: World): { gfn: number; level: number; entry: Entry }[] {
    const out: { gfn: number; level: number; entry: Entry }[] = [];
    const visit = (hfn: number, level: number, gfnBase: number): void => {
      const t = this.table(world, hfn);
      if (!t) return;
      for (const i of t.indexes()) {
        const e = t.get(i)!;
        if (!eptPresent(e)) continue;
        const g = gfnBase + i * framesAtLevel(level);
        if (eptIsLeaf(e, level)) out.push({ gfn: g, level, entry: e });
        else visit(e.pfn, level - 1, g);
      }
    };
    visit(this.root, this.levels, 0);
    return out;
  }

  /** Free every table (guest teardown). Leaves must already be zapped. */
  destroy(world: World): void {
    for (const hfn of [...this.tables.keys()]) hostFree(world, hfn, 0);
    this.tables.clear();
  }

  private write(world: World, hfn: number, t: PageTable, idx: number, e: Entry | undefined): void {
    t.set(idx, e);
    world.journal.eptTable(this.guest, hfn);
    world.journal.frame(hfn);
  }
}

function allocTable(world: World, guest: number, level: number): number | Refusal {
  const hfn = hostAlloc(world, 0, 'UNMOVABLE', () => ({ kind: 'ept-table', guest, level }), 'ept-table', `L${level}`);
  if (typeof hfn !== 'number') return hfn;
  // A fresh table frame is cleared before use (kvm_mmu_memory_cache: __GFP_ZERO).
  world.frames.clear(hfn, ZERO);
  world.frames.write(hfn, { kind: 'table', writer: -1, table: new PageTable('ept', level) });
  return hfn;
}
