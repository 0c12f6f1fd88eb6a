/**
 * read-returns-last-write (domain.md section 10.3): every read a guest performs returns what
 * the abstract oracle says was last written there (zero if never written).
 */
import { describeContent } from '../../model/content';
import { describeExpected, meets } from '../oracle';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'read-returns-last-write';

function check({ journal: j, oracle: o }: StepContext, r: Reporter): void {
  for (const rd of j.reads) {
    const kernel = rd.vpn < 0;
    const expected = kernel ? o.expectedKernel(rd.guest, -rd.vpn) : o.expected(rd.guest, rd.pid, rd.vpn);
    if (expected === undefined || meets(expected, rd.got)) continue;
    const subject = kernel ? `g${rd.guest} kernel alloc #${-rd.vpn}` : `g${rd.guest} pid ${rd.pid} va ${hex(rd.vpn * 4096)}`;
    r.report({ property: NAME, kind: 'wrong-read', subject, message: 'a read did not return the last write', expected: describeExpected(expected), actual: describeContent(rd.got) });
  }
}

export const readReturnsLastWrite: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: 'every read returns the last write to that address',
  checkStep: check,
  checkAll: check,
};
