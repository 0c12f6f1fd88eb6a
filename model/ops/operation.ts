/**
 * How an operation kind is declared: its name, mechanism, argument types (so a counterexample
 * file can be validated without running anything) and its effect on the world.
 */
import { HOST_FRAMES_MAX } from '../config';
import type { OpResult } from '../result';
import type { World } from '../world';

export type ArgSpec =
  | { readonly type: 'int'; readonly min: number; readonly max: number }
  | { readonly type: 'bool' }
  | { readonly type: 'enum'; readonly values: readonly string[] };

export type ArgValue = number | boolean | string;
export type Args = Readonly<Record<string, ArgValue>>;

export interface OperationDef {
  readonly name: string;
  readonly mechanism: string;
  readonly args: Readonly<Record<string, ArgSpec>>;
  readonly apply: (world: World, args: Args) => OpResult;
}

/** Bounds shared by many operations. */
export const VPN_MAX = 2 ** 45 - 1;
export const PAGES_MAX = 2 ** 20;
/** The last frame number of the largest host the configuration allows. */
export const FRAME_MAX = HOST_FRAMES_MAX - 1;

export const int = (min: number, max: number): ArgSpec => ({ type: 'int', min, max });
export const bool: ArgSpec = { type: 'bool' };
export const oneOf = (...values: string[]): ArgSpec => ({ type: 'enum', values });

/** One-line reason the arguments do not fit the spec, or null. */
export function checkArgs(def: OperationDef, args: unknown): string | null {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return `${def.name}: args must be an object`;
  const a = args as Record<string, unknown>;
  for (const k of Object.keys(a)) if (!Object.prototype.hasOwnProperty.call(def.args, k)) return `${def.name}: unknown argument "${k}"`;
  for (const [k, spec] of Object.entries(def.args)) {
    const v = a[k];
    if (v === undefined) return `${def.name}: missing argument "${k}"`;
    switch (spec.type) {
      case 'int':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < spec.min || v > spec.max)
          return `${def.name}: argument "${k}" must be an integer in [${spec.min}, ${spec.max}], got ${JSON.stringify(v)}`;
        break;
      case 'bool':
        if (typeof v !== 'boolean') return `${def.name}: argument "${k}" must be a boolean`;
        break;
      case 'enum':
        if (typeof v !== 'string' || !spec.values.includes(v)) return `${def.name}: argument "${k}" must be one of ${spec.values.join(', ')}`;
        break;
    }
  }
  return null;
}
