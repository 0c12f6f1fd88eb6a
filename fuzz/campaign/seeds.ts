/**
 * Seed streams. A campaign is a sequence of batches; the seed of batch k of shard I/N is a pure
 * function of (campaign seed, I, N, k), never of time, worker count or scheduling:
 *
 *   global index g = I + N * k            (shards take disjoint residues mod N)
 *   batch seed     = fmix32(g + spread(campaign seed, N))   (a bijection of g mod 2^32)
 *
 * Why not (seed, I, N, worker, k) as in per-worker streams: batches are dealt to whichever
 * worker is free, so worker w's stream is the subsequence of batches it was dealt. Keeping the
 * worker out of the seed is what makes a `--runs` campaign give the same report with 1 or 16
 * workers, and makes resume a single position (the batches done) rather than one per worker.
 * Because fmix32 is a bijection on 32-bit integers, two distinct batches of one campaign (any
 * shard, any worker) never get the same seed for g < 2^32, far beyond any campaign's length.
 */

/** Runs per batch: small enough for Ctrl-C and deadlines to bite within a few seconds. */
export const RUNS_PER_BATCH = 20;

/** MurmurHash3's 32-bit finalizer: a bijection with good avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface Shard {
  /** 0-based shard index, I < N. */
  readonly index: number;
  readonly count: number;
}

export const WHOLE: Shard = { index: 0, count: 1 };

/** The seed of batch `k` of `shard` in the campaign with `campaignSeed`: an unsigned 32-bit int. */
export function batchSeed(campaignSeed: number, shard: Shard, k: number): number {
  const g = (shard.index + shard.count * k) >>> 0;
  const offset = fmix32((campaignSeed >>> 0) ^ Math.imul(shard.count, 0x9e3779b1));
  // Adding a constant mod 2^32 and fmix32 are both bijections, so distinct g give distinct
  // seeds. fast-check reads a seed as a 32-bit integer, so all 32 bits are used.
  return fmix32((g + offset) >>> 0);
}

/**
 * The fixed batch schedule of a `--runs` campaign: `runs` split into batches of RUNS_PER_BATCH,
 * the last one shorter. Independent of worker count, so the same seed and runs run the same
 * batches. `null` for time-bounded campaigns (unbounded schedule).
 */
export function batchRuns(totalRuns: number | null, k: number): number {
  if (totalRuns === null) return RUNS_PER_BATCH;
  return Math.max(0, Math.min(RUNS_PER_BATCH, totalRuns - k * RUNS_PER_BATCH));
}

export function batchCount(totalRuns: number | null): number | null {
  return totalRuns === null ? null : Math.ceil(totalRuns / RUNS_PER_BATCH);
}
