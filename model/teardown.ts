/**
 * VM teardown (virt/kvm/kvm_main.c kvm_destroy_vm; the guest's memory returned with the
 * process that held it): every process exits, kernel allocations are freed, pending
 * protocols end, the EPT is zapped and its tables freed, and every backing frame goes back to
 * the host. Used by the settle phase to check that nothing leaked.
 */
import { FRAMES_PER_2M } from './constants';
import { exit, kfree } from './guest/kernel';
import type { Guest } from './guest/guest';
import { hostFree } from './host/alloc';
import { invalidateEnd, invalidateMark } from './mmu/notifier';
import type { World } from './world';

export function destroyGuest(world: World, g: Guest): void {
  // Mechanisms release what they share first (KSM pages mapped by several guests).
  for (const h of g.teardownHooks) h(world, g);
  for (const p of [...g.processes.values()]) exit(world, g, p);
  for (const id of [...g.kernelAllocs.keys()]) kfree(world, g, id);
  // invalidate_range_start over the whole guest: zap what the EPT holds (walking its leaves,
  // not every gfn of the space), then flush.
  invalidateMark(world, g, 0, Math.max(g.config.frames, ...g.windows.map((x) => x.end)));
  for (const leaf of g.ept.leaves(world)) g.ept.zap(world, leaf.gfn);
  world.tlb.inveptSingle(g.ept.root);
  const freed = new Set<number>();
  for (const [gfn, hfn] of [...g.backing]) {
    const unit = Math.floor(gfn / FRAMES_PER_2M);
    g.setBacking(gfn, undefined);
    if (g.hugeBacked.has(unit)) {
      if (gfn % FRAMES_PER_2M === 0 && !freed.has(hfn)) {
        freed.add(hfn);
        hostFree(world, hfn, 9);
      }
    } else hostFree(world, hfn, 0);
  }
  g.hugeBacked.clear();
  g.hostSwap.clear();
  invalidateEnd(world, g);
  g.ept.destroy(world);
}

export function destroyAll(world: World): void {
  for (const g of world.guests) destroyGuest(world, g);
  for (const [id, a] of [...world.hostAllocs]) {
    world.hostAllocs.delete(id);
    hostFree(world, a.hfn, a.order);
  }
}
