/**
 * Transcendent memory's properties, with their own oracle followed from operations and results
 * (the pool table is the configuration's, fixed at boot):
 * - cleancache-coherent (cleancache.rst "coherency"): a get hit returns the last put for the
 *   key, never an older one; once a get misses, or the key was invalidated (page, inode, fs),
 *   gets miss until the next put; a hit on a private pool is exclusive (the next get misses);
 * - cleancache-private-isolation: a guest never reaches a private pool that is not its own,
 *   and never gets a page another guest put into a private pool;
 * - frontswap-persistent (frontswap.rst): a successful store loads back, identical, until
 *   invalidated; a failed store leaves nothing behind (a failed duplicate invalidates the
 *   old copy: stale data never comes back, 678e54d4bb9a).
 */
import { allPools } from '../../model/tmem/backend';
import { CC_MISS } from '../../model/tmem/cleancache';
import { FS_MISS } from '../../model/tmem/frontswap';
import type { Oracle } from '../oracle';
import type { Property, StepContext } from '../property';
import { stepState } from '../step-state';
import type { Reporter, Violation } from '../violation';

type Finding = Omit<Violation, 'step'>;

interface CcKey {
  /** 'put': holds `code` (or nothing: ephemeral); 'miss': gets must miss until a put. */
  state: 'put' | 'miss';
  code: number;
  /** Who put it. */
  by: number;
}

interface PoolInfo {
  readonly owner: number;
  readonly shared: boolean;
  readonly members: ReadonlySet<number>;
}

interface TmemOracle {
  lastStep: number;
  readonly pools: Map<number, PoolInfo>;
  readonly cc: Map<string, CcKey>;
  readonly fs: Map<string, number | null>;
  /** Versions put by each guest (to recognise another guest's page). */
  readonly putBy: Map<number, number>;
  findings: Finding[];
}

const store = new WeakMap<Oracle, TmemOracle>();

function initial(ctx: StepContext): TmemOracle {
  const pools = new Map<number, PoolInfo>();
  for (const p of allPools(ctx.world)) if (p.use === 'api' && p.kind === 'ephemeral') pools.set(p.id, { owner: p.owner, shared: p.shared, members: new Set(p.members) });
  return { lastStep: -1, pools, cc: new Map(), fs: new Map(), putBy: new Map(), findings: [] };
}

function codeName(c: number): string {
  return c === CC_MISS ? 'miss' : c === 0 ? 'zero' : c < 0 ? 'other' : `v${c}`;
}

function advance(o: TmemOracle, ctx: StepContext): void {
  o.findings = [];
  const { op, result } = ctx;
  if (!op || !result?.ok) return;
  const a = op.args;
  const g = a.guest as number;
  const pool = a.pool as number;
  const key = `${pool}:${String(a.inode)}:${String(a.index)}`;
  const subject = `g${g} cleancache pool ${pool} inode ${String(a.inode)} index ${String(a.index)}`;
  if (op.kind.startsWith('cleancache.') && op.kind !== 'cleancache.init') {
    const info = o.pools.get(pool);
    if (!info || !info.members.has(g))
      o.findings.push({ property: 'cleancache-private-isolation', kind: 'foreign-pool-access', subject, message: `${op.kind} on a pool g${g} is not a member of succeeded`, expected: 'refused', actual: 'ok' });
  }
  switch (op.kind) {
    case 'cleancache.put':
      o.cc.set(key, { state: 'put', code: result.value!, by: g });
      o.putBy.set(result.value!, g);
      break;
    case 'cleancache.get': {
      const got = result.value!;
      const k = o.cc.get(key);
      const info = o.pools.get(pool);
      if (got !== CC_MISS) {
        const by = o.putBy.get(got);
        if (info && !info.shared && by !== undefined && by !== g)
          o.findings.push({ property: 'cleancache-private-isolation', kind: 'foreign-private-page', subject, message: `g${g} got a page g${by} put into a private pool`, expected: 'miss', actual: `${codeName(got)} (put by g${by})` });
        if (!k || k.state === 'miss')
          o.findings.push({ property: 'cleancache-coherent', kind: 'hit-after-miss', subject, message: 'a get hit although the key missed, or was invalidated, since the last put', expected: 'miss', actual: codeName(got) });
        else if (got !== k.code)
          o.findings.push({ property: 'cleancache-coherent', kind: 'stale-get', subject, message: 'a get returned something other than the last put', expected: codeName(k.code), actual: codeName(got) });
        // A private pool's get is exclusive: the page left the pool.
        if (k && info && !info.shared) k.state = 'miss';
      } else if (k) k.state = 'miss';
      else o.cc.set(key, { state: 'miss', code: CC_MISS, by: -1 });
      break;
    }
    case 'cleancache.invalidate': {
      const prefix = a.scope === 'fs' ? `${pool}:` : a.scope === 'inode' ? `${pool}:${String(a.inode)}:` : key;
      for (const [k, v] of o.cc) if (a.scope === 'page' ? k === key : k.startsWith(prefix)) v.state = 'miss';
      break;
    }
    case 'frontswap.store':
      o.fs.set(`${g}:${String(a.offset)}`, result.value! > 0 ? result.value! : null);
      break;
    case 'frontswap.invalidate':
      if (a.area) for (const k of o.fs.keys()) if (k.startsWith(`${g}:`)) o.fs.set(k, null);
      o.fs.set(`${g}:${String(a.offset)}`, null);
      break;
    case 'frontswap.load': {
      const stored = o.fs.get(`${g}:${String(a.offset)}`) ?? null;
      const got = result.value!;
      const fsSubject = `g${g} frontswap offset ${String(a.offset)}`;
      if (stored !== null && got === FS_MISS)
        o.findings.push({ property: 'frontswap-persistent', kind: 'lost-store', subject: fsSubject, message: 'a page stored successfully did not load back', expected: codeName(stored), actual: 'miss' });
      else if (stored !== null && got !== stored)
        o.findings.push({ property: 'frontswap-persistent', kind: 'wrong-load', subject: fsSubject, message: 'a load returned something other than the last successful store', expected: codeName(stored), actual: codeName(got) });
      else if (stored === null && got !== FS_MISS)
        o.findings.push({ property: 'frontswap-persistent', kind: 'stale-load', subject: fsSubject, message: 'a load hit although nothing valid was stored (invalidated, or a failed store)', expected: 'miss', actual: codeName(got) });
      break;
    }
  }
}

function prop(name: string, mechanism: string, description: string): Property {
  const check = (ctx: StepContext, r: Reporter): void => {
    for (const f of stepState(store, ctx, initial, advance).findings) if (f.property === name) r.report(f);
  };
  return { name, mechanism, kind: 'safety', description, checkStep: check, checkAll: check };
}

export const cleancacheCoherent = prop('cleancache-coherent', 'cleancache', 'after put(A) then put(B) no get returns A; after a miss or an invalidation gets miss until the next put; private gets are exclusive');
export const cleancachePrivateIsolation = prop('cleancache-private-isolation', 'cleancache', "no guest reaches another guest's private cleancache pool or page");
export const frontswapPersistent = prop('frontswap-persistent', 'frontswap', 'a successful store loads back until invalidated; a failed duplicate store never lets stale data back');
