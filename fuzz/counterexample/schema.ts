/**
 * The counterexample file format as a zod schema: strict objects (an unknown key is an error,
 * not silently dropped), integers where the contract says counts or indexes, finite numbers
 * everywhere (JSON's 1e999 parses to Infinity), bounded strings and arrays. It mirrors
 * `Counterexample` in fuzz/contract.ts; the type assertion at the bottom keeps the two in step.
 */
import { z } from 'zod';
import { COUNTEREXAMPLE_FORMAT, COUNTEREXAMPLE_VERSION, type Counterexample } from '../contract';

/** Longest name (operation kind, property, fault, argument) and longest free text. */
const NAME_MAX_CHARS = 200;
const TEXT_MAX_CHARS = 1 << 20;
/** Longest trace: shrunk traces are short; this only bounds a hostile file. */
export const OPERATIONS_MAX = 100_000;
const GUESTS_MAX = 64;
const FAULTS_MAX = 64;
/** SwarmConfig.hostFrames: a power of two, 2^12..2^24 (contract.ts). */
const HOST_FRAMES_MIN = 1 << 12;
const HOST_FRAMES_MAX = 1 << 24;

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
const name = z.string().min(1).max(NAME_MAX_CHARS);
const text = z.string().max(TEXT_MAX_CHARS);
const scalar = z.union([z.number(), z.boolean(), z.string().max(TEXT_MAX_CHARS)]);

export const operationSchema = z.strictObject({
  kind: name,
  args: z.record(name, scalar),
});

const guestSchema = z.strictObject({
  frames: z.number().int().positive().refine(isPowerOfTwo, 'must be a power of two'),
  guestLevels: z.union([z.literal(4), z.literal(5)]),
  eptLevels: z.union([z.literal(4), z.literal(5)]),
  hugePages: z.boolean(),
});

export const swarmConfigSchema = z.strictObject({
  hostFrames: z
    .number()
    .int()
    .min(HOST_FRAMES_MIN)
    .max(HOST_FRAMES_MAX)
    .refine(isPowerOfTwo, 'must be a power of two'),
  guests: z.array(guestSchema).max(GUESTS_MAX),
  weights: z.record(name, z.number().nonnegative()),
  options: z.record(name, scalar),
});

export const violationSchema = z.strictObject({
  property: name,
  kind: name,
  step: z.number().int().min(-1),
  subject: text,
  message: text,
  expected: text,
  actual: text,
});

export const originSchema = z.strictObject({
  seed: z.number().int(),
  path: z.string().max(10_000),
  fastCheckVersion: z.string().max(NAME_MAX_CHARS),
  commit: z.string().max(NAME_MAX_CHARS),
  modelVersion: z.string().max(NAME_MAX_CHARS),
  date: z.string().max(64).refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date'),
});

export const counterexampleSchema = z.strictObject({
  format: z.literal(COUNTEREXAMPLE_FORMAT),
  version: z.literal(COUNTEREXAMPLE_VERSION),
  config: swarmConfigSchema,
  faults: z.array(name).max(FAULTS_MAX),
  operations: z.array(operationSchema).max(OPERATIONS_MAX),
  violation: violationSchema,
  origin: originSchema,
});

/** Compile-time check that the schema's output is assignable to the contract's type. */
type Parsed = z.infer<typeof counterexampleSchema>;
const _schemaMatchesContract: (p: Parsed) => Counterexample = (p) => p;
void _schemaMatchesContract;

/** `$.operations[3].args.order` from a zod issue path. */
export function jsonPath(pathParts: readonly PropertyKey[]): string {
  let out = '$';
  for (const part of pathParts) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$]*$/.test(part)) out += `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

/** The first zod issue as `$.path: message`, one line. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${jsonPath(issue.path)}: ${issue.message.split('\n')[0]}`;
}
