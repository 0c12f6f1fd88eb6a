/** Messages between the campaign process and its worker processes (over the fork IPC channel). */
import type { BatchRequest, BatchResult } from '../contract';

export interface BatchMessage {
  readonly type: 'batch';
  readonly id: number;
  readonly request: BatchRequest;
}

export type WorkerReply =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly result: BatchResult }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
