/**
 * Symbolic contents of a 4 KiB frame (domain.md section 0): never bytes, only enough to decide
 * "did guest B ever read what guest A wrote" and "did a read return the last write".
 *
 * - zero: cleared (clear_page, or a fresh zero page).
 * - poison: filled with a poison value (page_poisoning, virtio-balloon poison_val).
 * - data: written by a domain (the host or a guest), stamped with a world-unique version.
 * - table: the frame holds a paging-structure table written by a domain; see paging/table.ts.
 */
import type { PageTable } from './paging/table';

/** A domain is the host or one guest: -1 is the host, guests are 0..n-1. */
export type Domain = number;
export const HOST_DOMAIN: Domain = -1;

export type Content =
  | { readonly kind: 'zero' }
  | { readonly kind: 'poison'; readonly value: number }
  | { readonly kind: 'data'; readonly writer: Domain; readonly version: number }
  | { readonly kind: 'table'; readonly writer: Domain; readonly table: PageTable };

export const ZERO: Content = Object.freeze({ kind: 'zero' });

/**
 * What a host frame holds before anything in the model wrote it: the host's own earlier data
 * (assumption: memory handed out without clearing shows the host's old contents, which makes
 * a skipped clear_page visible on first use rather than only on reuse).
 */
export const HOST_BOOT_DATA: Content = Object.freeze({ kind: 'data', writer: HOST_DOMAIN, version: 0 });

export function data(writer: Domain, version: number): Content {
  return { kind: 'data', writer, version };
}

export function poison(value: number): Content {
  return { kind: 'poison', value };
}

/** The domain whose secret a content could reveal, or null for zero and poison. */
export function contentOwner(c: Content): Domain | null {
  return c.kind === 'data' || c.kind === 'table' ? c.writer : null;
}

export function sameContent(a: Content, b: Content): boolean {
  switch (a.kind) {
    case 'zero':
      return b.kind === 'zero';
    case 'poison':
      return b.kind === 'poison' && b.value === a.value;
    case 'data':
      return b.kind === 'data' && b.writer === a.writer && b.version === a.version;
    case 'table':
      return b.kind === 'table' && b.writer === a.writer && b.table.sameEntries(a.table);
  }
}

/** The guest page table a frame holds, or null (zero, poison, data, or an EPT table). */
export function guestTableOf(c: Content): PageTable | null {
  return c.kind === 'table' && c.table.kind === 'guest' ? c.table : null;
}

/** A copy that shares nothing mutable with the original (tables are deep-copied). */
export function copyContent(c: Content): Content {
  return c.kind === 'table' ? { kind: 'table', writer: c.writer, table: c.table.clone() } : c;
}

export function domainName(d: Domain): string {
  return d === HOST_DOMAIN ? 'host' : `g${d}`;
}

export function describeContent(c: Content): string {
  switch (c.kind) {
    case 'zero':
      return 'zero';
    case 'poison':
      return `poison(0x${c.value.toString(16)})`;
    case 'data':
      return `data(${domainName(c.writer)}, v${c.version})`;
    case 'table':
      return `table(${domainName(c.writer)}, level ${c.table.level}, ${c.table.size} entries)`;
  }
}
