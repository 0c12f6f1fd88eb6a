/**
 * Atomic file replacement: a reader (or a campaign resumed after SIGKILL) sees the old file or
 * the new one, never a prefix. Write a temp file in the same directory (rename is only atomic
 * within one file system), fsync it so the data is on disk before the name points at it, rename
 * over the target, then fsync the directory so the rename itself survives a crash.
 *
 * Temp files are dot-files ending in `.tmp`, which no loader reads; `removeStaleTemps` clears
 * the ones a killed writer left behind.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

const TEMP_SUFFIX = '.tmp';

export function writeFileAtomic(file: string, data: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  const fd = fs.openSync(temp, 'wx', 0o644);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(temp, file);
  syncDirectory(dir);
}

/** fsync on a directory is how POSIX makes a rename durable; some platforms refuse it. */
function syncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Windows and some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Removes temp files left in `dir` by a writer that was killed before its rename. */
export function removeStaleTemps(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let removed = 0;
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('.') && name.endsWith(TEMP_SUFFIX)) {
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    }
  }
  return removed;
}
