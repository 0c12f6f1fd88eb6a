/**
 * Files on virtual disks, laid out once and for all (assumption: fixed-size files, no
 * truncate or extend, no metadata blocks; what the properties are about is page contents,
 * caching and durability, not the filesystem's allocator).
 *
 * Each guest has DISKS_PER_GUEST virtual disks (virtio-blk), each a file in the host
 * filesystem (a disk image) on the host's storage ("the medium"). Each disk holds
 * FILES_PER_DISK files of FILE_PAGES pages; file f of a guest lives on disk
 * f / FILES_PER_DISK at blocks (f % FILES_PER_DISK) * FILE_PAGES + index.
 *
 * Each disk has a QEMU cache mode (block.c bdrv_parse_cache_mode; docs "qemu-block-drivers"):
 * - writeback (cache=writeback): the image is opened without O_DIRECT, so every block the
 *   guest reads or writes also sits in the host page cache: the double caching that
 *   unmapped page-cache control was written to reduce;
 * - none (cache=none, BDRV_O_NOCACHE): O_DIRECT, the host keeps no copy.
 * Either way a guest FLUSH (virtio-blk VIRTIO_BLK_T_FLUSH, VIRTIO spec 5.2.6) makes what the
 * guest wrote durable (bdrv_co_flush -> fdatasync of the image).
 */
import type { World } from '../world';

export const DISKS_PER_GUEST = 2;
export const FILES_PER_DISK = 4;
export const FILE_PAGES = 16;
export const FILES_PER_GUEST = DISKS_PER_GUEST * FILES_PER_DISK;
export const DISK_BLOCKS = FILES_PER_DISK * FILE_PAGES;
/** Pages of all of a guest's files: page keys are 0..GUEST_FILE_PAGES-1. */
export const GUEST_FILE_PAGES = FILES_PER_GUEST * FILE_PAGES;
/**
 * Host page-cache pages kept per disk image before the host evicts (assumption: stands in for
 * host memory pressure on the image's cache; the host's own LRU picks the victim).
 */
export const HOST_CACHE_PAGES_MAX = 32;

export type CacheMode = 'writeback' | 'none';

export function diskOf(file: number): number {
  return Math.floor(file / FILES_PER_DISK);
}

export function blockOf(file: number, index: number): number {
  return (file % FILES_PER_DISK) * FILE_PAGES + index;
}

/** The file page stored at (disk, block). */
export function fileAt(disk: number, block: number): { file: number; index: number } {
  return { file: disk * FILES_PER_DISK + Math.floor(block / FILE_PAGES), index: block % FILE_PAGES };
}

/** A page of a guest's files as one number: file * FILE_PAGES + index. */
export function pageKey(file: number, index: number): number {
  return file * FILE_PAGES + index;
}

export function pageOfKey(key: number): { file: number; index: number } {
  return { file: Math.floor(key / FILE_PAGES), index: key % FILE_PAGES };
}

/** A (guest, disk, block) as one number, for the double-caching ledger and marks. */
export function blockKey(guest: number, disk: number, block: number): number {
  return (guest * DISKS_PER_GUEST + disk) * DISK_BLOCKS + block;
}

/** Swarm option "page-cache.cacheModes": both disks writeback, both none, or one of each. */
export function cacheModeOf(world: World, disk: number): CacheMode {
  const m = world.option<string>('page-cache.cacheModes', 'mixed');
  if (m === 'writeback' || m === 'none') return m;
  return disk === 0 ? 'writeback' : 'none';
}

// Relations checked once at load.
if (FILES_PER_DISK * FILE_PAGES !== DISK_BLOCKS || GUEST_FILE_PAGES !== DISKS_PER_GUEST * DISK_BLOCKS)
  throw new Error('pagecache/layout: files must tile the disks exactly');
