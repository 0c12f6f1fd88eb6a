/**
 * The guest kernel's initialisation of free pages, which the balloon's PAGE_POISON and
 * free page reporting must respect (Linux mm/page_poison.c, mm/page_alloc.c):
 * - 'poison' (page_poisoning=on): free_pages_prepare -> kernel_poison_pages fills every freed
 *   page with PAGE_POISON (0xaa, include/linux/poison.h); post_alloc_hook ->
 *   kernel_unpoison_pages -> check_poison_mem reports "pagealloc: memory corruption" when a
 *   page comes out of the allocator without its poison.
 * - 'init-on-free' (init_on_free=1): freed pages are zeroed (poison_val 0 for the balloon).
 * - 'off': freed pages keep whatever they held.
 *
 * Chosen per run by the swarm ("virtio-balloon.guest-poison"). A detected corruption is data
 * (the property free-page-poison-intact reports it), never a throw.
 *
 * Assumption: only pages freed while the model runs are poisoned; the boot-time free memory is
 * not written (it would back every guest frame at once), so only pages this module poisoned
 * are checked on allocation.
 */
import { poison, ZERO, type Content } from '../content';
import type { Guest } from '../guest/guest';
import { physWrite } from '../guest/phys';
import { peekGuestPhysical } from '../mmu/peek';
import type { World } from '../world';

/** include/linux/poison.h PAGE_POISON. */
export const PAGE_POISON = 0xaa;
/** The 32-bit poison_val the driver writes (virtballoon_probe: memset(&poison_val, PAGE_POISON, 4)). */
export const PAGE_POISON_VAL32 = 0xaaaaaaaa;

export type PoisonMode = 'off' | 'poison' | 'init-on-free';
export const POISON_MODES: readonly PoisonMode[] = ['off', 'poison', 'init-on-free'];
export const POISON_OPTION = 'virtio-balloon.guest-poison';

export interface PoisonCorruption {
  readonly gfn: number;
  readonly found: Content;
  readonly step: number;
}

interface PoisonState {
  readonly mode: PoisonMode;
  /** Pages this module poisoned and nobody has allocated since. */
  readonly poisoned: Set<number>;
  readonly corruptions: PoisonCorruption[];
}

/** Journal mark key: ids are guest ids with a new corruption this step. */
export const POISON_MARK = 'page-poison';

const states = new WeakMap<Guest, PoisonState>();

export function poisonMode(g: Guest): PoisonMode {
  return states.get(g)?.mode ?? 'off';
}

/** want_init_on_free() || page_poisoning_enabled_static(). */
export function guestInitialisesFreePages(g: Guest): boolean {
  return poisonMode(g) !== 'off';
}

export function poisonCorruptions(g: Guest): readonly PoisonCorruption[] {
  return states.get(g)?.corruptions ?? [];
}

/** The allocation-side check, for allocations that bypass guestAlloc (drivers' own alloc_page). */
export function checkPoisonOnAlloc(world: World, g: Guest, gfn: number, order: number): void {
  // Every guest has a state (initPagePoison), and only 'poison' mode remembers pages
  // (poisonOnFree), so in the other modes the loop finds nothing to check.
  const s = states.get(g)!;
  for (let i = 0; i < 2 ** order; i++) {
    if (!s.poisoned.delete(gfn + i)) continue;
    // check_poison_mem reads the page; the model peeks (a discarded page reads as zero either
    // way) so that the allocator's own check is not taken for a use by the page's new owner.
    const c = peekGuestPhysical(world, g, gfn + i);
    if (c.kind !== 'poison' || c.value !== PAGE_POISON) {
      s.corruptions.push({ gfn: gfn + i, found: c, step: world.step });
      world.journal.mark(POISON_MARK, g.id);
    }
  }
}

function poisonOnFree(world: World, g: Guest, gfn: number, order: number): void {
  const s = states.get(g)!;
  const c = s.mode === 'poison' ? poison(PAGE_POISON) : ZERO;
  for (let i = 0; i < 2 ** order; i++) {
    // A write the model could not make (the host was invalidating the range, so the kernel's
    // store would have waited) leaves the page's contents unknown: nothing is expected of it,
    // and an earlier poisoning (before a virtio-mem unplug discarded it) no longer holds.
    if (physWrite(world, g, gfn + i, c) !== true) {
      s.poisoned.delete(gfn + i);
      continue;
    }
    if (s.mode === 'poison') s.poisoned.add(gfn + i);
    else g.zeroings++;
  }
}

/** Once per world: set each guest's mode and register the allocator hooks. */
export function initPagePoison(world: World): void {
  const mode = world.option<string>(POISON_OPTION, 'off') as PoisonMode;
  for (const g of world.guests) {
    if (states.has(g)) continue;
    states.set(g, { mode, poisoned: new Set(), corruptions: [] });
    if (mode === 'off') continue;
    g.freeHooks.push({ prepare: poisonOnFree });
    g.allocHooks.push(checkPoisonOnAlloc);
  }
}
