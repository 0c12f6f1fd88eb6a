/**
 * Jest resolver for jest.coverage.config.js: a module that resolves to a source file
 * `<root>/{model,properties,fuzz}/X.ts` (not a test) is loaded from tsc's `<root>/.build/.../X.js`
 * instead, so c8 measures code whose source map it can follow. Every importer (the test file,
 * fuzz/testing helpers, the model's own relative requires inside .build) ends at the same
 * .build path, so each module has one instance. A source without built output (fuzz/testing/,
 * excluded from the build) stays .ts.
 */
const fs = require('fs');
const path = require('path');

const ROOT = __dirname;
const BUILD = path.join(ROOT, '.build');
const MEASURED = ['model', 'properties', 'fuzz'];

/** The built twin of a source path, or undefined when `file` is not one we redirect. */
function builtTwin(file) {
  const rel = path.relative(ROOT, file);
  const top = rel.split(path.sep)[0];
  if (!MEASURED.includes(top) || !rel.endsWith('.ts') || rel.endsWith('.test.ts') || rel.endsWith('.d.ts')) return undefined;
  const twin = path.join(BUILD, rel.replace(/\.ts$/, '.js'));
  return fs.existsSync(twin) ? twin : undefined;
}

module.exports = (request, options) => {
  const resolved = options.defaultResolver(request, options);
  return builtTwin(resolved) ?? resolved;
};
module.exports.builtTwin = builtTwin;
