/**
 * Where batches execute. The orchestrator only sees a `WorkerPool`: `fork-pool.ts` runs each
 * worker in its own child process (the real CLI: parallel, and an engine crash or runaway loop
 * stays in its process); `InlinePool` runs them in this process (tests, and `--workers 1`-like
 * debugging), one batch at a time, yielding to the event loop between batches.
 */
import type { BatchRequest, BatchResult } from '../contract';
import type { Engine } from './engine-port';

export interface WorkerPool {
  readonly size: number;
  /** Runs `req` on worker `worker` (0 <= worker < size); one batch per worker at a time. */
  run(worker: number, req: BatchRequest): Promise<BatchResult>;
  close(): Promise<void>;
}

export class InlinePool implements WorkerPool {
  constructor(
    private readonly engine: Engine,
    readonly size: number,
  ) {}

  run(_worker: number, req: BatchRequest): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(this.engine.runBatch(req));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  async close(): Promise<void> {}
}
