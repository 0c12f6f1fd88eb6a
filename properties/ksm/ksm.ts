/**
 * Properties of KSM (mm/ksm.c), per stable node:
 * - ksm-merged-read-only: no EPT leaf and no TLB entry that reaches a KSM page grants write;
 * - ksm-cow-isolation: a KSM page keeps the contents its sharers merged with (a write goes to
 *   the writer's private copy; no other sharer sees it);
 * - ksm-opt-in: every sharer lies in its guest's MADV_MERGEABLE ranges, and with cross-guest
 *   merging off no node has sharers from two guests.
 * Incrementally: the nodes the step touched (journal marks "ksm:node", their frames), the gfns
 * whose EPT leaf changed, and the TLB entries the step used; in full: every node.
 */
import { EPT_WRITE } from '../../model/constants';
import { describeContent, sameContent } from '../../model/content';
import { isMergeable, ksmState, sharerOf, type StableNode } from '../../model/ksm/ksm';
import type { World } from '../../model/world';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';

const RO = 'ksm-merged-read-only';
const COW = 'ksm-cow-isolation';
const OPT = 'ksm-opt-in';

/** Nodes this step may have changed. */
function touched(ctx: StepContext): StableNode[] {
  const w = ctx.world;
  const s = ksmState(w);
  const ids = new Set<number>(ctx.journal.marks.get('ksm:node') ?? []);
  for (const hfn of ctx.journal.frames) {
    const id = s.byHfn.get(hfn);
    if (id !== undefined) ids.add(id);
  }
  for (const [gid, gfns] of ctx.journal.gfns) {
    const g = w.guests[gid]!;
    for (const gfn of gfns) {
      const hfn = g.backing.get(gfn);
      const id = hfn === undefined ? undefined : s.byHfn.get(hfn);
      if (id !== undefined) ids.add(id);
    }
  }
  for (const h of ctx.journal.tlbHits) {
    const g = w.guests[h.guest]!;
    const e = w.tlb.lookup(g.vpid, h.pid, g.ept.root, h.vpn);
    const id = e ? s.byHfn.get(e.hfnBase + (h.vpn - e.vpnBase)) : undefined;
    if (id !== undefined) ids.add(id);
  }
  const out: StableNode[] = [];
  for (const id of ids) {
    const n = s.nodes.get(id);
    if (n) out.push(n);
  }
  return out;
}

function checkReadOnly(w: World, n: StableNode, r: Reporter): void {
  for (const hit of w.eptRmap.reaching(n.hfn)) {
    const g = w.guests[hit.owner]!;
    const l = g.ept.lookup(w, hit.source);
    if (l.kind === 'leaf' && l.hfn === n.hfn && (l.entry.flags & EPT_WRITE) !== 0)
      r.report({ property: RO, kind: 'writable-merged-page', subject: `g${g.id} gfn ${hex(hit.source)} -> KSM hfn ${hex(n.hfn)}`, message: 'a merged page is mapped writable', expected: 'EPT leaf without W', actual: 'EPT leaf with W' });
  }
  for (const e of w.tlb.coveringHost(n.hfn))
    if (e.writable)
      r.report({ property: RO, kind: 'writable-tlb-entry', subject: `vpid ${e.vpid} va ${hex(e.vpnBase * 4096)} -> KSM hfn ${hex(n.hfn)}`, message: 'a TLB entry lets a write reach a merged page', expected: 'read-only', actual: 'writable' });
}

function checkContents(w: World, n: StableNode, r: Reporter): void {
  const c = w.frames.read(n.hfn);
  if (!sameContent(c, n.content))
    r.report({ property: COW, kind: 'shared-page-written', subject: `KSM hfn ${hex(n.hfn)} (node ${n.id}, ${n.sharers.size} sharers)`, message: 'a write reached the page every sharer reads instead of a private copy', expected: describeContent(n.content), actual: describeContent(c) });
}

function checkOptIn(w: World, n: StableNode, r: Reporter): void {
  const guests = new Set<number>();
  for (const key of n.sharers) {
    const x = sharerOf(key);
    guests.add(x.guest);
    if (!isMergeable(w, x.guest, x.gfn))
      r.report({ property: OPT, kind: 'not-opted-in', subject: `g${x.guest} gfn ${hex(x.gfn)} in KSM node ${n.id}`, message: 'a page outside the guest\'s MADV_MERGEABLE ranges is merged', expected: 'mergeable', actual: 'not mergeable' });
  }
  if (guests.size > 1 && !w.option('ksm.cross-guest', true))
    r.report({ property: OPT, kind: 'cross-guest-disabled', subject: `KSM node ${n.id}`, message: 'a page is shared across guests although cross-guest merging is off', expected: 'one guest', actual: [...guests].map((g) => `g${g}`).join(', ') });
}

function all(w: World): StableNode[] {
  return [...ksmState(w).nodes.values()];
}

export const ksmMergedReadOnly: Property = {
  name: RO,
  mechanism: 'ksm',
  kind: 'safety',
  description: 'a merged page is mapped read-only everywhere (EPT and TLB)',
  checkStep: (ctx, r) => { for (const n of touched(ctx)) checkReadOnly(ctx.world, n, r); },
  checkAll: (ctx, r) => { for (const n of all(ctx.world)) checkReadOnly(ctx.world, n, r); },
};

export const ksmCowIsolation: Property = {
  name: COW,
  mechanism: 'ksm',
  kind: 'safety',
  description: 'after a write the writer has a private copy and no other sharer sees the change',
  checkStep: (ctx, r) => { for (const n of touched(ctx)) checkContents(ctx.world, n, r); },
  checkAll: (ctx, r) => { for (const n of all(ctx.world)) checkContents(ctx.world, n, r); },
};

export const ksmOptIn: Property = {
  name: OPT,
  mechanism: 'ksm',
  kind: 'safety',
  description: 'merging never crosses a guest that did not opt in (MADV_MERGEABLE), nor guests when cross-guest merging is off',
  checkStep: (ctx, r) => { for (const n of touched(ctx)) checkOptIn(ctx.world, n, r); },
  checkAll: (ctx, r) => { for (const n of all(ctx.world)) checkOptIn(ctx.world, n, r); },
};
