/**
 * The test suite as `npm run coverage` runs it under c8: jest.config.js, except that the code
 * under test (model/, properties/, fuzz/) runs as tsc's output in .build/ (`npm run -s build`
 * first), through jest.coverage.resolver.js.
 *
 * Why: under plain jest the model runs as ts-jest's JavaScript in vm functions named by the
 * .ts path, so V8's offsets (into that JavaScript) reach c8 as offsets into the .ts text and
 * land inside comments and identifiers. tsc's output carries .js.map files, which c8 follows
 * back to the .ts, as it already does for the campaign. Test files and fuzz/testing/ (not
 * built) still go through ts-jest; they are not measured.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  resolver: '<rootDir>/jest.coverage.resolver.js',
  workerGracefulExitTimeout: 120000,
};
