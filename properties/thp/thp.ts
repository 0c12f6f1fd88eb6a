/**
 * Properties of transparent huge pages, judged on the ghost images every split and collapse
 * records (model/thp/state.ts) and on the walks of the step:
 * - thp-translation-equivalent: a split maps every page to the same frame, contents and
 *   permissions as before; a collapse maps every page of the range, each with the contents it
 *   had (a page that was none or the zero page reads zero: a collapse never resurrects what
 *   MADV_DONTNEED, the balloon or reporting discarded) and the VMA's permissions; the host's
 *   split and collapse leave every gfn's contents as they were.
 * - thp-collapse-stays-in-bounds: a collapse copies only from this process's own pages at the
 *   same addresses (guest), or from the frames backing this guest's own gfns (host), and never
 *   populates a unit holding a barrier (an unplugged virtio-mem block, discarded memory).
 * - thp-walk-cost: a walk that reaches a 2 MiB guest page ends at the PMD (the guest walk is one
 *   level shorter: (g)(h+1)-1 references with 4 KiB host pages instead of (g+1)(h+1)-1);
 *   the host side of the figure is walk-cost's.
 * - thp-zero-page-intact: the zero pages read zero, always.
 */
import { describeContent, sameContent, ZERO } from '../../model/content';
import { thpState, type ThpChange } from '../../model/thp/state';
import { describeGuestOwner } from '../../model/guest/guest';
import { describeOwner } from '../../model/host/frames';
import { peekGuestPhysical } from '../../model/mmu/peek';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';
import type { World } from '../../model/world';
import { nodeOfFrame, sharerOf } from '../../model/ksm/ksm';

function changes(ctx: StepContext): ThpChange[] {
  const ids = ctx.journal.marks.get('thp:change');
  if (!ids) return [];
  const s = thpState(ctx.world).changes;
  return [...ids].map((id) => s.get(id)).filter((c): c is ThpChange => c !== undefined);
}

function where(c: ThpChange, at: number): string {
  return c.kind === 'split' || c.kind === 'collapse' ? `g${c.guest} pid ${c.pid} va ${hex(at * 4096)} (${c.kind})` : `g${c.guest} gfn ${hex(at)} (${c.kind})`;
}

const EQUIV = 'thp-translation-equivalent';

interface Finding {
  readonly kind: string;
  readonly at: number;
  readonly message: string;
  readonly expected: string;
  readonly actual: string;
}

/** The first difference of one page, or null. */
function comparePage(c: ThpChange, i: number): Finding | null {
  const a = c.pre[i]!;
  const b = c.post[i];
  if (!b) return null;
  const at = a.at;
  const wasData = a.present && !a.zero;
  if (c.kind === 'collapse' && !b.present) return { kind: 'mapping-lost', at, message: 'a collapse left a page of the range unmapped', expected: 'mapped by the huge page', actual: 'not mapped' };
  if (c.kind === 'split' && a.present !== b.present)
    return { kind: 'mapping-lost', at, message: 'a split changed whether a page is mapped', expected: a.present ? 'mapped' : 'not mapped', actual: b.present ? 'mapped' : 'not mapped' };
  if (!b.present) return null;
  const resurrected = (c.kind === 'collapse' && !wasData) || (c.kind === 'host-collapse' && sameContent(a.content, ZERO));
  if (resurrected && !sameContent(b.content, ZERO))
    return { kind: 'resurrected-content', at, message: 'a page that was empty (or the zero page) reads old data after the collapse', expected: 'zero', actual: describeContent(b.content) };
  if ((wasData || c.kind !== 'collapse') && !sameContent(a.content, b.content))
    return { kind: 'content-changed', at, message: 'the page reads differently after the change', expected: describeContent(a.content), actual: describeContent(b.content) };
  // A split keeps frame and permission; the huge zero page becomes the 4 KiB zero page.
  if (c.kind === 'split' && (a.writable !== b.writable || (a.gfn !== b.gfn && !(a.zero && b.zero))))
    return { kind: 'translation-changed', at, message: 'a split changed the frame or the permission of a page', expected: `gfn ${hex(a.gfn)}${a.writable ? ' W' : ''}`, actual: `gfn ${hex(b.gfn)}${b.writable ? ' W' : ''}` };
  if (c.kind === 'collapse' && b.writable !== c.vmaWrite)
    return { kind: 'translation-changed', at, message: "the collapsed mapping's write permission differs from the VMA's", expected: c.vmaWrite ? 'W' : 'RO', actual: b.writable ? 'W' : 'RO' };
  return null;
}

/** One violation per change and kind: the first page that shows it, with the count. */
function checkEquivalent(ctx: StepContext, r: Reporter): void {
  for (const c of changes(ctx)) {
    const byKind = new Map<string, { first: Finding; n: number }>();
    for (let i = 0; i < c.pre.length; i++) {
      const f = comparePage(c, i);
      if (!f) continue;
      const k = byKind.get(f.kind);
      if (k) k.n++;
      else byKind.set(f.kind, { first: f, n: 1 });
    }
    for (const { first: f, n } of byKind.values())
      r.report({ property: EQUIV, kind: f.kind, subject: where(c, f.at), message: n > 1 ? `${f.message} (and ${n - 1} more pages of the range)` : f.message, expected: f.expected, actual: f.actual });
  }
}

export const thpTranslationEquivalent: Property = {
  name: EQUIV,
  mechanism: 'thp',
  kind: 'safety',
  description: 'translations are equivalent before and after a split or collapse; a collapse fills empty pages with zeroes only',
  checkStep: checkEquivalent,
  checkAll: checkEquivalent,
};

const BOUNDS = 'thp-collapse-stays-in-bounds';

function checkBounds(ctx: StepContext, r: Reporter): void {
  for (const c of changes(ctx)) {
    const foreign = (at: number, expected: string, actual: string) =>
      r.report({ property: BOUNDS, kind: 'foreign-source', subject: where(c, at), message: 'the collapse copied from a frame that was not this page\'s', expected, actual });
    if (c.kind === 'collapse') {
      for (const { index, frame, owner: o } of c.sources) {
        const at = c.base + index;
        if (!(o?.kind === 'anon' && o.pid === c.pid && o.vpn === at)) foreign(at, `pid ${c.pid}'s page at va ${hex(at * 4096)}`, `gfn ${hex(frame)}: ${describeGuestOwner(o)}`);
      }
    }
    if (c.kind !== 'host-collapse') continue;
    for (const { index, frame, owner: o } of c.sources) {
      const at = c.base + index;
      if (!(o?.kind === 'guest-memory' && o.guest === c.guest && o.gfn === at)) foreign(at, `the frame backing g${c.guest} gfn ${hex(at)}`, `hfn ${hex(frame)}: ${describeOwner(o)}`);
    }
    if (c.barriers.length > 0)
      r.report({ property: BOUNDS, kind: 'crossed-barrier', subject: where(c, c.base), message: 'the collapse populated memory that must stay empty', expected: 'no barrier in the unit', actual: c.barriers.slice(0, 3).join('; ') });
  }
}

export const thpCollapseStaysInBounds: Property = {
  name: BOUNDS,
  mechanism: 'thp',
  kind: 'safety',
  description: 'a collapse takes only the process\'s (or guest\'s) own pages and never crosses into ballooned or unplugged memory',
  checkStep: checkBounds,
  checkAll: checkBounds,
};

const WALK = 'thp-walk-cost';

function checkWalks({ world: w, journal: j }: StepContext, r: Reporter): void {
  for (const wk of j.walks) {
    const g = w.guests[wk.guest]!;
    const blk = g.buddy.allocatedBlock(wk.finalGfn);
    const o = g.owners.get(wk.finalGfn);
    if (!blk || blk.order !== 9 || o?.kind !== 'anon' || o.pid !== wk.pid) continue;
    const expected = g.config.guestLevels - 1;
    if (wk.guestLevelsWalked !== expected)
      r.report({ property: WALK, kind: 'huge-page-walked-at-4k', subject: `g${wk.guest} pid ${wk.pid} va ${hex(wk.vpn * 4096)}`, message: 'a walk to a 2 MiB page did not end at the PMD', expected: `${expected} guest levels`, actual: `${wk.guestLevelsWalked} guest levels (${wk.refs} references)` });
  }
}

export const thpWalkCost: Property = {
  name: WALK,
  mechanism: 'thp',
  kind: 'safety',
  description: 'a walk reaching a 2 MiB guest page ends at the PMD, so huge pages shorten the nested walk',
  checkStep: checkWalks,
  checkAll: checkWalks,
};

const ZERO_NAME = 'thp-zero-page-intact';

function zeroGfns(w: World, guest: number): number[] {
  const s = thpState(w);
  const out: number[] = [];
  const z = s.zero4k.get(guest);
  if (z !== undefined) out.push(z);
  const h = s.zero2m.get(guest);
  if (h !== undefined) for (let i = 0; i < 512; i++) out.push(h + i);
  return out;
}

function checkZeroGfn(w: World, guest: number, gfn: number, r: Reporter): void {
  const g = w.guests[guest]!;
  if (g.owners.get(gfn)?.kind !== 'zero-page') return;
  const c = peekGuestPhysical(w, g, gfn);
  if (!sameContent(c, ZERO))
    r.report({ property: ZERO_NAME, kind: 'zero-page-written', subject: `g${guest} zero page gfn ${hex(gfn)}`, message: 'the shared zero page does not read zero', expected: 'zero', actual: describeContent(c) });
}

export const thpZeroPageIntact: Property = {
  name: ZERO_NAME,
  mechanism: 'thp',
  kind: 'safety',
  description: 'the zero page and the huge zero page read zero for every process, always',
  checkStep({ world: w, journal: j }, r) {
    for (const [gid, gfns] of j.gfns) for (const gfn of gfns) checkZeroGfn(w, gid, gfn, r);
    for (const hfn of j.frames) {
      const o = w.frames.owner(hfn);
      if (o?.kind === 'guest-memory' && !j.gfns.get(o.guest)?.has(o.gfn)) checkZeroGfn(w, o.guest, o.gfn, r);
      // A zero page merged by KSM: every sharer's gfn reads the shared frame.
      if (o?.kind === 'ksm') for (const key of nodeOfFrame(w, hfn)?.sharers ?? []) { const x = sharerOf(key); checkZeroGfn(w, x.guest, x.gfn, r); }
    }
  },
  checkAll({ world: w }, r) {
    for (const g of w.guests) for (const gfn of zeroGfns(w, g.id)) checkZeroGfn(w, g.id, gfn, r);
  },
};
