/**
 * The shared page cache's properties (shared-page-cache):
 * - dax-only-granted-pages: no guest reaches a shared file page it was not given: a window
 *   gfn's EPT leaf exists only under a grant for its file, maps that file page (the shared
 *   frame or the guest's own private copy), and is writable on the shared frame only under
 *   the writable grant; no access succeeds where the guest never had a grant;
 * - dax-private-isolation: no guest sees another guest's private write: reads return the
 *   guest's private copy or the shared contents, and a private write never reaches the shared
 *   frame;
 * - dax-revocation-complete: after a revocation no access succeeds, and no TLB entry still
 *   translates into the revoked window;
 * - shared-savings-exact: the savings figure (frames saved against one copy per guest) equals
 *   a recount of the window bindings.
 */
import { EPT_WRITE } from '../../model/constants';
import { daxWorld, recountSavings, SHARED_FILE_PAGES, SHARED_FILES, windowFrameOk, windowGfn, windowPage } from '../../model/dax/shared-cache';
import { describeOwner } from '../../model/host/frames';
import type { Guest } from '../../model/guest/guest';
import { contentCode } from '../../model/ops/page-cache';
import type { World } from '../../model/world';
import type { Property, StepContext } from '../property';
import { hex, type Reporter } from '../violation';
import { daxOracle, type DaxOracle } from './dax-oracle';

function codeName(c: number | undefined): string {
  return c === undefined ? 'none' : c === 0 ? 'zero' : c < 0 ? 'other' : `v${c}`;
}

// ---- dax-only-granted-pages ----

const GRANTED = 'dax-only-granted-pages';

function checkWindowGfn(w: World, o: DaxOracle, g: Guest, gfn: number, r: Reporter): void {
  const wp = windowPage(g, gfn);
  if (!wp) return;
  const l = g.ept.lookup(w, gfn);
  if (l.kind !== 'leaf') return;
  const subject = `g${g.id} window gfn ${hex(gfn)} (shared file ${wp.file} page ${wp.index})`;
  const grant = o.grants.get(`${g.id}:${wp.file}`);
  if (!grant) {
    r.report({ property: GRANTED, kind: 'ept-maps-ungranted', subject, message: 'the EPT maps a shared file page the guest has no grant for', expected: 'no EPT leaf', actual: `EPT -> hfn ${hex(l.hfn)}` });
    return;
  }
  if (!windowFrameOk(w, g, gfn, l.hfn)) {
    r.report({ property: GRANTED, kind: 'ept-maps-wrong-frame', subject, message: 'a window leaf maps a frame that is not this file page', expected: 'the shared page or the guest\'s private copy', actual: `hfn ${hex(l.hfn)}: ${describeOwner(w.frames.owner(l.hfn))}` });
    return;
  }
  const shared = w.frames.owner(l.hfn)?.kind === 'shared-page-cache';
  if (shared && (l.entry.flags & EPT_WRITE) !== 0 && grant !== 'rw')
    r.report({ property: GRANTED, kind: 'writable-without-grant', subject, message: 'a guest may write the shared page without the writable grant', expected: 'read-only leaf', actual: 'writable leaf' });
}

function grantedAccesses(o: DaxOracle, r: Reporter): void {
  for (const x of o.accesses)
    if (!x.grant && !x.revoked)
      r.report({ property: GRANTED, kind: 'access-without-grant', subject: x.subject, message: `a ${x.write ? 'write' : 'read'} of a shared file the guest was never given succeeded`, expected: 'SIGBUS', actual: 'ok' });
}

export const daxOnlyGrantedPages: Property = {
  name: GRANTED,
  mechanism: 'shared-page-cache',
  kind: 'safety',
  description: 'no guest reads a shared file page it was not given: window EPT leaves follow the grants',
  checkStep(ctx, r) {
    const o = daxOracle(ctx);
    grantedAccesses(o, r);
    const { world: w, journal: j } = ctx;
    for (const [gid, gfns] of j.gfns) {
      const g = w.guests[gid]!;
      for (const gfn of gfns) if (gfn >= g.config.frames) checkWindowGfn(w, o, g, gfn, r);
    }
    for (const hfn of j.frames)
      for (const hit of w.eptRmap.reaching(hfn)) {
        const g = w.guests[hit.owner]!;
        if (hit.source >= g.config.frames && !j.gfns.get(g.id)?.has(hit.source)) checkWindowGfn(w, o, g, hit.source, r);
      }
  },
  checkAll(ctx, r) {
    const o = daxOracle(ctx);
    grantedAccesses(o, r);
    for (const g of ctx.world.guests) for (let f = 0; f < SHARED_FILES; f++) for (let i = 0; i < SHARED_FILE_PAGES; i++) checkWindowGfn(ctx.world, o, g, windowGfn(g, f, i), r);
  },
};

// ---- dax-private-isolation ----

const ISOLATION = 'dax-private-isolation';

function isolationReads(o: DaxOracle, r: Reporter): void {
  for (const x of o.accesses) {
    if (x.write || !x.grant || x.got === undefined || x.got === x.expected) continue;
    const owner = o.privVersions.get(x.got);
    if (owner !== undefined && owner !== x.guest)
      r.report({ property: ISOLATION, kind: 'saw-private-write', subject: x.subject, message: `g${x.guest} read what g${owner} wrote to its private copy`, expected: codeName(x.expected), actual: `${codeName(x.got)} (g${owner}'s private write)` });
    else r.report({ property: ISOLATION, kind: 'wrong-content', subject: x.subject, message: 'a read of a shared file page returned neither the shared contents nor the guest\'s private copy', expected: codeName(x.expected), actual: codeName(x.got) });
  }
}

function checkSharedFrame(w: World, o: DaxOracle, key: number, r: Reporter): void {
  const page = daxWorld(w).cache.get(key);
  if (!page) return;
  const code = contentCode(w.frames.read(page.hfn));
  const owner = o.privVersions.get(code);
  if (owner !== undefined)
    r.report({ property: ISOLATION, kind: 'private-write-in-shared-page', subject: `shared file ${Math.floor(key / SHARED_FILE_PAGES)} page ${key % SHARED_FILE_PAGES}`, message: `g${owner}'s private write reached the shared frame every granted guest reads`, expected: codeName(o.shared.get(key) ?? 0), actual: `${codeName(code)} (g${owner}'s private write)` });
}

export const daxPrivateIsolation: Property = {
  name: ISOLATION,
  mechanism: 'shared-page-cache',
  kind: 'safety',
  description: "no guest sees another guest's private write to a shared file page",
  checkStep(ctx, r) {
    const o = daxOracle(ctx);
    isolationReads(o, r);
    for (const k of ctx.journal.marks.get('dax') ?? []) checkSharedFrame(ctx.world, o, k, r);
  },
  checkAll(ctx, r) {
    const o = daxOracle(ctx);
    isolationReads(o, r);
    for (let k = 0; k < SHARED_FILES * SHARED_FILE_PAGES; k++) checkSharedFrame(ctx.world, o, k, r);
  },
};

// ---- dax-revocation-complete ----

const REVOKED = 'dax-revocation-complete';

function revocation(ctx: StepContext, r: Reporter): void {
  const o = daxOracle(ctx);
  for (const x of o.accesses)
    if (!x.grant && x.revoked)
      r.report({ property: REVOKED, kind: 'access-after-revoke', subject: x.subject, message: `a ${x.write ? 'write' : 'read'} succeeded after the guest's access to the file was revoked`, expected: 'SIGBUS', actual: 'ok' });
  const { op, result, world: w } = ctx;
  if (op?.kind !== 'dax.revoke' || !result?.ok) return;
  const g = w.guests[op.args.guest as number]!;
  const file = op.args.file as number;
  for (let i = 0; i < SHARED_FILE_PAGES; i++) {
    const gfn = windowGfn(g, file, i);
    const stale = w.tlb.coveringGuestFrame(g.vpid, gfn);
    if (stale.length > 0)
      r.report({ property: REVOKED, kind: 'translation-survives-revoke', subject: `g${g.id} window gfn ${hex(gfn)} (shared file ${file} page ${i})`, message: 'a TLB entry still translates into a revoked window', expected: 'no TLB entry', actual: `vpid ${stale[0]!.vpid} pcid ${stale[0]!.pcid} va ${hex(stale[0]!.vpnBase * 4096)}` });
  }
}

export const daxRevocationComplete: Property = {
  name: REVOKED,
  mechanism: 'shared-page-cache',
  kind: 'safety',
  description: 'after a revocation no access to the file succeeds and no translation into its window survives',
  checkStep: revocation,
  checkAll: revocation,
};

// ---- shared-savings-exact ----

const SAVINGS = 'shared-savings-exact';

function savings(ctx: StepContext, r: Reporter): void {
  const w = ctx.world;
  const counted = daxWorld(w).savings;
  const actual = recountSavings(w);
  if (counted !== actual)
    r.report({ property: SAVINGS, kind: 'savings-miscounted', subject: 'shared page cache', message: 'the frames-saved figure differs from a recount of the guests bound to each shared page', expected: `${actual} frames saved`, actual: `${counted} counted` });
}

export const sharedSavingsExact: Property = {
  name: SAVINGS,
  mechanism: 'shared-page-cache',
  kind: 'safety',
  description: 'the memory saved against per-guest copies is measured exactly',
  checkStep(ctx, r) {
    // Only when a shared page or a window binding changed (the recount is bounded by the shared files, not memory).
    if ((ctx.journal.marks.get('dax')?.size ?? 0) > 0) savings(ctx, r);
  },
  checkAll: savings,
};

