/**
 * fsync(2) of a guest file (Linux mm/filemap.c file_write_and_wait_range, then the
 * filesystem's flush): wait for the file's writeback in flight, write back every dirty page
 * (page_mkclean first, so that pages dirtied through shared mappings are found too), then
 * FLUSH the virtual disk so that the host makes it durable (virtio-blk VIRTIO_BLK_T_FLUSH ->
 * QEMU bdrv_co_flush -> fdatasync of the image: the host page cache's dirty pages reach the
 * medium).
 */
import type { Guest } from '../guest/guest';
import { ok, type OpResult } from '../result';
import type { World } from '../world';
import { lookupPage, mkclean, writebackSync } from './cache';
import { diskFlush } from './disk';
import { completeWhere } from './io';
import { diskOf, FILE_PAGES } from './layout';

/** Pages written back: ok(n). */
export function fileFsync(w: World, g: Guest, file: number): OpResult {
  completeWhere(w, g, (r) => r.kind === 'writeback' && r.file === file);
  let written = 0;
  for (let index = 0; index < FILE_PAGES; index++) {
    const page = lookupPage(g, file, index);
    if (!page) continue;
    // Hazard: fsync must find pages dirtied through a mapping too: their dirty bits sit in the
    // PTEs until page_mkclean moves them to the page (d08b3851da41, "mm: tracking shared dirty
    // pages"; before it msync/fsync missed writes made through shared mappings).
    if (!w.fault('fsync-skips-mapped-dirty')) {
      const mk = mkclean(w, g, page);
      if (mk !== true) return mk;
    }
    if (page.dirty) {
      writebackSync(w, g, page);
      written++;
    }
  }
  diskFlush(w, g, diskOf(file));
  w.transition('page-cache', 'dirty', 'durable');
  return ok(written);
}

