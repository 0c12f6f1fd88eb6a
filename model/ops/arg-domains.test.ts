/**
 * Each argument's domain ends at its last valid value: checkArgs accepts it and rejects the
 * next one, so a counterexample file or replay naming a disk block, a shared file, a
 * cleancache inode or a frontswap offset past the end is malformed input, refused before any
 * operation runs (the indexes are 0..N-1 for N of them).
 */
import { operationNamed } from '../registry';
import { HOST_FRAMES_MAX } from '../config';
import { checkArgs, type ArgSpec, type ArgValue, type OperationDef } from './operation';
import { DISK_BLOCKS, FILE_PAGES } from '../pagecache/layout';
import { SHARED_FILE_PAGES, SHARED_FILES } from '../dax/shared-cache';
import { CC_INDEXES, CC_INODES } from '../tmem/cleancache';
import { FS_API_OFFSETS } from '../tmem/frontswap';

/** The smallest valid value of a spec. */
function least(spec: ArgSpec): ArgValue {
  if (spec.type === 'int') return spec.min;
  if (spec.type === 'bool') return false;
  return spec.values[0]!;
}

function argsWith(def: OperationDef, name: string, value: ArgValue): Record<string, ArgValue> {
  const a: Record<string, ArgValue> = {};
  for (const [k, spec] of Object.entries(def.args)) a[k] = least(spec);
  a[name] = value;
  return a;
}

test.each([
  ['host.pagecache.evict', 'block', DISK_BLOCKS - 1],
  ['host.pagecache.writeback', 'block', DISK_BLOCKS - 1],
  ['dax.grant', 'file', SHARED_FILES - 1],
  ['cleancache.invalidate', 'inode', CC_INODES - 1],
  ['cleancache.invalidate', 'index', CC_INDEXES - 1],
  ['cleancache.put', 'inode', CC_INODES - 1],
  ['cleancache.put', 'index', CC_INDEXES - 1],
  ['cleancache.get', 'inode', CC_INODES - 1],
  ['cleancache.get', 'index', CC_INDEXES - 1],
  ['file.read', 'index', FILE_PAGES - 1],
  ['dax.host.write', 'index', SHARED_FILE_PAGES - 1],
  ['dax.host.evict', 'index', SHARED_FILE_PAGES - 1],
  // The last page of a 48-bit (4-level) user address space is 2^45 - 1 (VPN_MAX).
  ['guest.munmap', 'vpn', 2 ** 45 - 1],
  ['frontswap.store', 'offset', FS_API_OFFSETS - 1],
  ['frontswap.load', 'offset', FS_API_OFFSETS - 1],
  ['frontswap.invalidate', 'offset', FS_API_OFFSETS - 1],
  // The last frame of the largest host the configuration allows.
  ['host.migrate', 'gfn', HOST_FRAMES_MAX - 1],
])('%s: %s ends at %d', (kind, name, last) => {
  const def = operationNamed(kind)!;
  expect(def).toBeDefined();
  expect(checkArgs(def, argsWith(def, name, last))).toBeNull();
  expect(checkArgs(def, argsWith(def, name, last + 1))).toMatch(new RegExp(`^${kind.replace('.', '\\.')}: `));
});

test("cleancache.invalidate's scope is one of page, inode and fs (cleancache_invalidate_page, _inode, _fs), and nothing else", () => {
  const def = operationNamed('cleancache.invalidate')!;
  for (const scope of ['page', 'inode', 'fs']) expect(checkArgs(def, argsWith(def, 'scope', scope))).toBeNull();
  for (const scope of ['', 'file']) expect(checkArgs(def, argsWith(def, 'scope', scope))).toMatch(/^cleancache\.invalidate: /);
});
