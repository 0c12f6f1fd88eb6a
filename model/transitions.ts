/**
 * The transition table of each mechanism's state machines, as declared here; world.transition
 * counts the ones taken, so campaigns can report a transition never exercised.
 *
 * nested-mmu, a guest frame: unbacked -> backed(-2m) -> reclaiming -> swapped -> backed; a
 * backed frame may be migrated; an EPT fault is installed or retried; an invalidation goes
 * idle -> invalidating -> idle; a page is unmapped -> mapped(-4k/-2m) -> unmapped; a process
 * exists or not.
 */
export const declaredTransitions: Readonly<Record<string, readonly string[]>> = {
  'nested-mmu': [
    'unbacked->backed', 'unbacked->backed-2m', 'backed->reclaiming', 'reclaiming->swapped', 'swapped->backed',
    'backed->migrated', 'idle->fault', 'fault->installed', 'fault->retry', 'idle->invalidating', 'invalidating->idle',
    'unmapped->mapped-4k', 'unmapped->mapped-2m', 'mapped->unmapped', 'no-process->process', 'process->no-process',
  ],
};
