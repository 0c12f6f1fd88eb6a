/**
 * The fake engine, except that a worker process dies (exit 7) on its second batch: how a real
 * engine's out-of-memory or abort looks from the campaign. Test double only.
 */
import { createFakeEngine } from './fake-engine';
import type { BatchRequest, BatchResult } from '../contract';

const fake = createFakeEngine();
let batches = 0;

export const inventory = fake.inventory;
export const replay = fake.replay;
export const validateOperation = fake.validateOperation;
export const defaultCampaignConfig = fake.defaultCampaignConfig;
export const MODEL_VERSION = fake.MODEL_VERSION;

export function runBatch(req: BatchRequest): BatchResult {
  if (++batches === 2) process.exit(7);
  return fake.runBatch(req);
}
