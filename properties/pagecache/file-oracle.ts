/**
 * The files' own oracle (deliberately simple): per guest, per file page, the set of contents
 * a read may return now, and the set the disk may hold after a crash. Updated from operations
 * and their results only:
 *
 * - a completed write (write(2), or a write through a shared mapping: guest.write on a vpn
 *   the oracle knows maps the file) of version v: a read must return v; after a crash the
 *   page may read as v too;
 * - fsync of a file: whatever a read returns now is durable: after a crash the page reads as
 *   that (or as a later write);
 * - a crash of the guest: a page may read as its durable contents or as any write completed
 *   since (which of them depends on writeback the oracle cannot see); the first read after
 *   the crash pins it;
 * - a read of version c: c must be allowed, and then it is the only allowed value.
 *
 * Contents are compared as codes: a data version (world-unique, so it names its writer too),
 * 0 for zero (a never-written page of a sparse image), -1 for anything else.
 */
import type { Content } from '../../model/content';
import { contentCode } from '../../model/ops/page-cache';
import { FILE_PAGES, FILES_PER_GUEST } from '../../model/pagecache/layout';
import type { Oracle } from '../oracle';
import type { StepContext } from '../property';
import { Mappings, stepState } from '../step-state';
import { hex } from '../violation';

export interface PageExpect {
  /** Codes a read may return now. */
  allowed: Set<number>;
  /** Codes the disk may hold if the guest crashes now. */
  durable: Set<number>;
}

export interface ReadCheck {
  readonly subject: string;
  readonly allowed: readonly number[];
  readonly got: number;
}

export interface FileOracle {
  lastStep: number;
  readonly pages: Map<string, PageExpect>;
  readonly maps: Mappings;
  /** The reads of the current step, checked against what was allowed before them. */
  readChecks: ReadCheck[];
}

const store = new WeakMap<Oracle, FileOracle>();

function key(guest: number, file: number, index: number): string {
  return `${guest}:${file}:${index}`;
}

export function pageExpect(o: FileOracle, guest: number, file: number, index: number): PageExpect {
  const k = key(guest, file, index);
  let e = o.pages.get(k);
  if (!e) o.pages.set(k, (e = { allowed: new Set([0]), durable: new Set([0]) }));
  return e;
}

function written(o: FileOracle, guest: number, file: number, index: number, v: number): void {
  const e = pageExpect(o, guest, file, index);
  e.allowed = new Set([v]);
  e.durable.add(v);
}

function read(o: FileOracle, guest: number, file: number, index: number, got: number, subject: string): void {
  const e = pageExpect(o, guest, file, index);
  o.readChecks.push({ subject, allowed: [...e.allowed], got });
  if (e.allowed.has(got)) e.allowed = new Set([got]);
}

function advance(o: FileOracle, ctx: StepContext): void {
  o.readChecks = [];
  const { op, result } = ctx;
  if (!op || !result?.ok) return;
  const a = op.args;
  const g = a.guest as number;
  switch (op.kind) {
    case 'file.write':
      written(o, g, a.file as number, a.index as number, result.value!);
      break;
    case 'file.read':
      read(o, g, a.file as number, a.index as number, result.value!, `g${g} file ${String(a.file)} page ${String(a.index)} (read)`);
      break;
    case 'guest.write': {
      const m = o.maps.at(g, a.pid as number, a.vpn as number);
      if (m) written(o, g, m.object, m.index, result.value!);
      break;
    }
    case 'guest.read': {
      const m = o.maps.at(g, a.pid as number, a.vpn as number);
      if (!m) break;
      for (const rd of ctx.journal.reads)
        if (rd.guest === g && rd.pid === a.pid && rd.vpn === a.vpn)
          read(o, g, m.object, m.index, contentCode(rd.got), `g${g} pid ${String(a.pid)} va ${hex((a.vpn as number) * 4096)} (file ${m.object} page ${m.index}, mapped)`);
      break;
    }
    case 'file.fsync':
      for (let i = 0; i < FILE_PAGES; i++) {
        const e = pageExpect(o, g, a.file as number, i);
        e.durable = new Set(e.allowed);
      }
      break;
    case 'guest.crash':
      for (let f = 0; f < FILES_PER_GUEST; f++)
        for (let i = 0; i < FILE_PAGES; i++) {
          const e = pageExpect(o, g, f, i);
          e.allowed = new Set(e.durable);
        }
      break;
  }
  o.maps.follow(ctx, 'file.mmap');
}

export function fileOracle(ctx: StepContext): FileOracle {
  return stepState(store, ctx, () => ({ lastStep: -1, pages: new Map(), maps: new Mappings(), readChecks: [] }), advance);
}

export function codeAllowed(o: FileOracle, guest: number, file: number, index: number, c: Content): boolean {
  return pageExpect(o, guest, file, index).allowed.has(contentCode(c));
}

export function describeCodes(codes: Iterable<number>): string {
  return [...codes].map((c) => (c === 0 ? 'zero' : c < 0 ? 'other' : `v${c}`)).join(' | ');
}
