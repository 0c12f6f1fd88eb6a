/**
 * The shared files' oracle: what each guest may see of the host's shared files, followed from
 * operations and their results only. Per shared page the contents every granted guest reads
 * (host writes; writes of the one guest holding the writable grant); per guest and page its
 * private copy once it wrote without that grant; per (guest, file) the grant (the initial
 * exports come from the configuration, "shared-page-cache.grants"); which process ranges map
 * which shared file. Accesses of the step are recorded with what the oracle expected.
 */
import { SHARED_FILE_PAGES, sharedKey } from '../../model/dax/shared-cache';
import { contentCode } from '../../model/ops/page-cache';
import type { Oracle } from '../oracle';
import type { StepContext } from '../property';
import { Mappings, stepState } from '../step-state';
import { hex } from '../violation';

export type Grant = 'ro' | 'rw';

export interface DaxAccess {
  readonly subject: string;
  readonly guest: number;
  readonly file: number;
  readonly index: number;
  readonly write: boolean;
  /** The grant at the time (undefined: none). */
  readonly grant: Grant | undefined;
  /** Whether this guest ever held a grant on the file before. */
  readonly revoked: boolean;
  /** For a read: what the oracle expected, and what came back. */
  readonly expected?: number;
  readonly got?: number;
}

export interface DaxOracle {
  lastStep: number;
  readonly shared: Map<number, number>;
  readonly priv: Map<string, number>;
  /** Version -> guest, for versions written to private copies. */
  readonly privVersions: Map<number, number>;
  readonly grants: Map<string, Grant>;
  readonly everGranted: Set<string>;
  readonly maps: Mappings;
  accesses: DaxAccess[];
}

const store = new WeakMap<Oracle, DaxOracle>();

function initial(ctx: StepContext): DaxOracle {
  const o: DaxOracle = { lastStep: -1, shared: new Map(), priv: new Map(), privVersions: new Map(), grants: new Map(), everGranted: new Set(), maps: new Mappings(), accesses: [] };
  const mode = ctx.world.config.options?.['shared-page-cache.grants'] ?? 'ro';
  for (const g of ctx.world.guests) {
    if (mode === 'ro' || mode === 'mixed') o.grants.set(`${g.id}:0`, 'ro');
    if (mode === 'ro') o.grants.set(`${g.id}:1`, 'ro');
  }
  if (mode === 'mixed') o.grants.set('0:1', 'rw');
  for (const k of o.grants.keys()) o.everGranted.add(k);
  return o;
}

function dropPrivate(o: DaxOracle, guest: number, file: number): void {
  for (let i = 0; i < SHARED_FILE_PAGES; i++) o.priv.delete(`${guest}:${sharedKey(file, i)}`);
}

function advance(o: DaxOracle, ctx: StepContext): void {
  o.accesses = [];
  const { op, result } = ctx;
  if (!op || !result?.ok) return;
  const a = op.args;
  const g = a.guest as number;
  switch (op.kind) {
    case 'dax.grant':
      if (o.grants.has(`${g}:${String(a.file)}`)) dropPrivate(o, g, a.file as number);
      o.grants.set(`${g}:${String(a.file)}`, a.write ? 'rw' : 'ro');
      o.everGranted.add(`${g}:${String(a.file)}`);
      break;
    case 'dax.revoke':
      o.grants.delete(`${g}:${String(a.file)}`);
      dropPrivate(o, g, a.file as number);
      break;
    case 'dax.host.write':
      o.shared.set(sharedKey(a.file as number, a.index as number), result.value!);
      break;
    case 'guest.read':
    case 'guest.write': {
      const m = o.maps.at(g, a.pid as number, a.vpn as number);
      if (!m) break;
      const k = sharedKey(m.object, m.index);
      const grant = o.grants.get(`${g}:${m.object}`);
      const base = { subject: `g${g} pid ${String(a.pid)} va ${hex((a.vpn as number) * 4096)} (shared file ${m.object} page ${m.index})`, guest: g, file: m.object, index: m.index, grant, revoked: o.everGranted.has(`${g}:${m.object}`) };
      if (op.kind === 'guest.write') {
        o.accesses.push({ ...base, write: true });
        if (grant === 'rw') o.shared.set(k, result.value!);
        else if (grant === 'ro') {
          o.priv.set(`${g}:${k}`, result.value!);
          o.privVersions.set(result.value!, g);
        }
      } else {
        const expected = o.priv.get(`${g}:${k}`) ?? o.shared.get(k) ?? 0;
        for (const rd of ctx.journal.reads)
          if (rd.guest === g && rd.pid === a.pid && rd.vpn === a.vpn) o.accesses.push({ ...base, write: false, expected, got: contentCode(rd.got) });
      }
      break;
    }
  }
  o.maps.follow(ctx, 'dax.mmap', SHARED_FILE_PAGES);
}

export function daxOracle(ctx: StepContext): DaxOracle {
  return stepState(store, ctx, initial, advance);
}
