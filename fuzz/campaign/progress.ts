/**
 * Progress of a running campaign, on stderr (stdout stays clean for `--json`). On a terminal, a
 * live block redrawn in place; elsewhere (CI logs, files), one plain line every
 * PLAIN_INTERVAL_MS so logs stay readable. Rendering is pure (`renderLive`, `renderPlain`);
 * the sink only owns the timer and the cursor movements.
 */
export interface WorkerProgress {
  readonly id: number;
  readonly busy: boolean;
  readonly batches: number;
  readonly runs: number;
  readonly operations: number;
}

export interface ProgressSnapshot {
  readonly elapsedMs: number;
  /** Time left (time bound) or estimated (run bound); null before any estimate. */
  readonly remainingMs: number | null;
  readonly runs: number;
  readonly totalRuns: number | null;
  readonly operations: number;
  readonly opsPerSec: number;
  readonly distinctFailures: number;
  readonly hits: number;
  readonly stopping: boolean;
  readonly workers: readonly WorkerProgress[];
}

export const LIVE_INTERVAL_MS = 250;
export const PLAIN_INTERVAL_MS = 10_000;

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '--:--';
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function headline(s: ProgressSnapshot): string {
  const runs = s.totalRuns === null ? fmt(s.runs) : `${fmt(s.runs)}/${fmt(s.totalRuns)}`;
  return `elapsed ${formatDuration(s.elapsedMs)}  remaining ${formatDuration(s.remainingMs)}  runs ${runs}  ops ${fmt(s.operations)}  ${fmt(s.opsPerSec)} ops/s  failures ${s.distinctFailures} distinct (${fmt(s.hits)} hits)${s.stopping ? '  stopping: finishing current batches' : ''}`;
}

export function renderPlain(s: ProgressSnapshot): string {
  return `fuzz: ${headline(s)}`;
}

export function renderLive(s: ProgressSnapshot, columns = 100): string[] {
  const lines = [headline(s)];
  for (const w of s.workers) {
    lines.push(`  worker ${String(w.id).padStart(2)} ${w.busy ? 'busy' : 'idle'}  batches ${fmt(w.batches)}  runs ${fmt(w.runs)}  ops ${fmt(w.operations)}`);
  }
  return lines.map((l) => (l.length > columns ? l.slice(0, Math.max(10, columns - 1)) : l));
}

export interface ProgressSink {
  start(snapshot: () => ProgressSnapshot): void;
  /** Draws the last state and releases the timer. */
  stop(): void;
}

interface Stream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function createProgress(stream: Stream, options: { live: boolean; intervalMs?: number }): ProgressSink {
  let timer: NodeJS.Timeout | null = null;
  let get: (() => ProgressSnapshot) | null = null;
  let drawn = 0;
  const draw = () => {
    if (!get) return;
    const s = get();
    if (options.live) {
      const lines = renderLive(s, stream.columns || 100); // 0 when the terminal size is unknown
      // Move up over the previous block, then rewrite each line, clearing leftovers.
      const up = drawn > 0 ? `\x1b[${drawn}A` : '';
      stream.write(up + lines.map((l) => `\r\x1b[2K${l}`).join('\n') + '\n');
      drawn = lines.length;
    } else {
      stream.write(renderPlain(s) + '\n');
    }
  };
  return {
    start(snapshot) {
      get = snapshot;
      timer = setInterval(draw, options.intervalMs ?? (options.live ? LIVE_INTERVAL_MS : PLAIN_INTERVAL_MS));
      timer.unref();
      if (options.live) draw();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      if (options.live) draw();
      get = null;
    },
  };
}

/** A sink that shows nothing (`--json` campaigns still show progress; tests use this). */
export const silentProgress: ProgressSink = { start() {}, stop() {} };
