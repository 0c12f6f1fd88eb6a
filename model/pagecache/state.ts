/**
 * State of the page caches: per guest, its page cache (pages of its files, each a guest frame
 * of owner 'page-cache'), its file LRU and its in-flight block I/O; per world, the virtual disks
 * (their medium and the host's page cache of each image) and the double-caching ledger.
 *
 * A page-cache page's cycle (mm/filemap.c, mm/page-writeback.c, mm/vmscan.c):
 *   absent -> clean (read from disk or cleancache) -> dirty (write(2), or a write through a
 *   mapping: the PTE dirty bit, moved to the page by mkclean/unmap) -> writeback (the write is
 *   in flight, the page is clean again) -> clean -> absent (evicted: reclaim, unmapped-page
 *   control, a crash drops it without writeback).
 * Orthogonally a page is mapped (some guest leaf points at its gfn: Guest.rmap) or unmapped.
 */
import type { Content } from '../content';
import type { Guest } from '../guest/guest';
import type { World } from '../world';
import { cacheModeOf, DISKS_PER_GUEST, type CacheMode } from './layout';

export interface CachePage {
  readonly file: number;
  readonly index: number;
  readonly gfn: number;
  /** PG_dirty (a dirty PTE counts too, until mkclean or unmap moves it here). */
  dirty: boolean;
  /** PG_writeback: a write of this page is in flight. */
  writeback: boolean;
}

/** Block I/O the guest submitted and the device has not completed (oldest first). */
export type IoRequest =
  | { readonly kind: 'writeback'; readonly file: number; readonly index: number; readonly gfn: number; readonly content: Content }
  | { readonly kind: 'swap-out'; readonly slot: number; readonly gfn: number };

export interface GuestCache {
  /** pageKey -> page. Insertion order is the inactive list's age (oldest first). */
  readonly pages: Map<number, CachePage>;
  readonly byGfn: Map<number, CachePage>;
  /** pageKeys on the active file list. */
  readonly active: Set<number>;
  /** PG_referenced of unmapped pages (mark_page_accessed). */
  readonly referenced: Set<number>;
  readonly io: IoRequest[];
}

export interface HostCachePage {
  readonly hfn: number;
  dirty: boolean;
}

export interface VirtualDisk {
  readonly guest: number;
  readonly disk: number;
  readonly mode: CacheMode;
  /** Durable contents by block (absent: never written, reads as zero: a sparse image). */
  readonly medium: Map<number, Content>;
  /** The host page cache of the image, by block; insertion order is the host's LRU. */
  readonly hostCache: Map<number, HostCachePage>;
}

export interface PageCacheWorld {
  /** [guest][disk]. */
  readonly disks: VirtualDisk[][];
  /**
   * The double-caching ledger: blockKeys whose block is held by a host page-cache frame while
   * the guest caches the same file page. Its size is the double-caching figure.
   */
  readonly doubleCached: Set<number>;
}

const guests = new WeakMap<Guest, GuestCache>();
const worlds = new WeakMap<World, PageCacheWorld>();

export function cacheOf(g: Guest): GuestCache {
  let c = guests.get(g);
  if (!c) guests.set(g, (c = { pages: new Map(), byGfn: new Map(), active: new Set(), referenced: new Set(), io: [] }));
  return c;
}

export function pcWorld(w: World): PageCacheWorld {
  let s = worlds.get(w);
  if (!s) {
    s = {
      disks: w.guests.map((g) => Array.from({ length: DISKS_PER_GUEST }, (_, d) => ({ guest: g.id, disk: d, mode: cacheModeOf(w, d), medium: new Map(), hostCache: new Map() }))),
      doubleCached: new Set(),
    };
    worlds.set(w, s);
  }
  return s;
}

export function diskState(w: World, guest: number, disk: number): VirtualDisk {
  return pcWorld(w).disks[guest]![disk]!;
}
