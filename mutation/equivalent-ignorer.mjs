/**
 * A Stryker ignorer (PluginKind.Ignore) that reads mutation/equivalent-mutants.json and ignores
 * the nodes listed there: { file, line, code, reason }. A node is ignored when its file matches,
 * it starts on that line and its source text starts with `code`; Stryker then reports its
 * mutants as ignored with the recorded reason instead of as survivors.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const listFile = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'equivalent-mutants.json');
const entries = JSON.parse(readFileSync(listFile, 'utf8')).mutants;

function shouldIgnore(p) {
  const loc = p.node?.loc;
  const file = p.hub?.file?.opts?.filename;
  if (!loc || !file || entries.length === 0) return undefined;
  for (const e of entries) {
    if (loc.start.line !== e.line || !file.endsWith(e.file)) continue;
    const code = p.hub.file.code?.slice(p.node.start, p.node.end) ?? '';
    if (code.startsWith(e.code)) return `equivalent: ${e.reason}`;
  }
  return undefined;
}

export const strykerPlugins = [declareValuePlugin(PluginKind.Ignore, 'equivalent-mutants', { shouldIgnore })];
