/**
 * Parsing untrusted JSON files (counterexamples from a colleague, a CI artifact, a state file):
 * bounded size, data only. JSON.parse never evaluates code; the reviver additionally refuses
 * the keys that could reach an object's prototype if the data were later merged or spread
 * (`__proto__`, `constructor`, `prototype`), anywhere in the document.
 */
import * as fs from 'fs';

/** Largest file any loader reads: a shrunk trace is kilobytes; 8 MiB leaves room for long ones. */
export const JSON_FILE_MAX_BYTES = 8 * 1024 * 1024;

const DANGEROUS_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** A file that cannot be accepted; `message` names the file and the JSON path. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

class DangerousKey extends Error {}

/** Reads and parses `file`, refusing oversized, malformed or prototype-touching documents. */
export function readJsonFile(file: string, maxBytes = JSON_FILE_MAX_BYTES): unknown {
  let size: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new InputError(`${file}: not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (size > maxBytes) throw new InputError(`${file}: ${size} bytes is over the ${maxBytes}-byte limit`);
  const buf = fs.readFileSync(file);
  // The file may have grown between stat and read.
  if (buf.length > maxBytes) throw new InputError(`${file}: over the ${maxBytes}-byte limit`);
  return parseJsonText(buf.toString('utf8'), file);
}

/** Parses `text` (named `source` in messages) with the dangerous-key reviver. */
export function parseJsonText(text: string, source: string): unknown {
  if (text.trim() === '') throw new InputError(`${source}: empty file`);
  try {
    return JSON.parse(text, function (key, value) {
      if (DANGEROUS_KEYS.has(key)) throw new DangerousKey(key);
      return value;
    });
  } catch (err) {
    if (err instanceof DangerousKey) {
      // JSON.parse without a reviver is safe (it defines own properties), so parse again only
      // to name where the key is.
      const at = findDangerousKey(JSON.parse(text), '$');
      throw new InputError(`${source}: ${at ?? '$'}: forbidden key "${err.message}"`);
    }
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new InputError(`${source}: not valid JSON (${reason}); the file may be truncated`);
  }
}

/** JSON path of the first dangerous key in `value`, or null. Iterative: no recursion limit. */
export function findDangerousKey(value: unknown, root: string): string | null {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, `${at}[${i}]`]));
      continue;
    }
    for (const key of Object.keys(v)) {
      const child = `${at}${/^[A-Za-z_$][\w$]*$/.test(key) ? '.' + key : `[${JSON.stringify(key)}]`}`;
      if (DANGEROUS_KEYS.has(key)) return child;
      stack.push([(v as Record<string, unknown>)[key], child]);
    }
  }
  return null;
}
