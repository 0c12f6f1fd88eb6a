/**
 * Worker process entry (forked by fork-pool.ts): loads the engine named by $NESTED_MM_ENGINE
 * (or fuzz/engine) and runs the batches it is sent, one at a time.
 *
 * Ctrl-C in a terminal sends SIGINT to the whole process group, workers included. A worker
 * ignores it: the parent decides when to stop, and a worker always finishes its current batch
 * (runBatch is synchronous anyway). When the parent goes away the IPC channel disconnects and
 * the worker exits, so no orphan keeps fuzzing after a SIGKILL of the parent.
 */
import { loadEngine } from './engine-port';
import type { BatchMessage, WorkerReply } from './worker-protocol';

function send(reply: WorkerReply): void {
  if (process.send && process.connected) process.send(reply);
}

function main(): void {
  if (!process.send) {
    process.stderr.write('fuzz/campaign/worker.ts is started by the campaign (npm run fuzz), not directly\n');
    process.exit(2);
  }
  process.on('SIGINT', () => {});
  process.on('disconnect', () => process.exit(0));
  const { engine } = loadEngine();
  process.on('message', (msg: BatchMessage) => {
    if (msg?.type !== 'batch') return;
    try {
      send({ type: 'result', id: msg.id, result: engine.runBatch(msg.request) });
    } catch (err) {
      send({ type: 'error', id: msg.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  send({ type: 'ready' });
}

main();
