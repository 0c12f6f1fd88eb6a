/**
 * Campaign-level metadata stamped into each counterexample's origin: the commit (so a seed can
 * be rerun on the same code, TigerBeetle-style) and the date. The engine fills what it knows
 * (seed, fast-check path and version, model version); these it cannot know.
 */
import { execFileSync } from 'child_process';
import type { Counterexample } from '../contract';
import { REPO_ROOT } from './repo-root';


/** `git rev-parse HEAD` of this checkout, or "unknown" (no git, no commit yet, a tarball). */
export function gitCommit(cwd = REPO_ROOT): string {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    const sha = out.toString().trim();
    return /^[0-9a-f]{40}$/.test(sha) ? sha : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function stampOrigin(cx: Counterexample, stamp: { commit: string; date: string; modelVersion: string }): Counterexample {
  return {
    ...cx,
    origin: {
      ...cx.origin,
      commit: stamp.commit,
      date: stamp.date,
      modelVersion: cx.origin.modelVersion || stamp.modelVersion,
    },
  };
}
