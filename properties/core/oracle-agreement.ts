/**
 * oracle-agreement (style.md 6; pKVM's abstraction function): the concrete state, read back
 * through the guest page tables and the host's primary mapping, equals the abstract oracle's:
 * every page the guest maps lies in a VMA that allows what the mapping grants, every page
 * written is still mapped or reachable with its last write, and accesses succeed or fault
 * exactly when the oracle says. A mismatch is reported as a field-by-field diff.
 */
import { describeContent } from '../../model/content';
import { pagedOut } from '../../model/guest/leaf';
import { describeExpected, meets } from '../oracle';
import { forEachLeaf, peekGuestPhysical, peekLeaf } from '../../model/mmu/peek';
import type { World } from '../../model/world';
import { nodeOfFrame, sharerOf } from '../../model/ksm/ksm';
import type { Oracle } from '../oracle';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const NAME = 'oracle-agreement';

/** A structural diff: only the fields that differ, side by side. */
function diff(fields: [string, string, string][]): { expected: string; actual: string } {
  return { expected: fields.map(([k, e]) => `${k}=${e}`).join(' '), actual: fields.map(([k, , a]) => `${k}=${a}`).join(' ') };
}

function checkPage(w: World, o: Oracle, guest: number, pid: number, vpn: number, r: Reporter): void {
  const g = w.guests[guest]!;
  const p = g.processes.get(pid);
  const ap = o.process(guest, pid);
  const subject = (): string => `g${guest} pid ${pid} va ${hex(vpn * 4096)}`;
  if (!p || !ap) {
    if (!!p !== !!ap) r.report({ property: NAME, kind: 'process-mismatch', subject: `g${guest} pid ${pid}`, message: 'the process exists on one side only', expected: ap ? 'exists' : 'gone', actual: p ? 'exists' : 'gone' });
    return;
  }
  const leaf = peekLeaf(w, g, p, vpn);
  const vma = o.vmaAt(guest, pid, vpn);
  const expected = o.expected(guest, pid, vpn);
  if (leaf) {
    const actual = peekGuestPhysical(w, g, leaf.gfn);
    const fields: [string, string, string][] = [];
    if (!vma) fields.push(['mapped', 'no', 'yes']);
    else {
      if (leaf.writable && !vma.write) fields.push(['writable', 'no', 'yes']);
      if (!leaf.nx && !vma.exec) fields.push(['exec', 'no', 'yes']);
    }
    if (!meets(expected, actual)) fields.push(['content', describeExpected(expected), describeContent(actual)]);
    if (fields.length > 0) {
      const kind = fields[0]![0] === 'mapped' ? 'unexpected-mapping' : fields[0]![0] === 'content' ? 'content-mismatch' : 'excess-permission';
      r.report({ property: NAME, kind, subject: subject(), message: 'the concrete page differs from the oracle', ...diff(fields) });
    }
  } else if (expected.kind === 'data' || expected.kind === 'poison') {
    // Not present: a mechanism may keep it elsewhere (a guest swap slot) until the next fault.
    const away = pagedOut(w, g, pid, vpn);
    if (away === undefined) r.report({ property: NAME, kind: 'lost-page', subject: subject(), message: 'a written page is no longer mapped', expected: describeExpected(expected), actual: 'not mapped' });
    else if (!meets(expected, away)) r.report({ property: NAME, kind: 'content-mismatch', subject: subject(), message: 'a paged-out page no longer holds what was written', expected: `content=${describeExpected(expected)}`, actual: `content=${describeContent(away)} (paged out)` });
  }
}

function checkAccess({ oracle: o, op, result }: StepContext, r: Reporter): void {
  if (!op || !result || (op.kind !== 'guest.read' && op.kind !== 'guest.write')) return;
  const a = op.args;
  const allowed = o.allows(a.guest as number, a.pid as number, a.vpn as number, op.kind === 'guest.write');
  const processExists = o.process(a.guest as number, a.pid as number) !== undefined;
  if (!processExists) return;
  const subject = (): string => `g${String(a.guest)} pid ${String(a.pid)} va ${hex((a.vpn as number) * 4096)}`;
  if (!allowed && result.ok)
    r.report({ property: NAME, kind: 'protection-bypassed', subject: subject(), message: `a ${op.kind} the oracle forbids succeeded`, expected: 'segv', actual: 'ok' });
  if (allowed && !result.ok && result.error === 'segv')
    r.report({ property: NAME, kind: 'spurious-segv', subject: subject(), message: `a ${op.kind} the oracle allows faulted`, expected: 'ok', actual: `segv (${result.detail})` });
}

/**
 * A 1 GiB leaf inside an opaque VMA (memctl's 1 GiB mapping) reads UNSPECIFIED on all its
 * 262,144 pages, with one permission: its first page in range stands for the rest, so a step
 * that touches the mapping does not visit every page of it.
 */
function opaqueGiant(o: Oracle, guest: number, pid: number): (level: number, vpn: number) => boolean {
  return (level, vpn) => level >= 3 && o.vmaAt(guest, pid, vpn)?.opaque === true;
}

export const oracleAgreement: Property = {
  name: NAME,
  mechanism: 'nested-mmu',
  kind: 'safety',
  description: 'the concrete mappings and contents equal the abstract oracle (per-process page map)',
  checkStep(ctx, r) {
    const { world: w, journal: j, oracle: o } = ctx;
    checkAccess(ctx, r);
    const seen = new Set<string>();
    const visit = (guest: number, pid: number, vpn: number): void => {
      const k = `${guest}:${pid}:${vpn}`;
      if (seen.has(k)) return;
      seen.add(k);
      checkPage(w, o, guest, pid, vpn, r);
    };
    for (const rg of j.ranges) {
      const ap = o.process(rg.guest, rg.pid);
      const p = w.guests[rg.guest]!.processes.get(rg.pid);
      if (!ap || !p) {
        checkPage(w, o, rg.guest, rg.pid, rg.vpnStart, r);
        continue;
      }
      for (const vpn of ap.memory.keys()) if (vpn >= rg.vpnStart && vpn < rg.vpnEnd) visit(rg.guest, rg.pid, vpn);
      forEachLeaf(w, w.guests[rg.guest]!, p, rg.vpnStart, rg.vpnEnd, (vpn) => visit(rg.guest, rg.pid, vpn), opaqueGiant(o, rg.guest, rg.pid));
    }
    for (const [gid, gfns] of j.gfns) {
      const g = w.guests[gid]!;
      for (const gfn of gfns) for (const hit of g.rmap.reaching(gfn)) visit(gid, hit.owner, hit.source);
    }
    // A KSM page is read by every gfn its stable node lists: a change to it reaches them all.
    for (const hfn of j.frames) {
      if (w.frames.owner(hfn)?.kind !== 'ksm') continue;
      for (const key of nodeOfFrame(w, hfn)?.sharers ?? []) {
        const x = sharerOf(key);
        for (const hit of w.guests[x.guest]!.rmap.reaching(x.gfn)) visit(x.guest, hit.owner, hit.source);
      }
    }
  },
  checkAll(ctx, r) {
    const { world: w, oracle: o } = ctx;
    checkAccess(ctx, r);
    for (const g of w.guests) {
      const pids = new Set([...g.processes.keys(), ...(o.processes.get(g.id)?.keys() ?? [])]);
      for (const pid of [...pids].sort((a, b) => a - b)) {
        const ap = o.process(g.id, pid);
        const p = g.processes.get(pid);
        if (!ap || !p) {
          checkPage(w, o, g.id, pid, 0, r);
          continue;
        }
        const vpns = new Set<number>(ap.memory.keys());
        forEachLeaf(w, g, p, 0, Number.MAX_SAFE_INTEGER, (vpn) => vpns.add(vpn), opaqueGiant(o, g.id, pid));
        for (const vpn of vpns) checkPage(w, o, g.id, pid, vpn, r);
      }
    }
  },
};
