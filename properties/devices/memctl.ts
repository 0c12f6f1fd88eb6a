/**
 * memctl (pvmemcontrol; the memctl seed article):
 * - memctl-zeroed-once: each frame handed to the guest through memctl is zeroed exactly once
 *   before the guest first touches it (zero times leaks the frame's old contents; twice is the
 *   waste memctl exists to remove). Counted per gfn: the host's clears while the frame backed
 *   it (HostFrames.clearsOf) and the guest's.
 * - memctl-confined: a request acts only inside the calling guest's memory.
 * - memctl-mlock-respected: MLOCKed memory is never paged out.
 */
import type { Guest } from '../../model/guest/guest';
import { DISCARD_MARK, discardLog } from '../../model/devices/discard';
import { memctlOf, memctlRequests, REQUEST_MARK, touchMark } from '../../model/memctl/memctl';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

function checkTouches({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const g of w.guests) {
    const m = memctlOf(g);
    const ids = j.marks.get(touchMark(g));
    if (!m || !ids) continue;
    for (const id of ids) {
      const t = m.firstTouches[id]!;
      const n = t.host + t.guest;
      if (n !== 1)
        r.report({ property: 'memctl-zeroed-once', kind: n === 0 ? 'never-zeroed' : 'zeroed-more-than-once', subject: `g${g.id} gfn ${hex(t.gfn)}`, message: 'a frame handed over by memctl was not zeroed exactly once before its first touch', expected: '1 zeroing', actual: `${t.host} by the host + ${t.guest} by the guest` });
    }
  }
}

export const memctlZeroedOnce: Property = {
  name: 'memctl-zeroed-once',
  mechanism: 'memctl',
  kind: 'safety',
  description: 'each frame handed to the guest through memctl is zeroed exactly once before its first touch',
  checkStep: checkTouches,
  checkAll: checkTouches,
};

function checkConfined({ world: w, journal: j }: StepContext, r: Reporter): void {
  const reqs = memctlRequests(w);
  for (const id of j.marks.get(REQUEST_MARK) ?? []) {
    const q = reqs[id]!;
    if (q.target !== q.caller)
      r.report({ property: 'memctl-confined', kind: 'touched-other-guest', subject: `g${q.caller} memctl ${q.func}`, message: "a memctl request acted on another guest's memory", expected: `only g${q.caller}`, actual: `g${q.target} gfn ${hex(q.start)}..${hex(q.end)}` });
  }
  const log = discardLog(w);
  for (const id of j.marks.get(DISCARD_MARK) ?? []) {
    const e = log[id]!;
    if (e.device === 'memctl' && e.guest !== e.caller)
      r.report({ property: 'memctl-confined', kind: 'touched-other-guest', subject: `g${e.caller} memctl discard`, message: "a memctl request discarded another guest's memory", expected: `only g${e.caller}`, actual: `g${e.guest} gfn ${hex(e.gfn)}` });
  }
}

export const memctlConfined: Property = {
  name: 'memctl-confined',
  mechanism: 'memctl',
  kind: 'safety',
  description: "a memctl request never touches another guest's memory",
  checkStep: checkConfined,
  checkAll: checkConfined,
};

function checkLocked(g: Guest, gfn: number, r: Reporter): void {
  if (memctlOf(g)?.mlocked.has(gfn) && g.hostSwap.has(gfn))
    r.report({ property: 'memctl-mlock-respected', kind: 'mlocked-paged-out', subject: `g${g.id} gfn ${hex(gfn)}`, message: 'MLOCKed memory was paged out', expected: 'resident', actual: 'swapped out' });
}

export const memctlMlockRespected: Property = {
  name: 'memctl-mlock-respected',
  mechanism: 'memctl',
  kind: 'safety',
  description: 'MLOCKed ranges are never paged out',
  checkStep({ world: w, journal: j }, r) {
    for (const [gid, gfns] of j.gfns) {
      const g = w.guests[gid]!;
      if (!memctlOf(g)) continue;
      for (const gfn of gfns) checkLocked(g, gfn, r);
    }
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) for (const gfn of memctlOf(g)?.mlocked ?? []) checkLocked(g, gfn, r);
  },
};
