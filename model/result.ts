/**
 * Operations never throw on impossible input: they return a typed refusal (the model's
 * -EINVAL / -ENOMEM / -EFAULT), and a refused operation changes nothing.
 */
export type RefusalCode =
  | 'no-such-guest'
  | 'no-such-process'
  | 'no-such-mapping'
  | 'no-such-allocation'
  | 'out-of-range'
  | 'misaligned'
  | 'overlap'
  | 'segv'
  | 'retry'
  | 'guest-oom'
  | 'host-oom'
  | 'busy'
  | 'invalid'
  | 'limit'
  /** An access to a mapping with nothing behind it (a revoked DAX window, beyond EOF): SIGBUS. */
  | 'sigbus';

export interface Refusal {
  readonly ok: false;
  readonly error: RefusalCode;
  readonly detail: string;
}

export interface Success {
  readonly ok: true;
  /** A number the operation produced (a version written, a pid, an allocation id, ...). */
  readonly value?: number;
}

export type OpResult = Success | Refusal;

export const OK: Success = Object.freeze({ ok: true });

export function ok(value?: number): Success {
  return value === undefined ? OK : { ok: true, value };
}

export function refuse(error: RefusalCode, detail: string): Refusal {
  return { ok: false, error, detail };
}

export function isRefusal(x: unknown): x is Refusal {
  return typeof x === 'object' && x !== null && (x as Refusal).ok === false;
}
