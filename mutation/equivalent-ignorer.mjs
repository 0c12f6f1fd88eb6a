/**
 * A Stryker ignorer (PluginKind.Ignore) that reads mutation/equivalent-mutants.json. Stryker
 * reports the mutants of an ignored node (and of everything inside it) as ignored, with the
 * recorded reason, instead of as survivors. The list has two parts:
 *
 * - `mutants`: single nodes, `{ file, line, code, reason }`. A node matches when its file
 *   matches, it starts on that line and its source text starts with `code`.
 * - `diagnostics`: calls whose arguments are text for people, never read by the model or the
 *   properties, `{ callee, argument, reason }`. The argument at index `argument` (every
 *   argument when it is absent) of any call to a function or method named `callee` matches.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const listFile = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'equivalent-mutants.json');
const list = JSON.parse(readFileSync(listFile, 'utf8'));
const entries = list.mutants ?? [];
const diagnostics = list.diagnostics ?? [];

function calleeName(call) {
  const c = call.callee;
  if (c.type === 'Identifier') return c.name;
  if (c.type === 'MemberExpression' && !c.computed && c.property.type === 'Identifier') return c.property.name;
  return undefined;
}

function diagnosticReason(p) {
  if (p.listKey !== 'arguments' || !p.parentPath?.isCallExpression()) return undefined;
  const name = calleeName(p.parentPath.node);
  for (const d of diagnostics) {
    if (d.callee === name && (d.argument === undefined || d.argument === p.key)) return `diagnostic text: ${d.reason}`;
  }
  return undefined;
}

function shouldIgnore(p) {
  const loc = p.node?.loc;
  const file = p.hub?.file?.opts?.filename;
  if (!loc || !file) return undefined;
  const diagnostic = diagnostics.length ? diagnosticReason(p) : undefined;
  if (diagnostic) return diagnostic;
  for (const e of entries) {
    if (loc.start.line !== e.line || !file.endsWith(e.file)) continue;
    const code = p.hub.file.code?.slice(p.node.start, p.node.end) ?? '';
    if (code.startsWith(e.code)) return `equivalent: ${e.reason}`;
  }
  return undefined;
}

export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, 'equivalent-mutants', { shouldIgnore })];
