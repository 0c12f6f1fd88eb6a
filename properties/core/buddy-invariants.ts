/**
 * buddy-invariants over every allocator in the world (host and each guest kernel): the
 * predicates of properties/buddy.ts, incrementally over the pfns each allocator reports dirty.
 */
import type { BuddyAllocator } from '../../model/buddy/buddy';
import type { World } from '../../model/world';
import { BUDDY_PROPERTY, checkBuddyFull, checkBuddyIncremental } from '../buddy';
import type { Property } from '../property';

function allocators(w: World): BuddyAllocator[] {
  return [w.hostBuddy, ...w.guests.map((g) => g.buddy)];
}

export const buddyInvariants: Property = {
  name: BUDDY_PROPERTY,
  mechanism: 'buddy',
  kind: 'safety',
  description: 'free blocks disjoint, aligned, fully merged, counted, never merged across isolation',
  checkStep({ world: w }, r) {
    for (const b of allocators(w)) checkBuddyIncremental(b, b.takeDirty(), r);
  },
  checkAll({ world: w }, r) {
    for (const b of allocators(w)) {
      b.takeDirty();
      checkBuddyFull(b, r);
    }
  },
};
