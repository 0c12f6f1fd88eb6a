/**
 * Where a distinct failure lives: `failures/<short hash of its fold key>.json`. The name depends
 * on the key alone, so the same failure found by two shards, or again after a resume, lands on
 * the same file name, and merge can union directories by name.
 */
import * as crypto from 'crypto';
import type { Counterexample } from '../contract';
import { failureKey } from '../contract';

export const FAILURES_DIR = 'failures';
/** 12 hex digits = 48 bits: collisions need ~16 million distinct failures in one campaign. */
const HASH_HEX_CHARS = 12;

export function failureFileName(key: string): string {
  return `${crypto.createHash('sha256').update(key).digest('hex').slice(0, HASH_HEX_CHARS)}.json`;
}

/** Operation kind at the failing step; "initial" when the violation precedes every operation. */
export function failingOperationKind(cx: Counterexample): string {
  const step = cx.violation.step;
  return step >= 0 && step < cx.operations.length ? cx.operations[step].kind : 'initial';
}

/** The fold key of a counterexample, as contract.ts's failureKey defines it. */
export function keyOf(cx: Counterexample): string {
  return failureKey(cx.violation.property, failingOperationKind(cx), cx.violation.kind);
}
