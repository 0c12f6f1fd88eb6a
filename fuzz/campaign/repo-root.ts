/**
 * The repository's root: the nearest directory above this file holding package.json. The
 * campaign code runs from the sources (tsx, jest) and compiled into .build/, so a fixed number
 * of `..` would put reports under .build/ in one of the two.
 */
import { existsSync } from 'fs';
import * as path from 'path';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '..', '..');
  }
}

export const REPO_ROOT = findRoot(__dirname);
