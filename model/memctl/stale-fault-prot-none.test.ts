/**
 * A split EPT fault (host.fault.begin resolves the frame, host.fault.finish installs the
 * leaf) with memctl MPROTECT_NONE in between, under the injected fault-ignores-invalidation-seq:
 * the fault no longer notices that the invalidation made it stale (KVM's
 * mmu_invalidate_retry_gfn / is_page_fault_stale check skipped), but the install still reads
 * the host protection (hva_to_pfn: a PROT_NONE VMA gives -EFAULT), so no leaf goes in and the
 * fault ends in sigbus: the seq check is not the only guard against mapping PROT_NONE memory.
 * (Without the injected fault the same sequence goes stale and retries: memctl/mprotect.test.ts.)
 */
import type { ModelConfig } from '../config';
import { Runner } from '../../fuzz/run';
import type { Operation } from '../../fuzz/contract';
import { memctlOf } from './memctl';

const guest = { frames: 2 ** 12, guestLevels: 4 as const, eptLevels: 4 as const, hugePages: false };
const REGION = 3072;
const o = (kind: string, args: Operation['args']): Operation => ({ kind, args });

test('fault-ignores-invalidation-seq: a fault resolved before MPROTECT_NONE is not retried, and its install refuses sigbus with no EPT leaf', () => {
  const errors: (string | undefined)[] = [];
  const c: ModelConfig = { hostFrames: 2 ** 14, guests: [guest], faults: ['fault-ignores-invalidation-seq'], options: { 'memctl.enabled': true } };
  const r = new Runner(c, { check: 'incremental', onStep: (_s, _op, res) => errors.push(res.ok ? undefined : res.error) });
  const g = r.world.guests[0]!;
  const broke: string[] = [];
  for (const op of [
    o('host.fault.begin', { guest: 0, gfn: REGION }),
    o('memctl.request', { guest: 0, func: 'MPROTECT_NONE', gfn: REGION, pages: 1 }),
    o('host.fault.finish', { guest: 0 }),
  ]) for (const v of r.apply(op)) broke.push(`${v.property}|${v.kind}`);
  expect(errors).toEqual([undefined, undefined, 'sigbus']);
  expect(broke).toEqual([]);
  expect(memctlOf(g)!.prot.get(REGION)).toBe('none');
  expect(g.ept.lookup(r.world, REGION).kind).not.toBe('leaf');
  expect(g.pendingFault).toBeFalsy();
  // The guest's own access to the page is refused the same way.
  r.apply(o('memctl.read', { guest: 0, gfn: REGION }));
  expect(errors[errors.length - 1]).toBe('sigbus');
  expect(r.violation).toBeNull();
  expect(r.finish()).toBeNull();
});
