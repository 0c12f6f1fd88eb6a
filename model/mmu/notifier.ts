/**
 * The host's invalidation protocol for guest memory: KVM's mmu-notifier handling
 * (include/linux/mmu_notifier.h; virt/kvm/kvm_main.c kvm_mmu_notifier_invalidate_range_start
 * -> kvm_mmu_invalidate_begin, kvm_unmap_gfn_range, kvm_flush_remote_tlbs; ..._range_end ->
 * kvm_mmu_invalidate_end). The host may change or free a frame that backs a guest only
 * between begin and end: begin zaps the EPT leaves of the range and flushes the TLBs; end
 * bumps the sequence count so that a fault that resolved its frame before the change sees
 * itself stale and retries (arch/x86/kvm/mmu/mmu.c is_page_fault_stale).
 */
import type { Guest } from '../guest/guest';
import type { World } from '../world';
import { hex } from '../../properties/violation';

/** Bookkeeping half of invalidate_begin: count and range, no zap. */
export function invalidateMark(world: World, g: Guest, start: number, end: number): void {
  const s = g.invalidation;
  if (s.inProgress === 0) {
    s.rangeStart = start;
    s.rangeEnd = end;
  } else {
    s.rangeStart = Math.min(s.rangeStart, start);
    s.rangeEnd = Math.max(s.rangeEnd, end);
  }
  s.inProgress++;
  world.journal.guests.add(g.id);
  world.transition('nested-mmu', 'idle', 'invalidating');
}

/** Zap the EPT leaves covering [start, end) and flush what the EPT root produced. */
export function zapAndFlush(world: World, g: Guest, start: number, end: number): void {
  for (let gfn = start; gfn < end; ) {
    const z = g.ept.zap(world, gfn);
    if (z) world.journal.note(() => `g${g.id} EPT: zap gfn ${hex(z.gfn)} (+${z.frames})`);
    // A zapped leaf covers gfn, so its end is past gfn: the walk always moves forward.
    gfn = z ? z.gfn + z.frames : gfn + 1;
  }
  world.tlb.inveptSingle(g.ept.root);
}

export function invalidateBegin(world: World, g: Guest, start: number, end: number): void {
  invalidateMark(world, g, start, end);
  zapAndFlush(world, g, start, end);
}

export function invalidateEnd(world: World, g: Guest): void {
  const s = g.invalidation;
  s.seq++;
  s.inProgress--;
  if (s.inProgress === 0) {
    s.rangeStart = 0;
    s.rangeEnd = 0;
  }
  world.journal.guests.add(g.id);
  world.transition('nested-mmu', 'invalidating', 'idle');
}
