/**
 * The campaign's configuration: everything that decides which runs happen. It is stored in the
 * state file (so `--resume` continues the same campaign) and in report.json (`config`).
 */
import type { Shard } from './seeds';

export interface CampaignConfig {
  readonly seed: number;
  readonly shard: Shard;
  /** Count bound (`--runs`): exact reproducibility. Exclusive with `durationMs`. */
  readonly runs: number | null;
  /** Time bound (`--seconds/--minutes/--hours`), in milliseconds. */
  readonly durationMs: number | null;
  readonly faults: readonly string[];
  readonly mechanisms: readonly string[];
  readonly properties: readonly string[];
}

/** Default seed of a campaign with no `--seed`: fixed, so `npm run fuzz` is reproducible. */
export const DEFAULT_SEED = 1;
/** Default bound of `npm run fuzz` with no bound: about a minute. */
export const DEFAULT_DURATION_MS = 60_000;
