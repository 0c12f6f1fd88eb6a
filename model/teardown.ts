/**
 * VM teardown (virt/kvm/kvm_main.c kvm_destroy_vm; the guest's memory returned with the
 * process that held it). The guest kernel never runs again, so its processes and allocations
 * are not undone one by one: mechanisms let go of what they share, the EPT is zapped and its
 * tables freed, and every backing frame goes back to the host. Used by the settle phase to
 * check that nothing leaked.
 */
import { FRAMES_PER_2M } from './constants';
import type { Guest } from './guest/guest';
import { hostFree } from './host/alloc';
import { invalidateEnd, invalidateMark } from './mmu/notifier';
import type { World } from './world';

export function destroyGuest(world: World, g: Guest): void {
  // Mechanisms release what they share first (KSM pages mapped by several guests).
  for (const h of g.teardownHooks) h(world, g);
  // The whole guest-physical space is invalidated (kvm_mmu_notifier_release ->
  // kvm_flush_shadow_all): zap what the EPT holds (walking its leaves), then flush.
  invalidateMark(world, g, 0, Infinity);
  for (const leaf of g.ept.leaves(world)) g.ept.zap(world, leaf.gfn);
  world.tlb.inveptSingle(g.ept.root);
  // A 2 MiB unit's backing is its block's frames in order: its first gfn holds the block head.
  for (const [gfn, hfn] of [...g.backing]) {
    g.setBacking(gfn, undefined);
    if (!g.hugeBacked.has(Math.floor(gfn / FRAMES_PER_2M))) hostFree(world, hfn, 0);
    else if (gfn % FRAMES_PER_2M === 0) hostFree(world, hfn, 9);
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
