/**
 * One child process per worker (child_process.fork). TypeScript entry points run under tsx:
 * the child gets `--import <tsx loader>` resolved to an absolute URL, so it works whatever the
 * working directory. A child that dies mid-batch rejects that batch's promise: the campaign
 * stops, saves its state and reports the crash (an engine crash is a bug to look at, not a
 * property violation to fold).
 */
import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { BatchRequest, BatchResult } from '../contract';
import { ENGINE_ENV } from './engine-port';
import type { WorkerPool } from './pool';
import type { BatchMessage, WorkerReply } from './worker-protocol';

interface Pending {
  readonly id: number;
  resolve(r: BatchResult): void;
  reject(e: Error): void;
}

/** execArgv for a child running a .ts entry; nothing for compiled .js. */
function childExecArgv(entry: string): string[] {
  if (!entry.endsWith('.ts')) return [];
  return ['--import', pathToFileURL(require.resolve('tsx')).href];
}

export class ForkPool implements WorkerPool {
  private readonly children: ChildProcess[] = [];
  private readonly pending: (Pending | null)[] = [];
  private readonly exited: boolean[] = [];
  private nextId = 0;
  private closing = false;

  constructor(
    readonly size: number,
    engineModulePath: string,
  ) {
    const entry = path.join(__dirname, `worker${path.extname(__filename)}`);
    for (let w = 0; w < size; w++) {
      const child = fork(entry, [], {
        execArgv: childExecArgv(entry),
        env: { ...process.env, [ENGINE_ENV]: engineModulePath },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      this.children.push(child);
      this.pending.push(null);
      this.exited.push(false);
      child.on('message', (msg: WorkerReply) => this.onMessage(w, msg));
      child.on('exit', (code, signal) => this.onExit(w, code, signal));
      child.on('error', (err) => this.fail(w, new Error(`worker ${w}: ${err.message}`)));
    }
  }

  run(worker: number, request: BatchRequest): Promise<BatchResult> {
    if (this.pending[worker]) return Promise.reject(new Error(`worker ${worker} is busy`));
    if (this.exited[worker]) return Promise.reject(new Error(`worker ${worker} has exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending[worker] = { id, resolve, reject };
      const msg: BatchMessage = { type: 'batch', id, request };
      this.children[worker].send(msg, (err) => {
        if (err) this.fail(worker, new Error(`worker ${worker}: cannot send batch (${err.message})`));
      });
    });
  }

  private onMessage(w: number, msg: WorkerReply): void {
    const p = this.pending[w];
    if (!p || msg.type === 'ready' || msg.id !== p.id) return;
    this.pending[w] = null;
    if (msg.type === 'result') p.resolve(msg.result);
    else p.reject(new Error(`worker ${w}: engine error: ${msg.message}`));
  }

  private onExit(w: number, code: number | null, signal: NodeJS.Signals | null): void {
    this.exited[w] = true;
    if (!this.closing || this.pending[w]) this.fail(w, new Error(`worker ${w} exited (${signal ?? `code ${code}`}) during a batch`));
  }

  private fail(w: number, err: Error): void {
    const p = this.pending[w];
    this.pending[w] = null;
    if (p) p.reject(err);
  }

  /** Disconnects every child (they exit on disconnect) and waits for them to go. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.children.map(
        (child, w) =>
          new Promise<void>((resolve) => {
            if (this.exited[w]) return resolve();
            child.once('exit', () => resolve());
            if (child.connected) child.disconnect();
            else child.kill('SIGTERM');
          }),
      ),
    );
  }
}
