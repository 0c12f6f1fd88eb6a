import * as path from 'path';
import * as real from '../engine';
import { loadEngine, REAL_ENGINE_PATH, type Engine } from './engine-port';
import { FAKE_ENGINE_PATH } from '../testing/fake-engine';

// Compile-time: fuzz/engine.ts exports exactly the surface the campaign machinery calls.
const conforms: Engine = real;

test('loadEngine loads fuzz/engine by default, with every function the campaign calls', () => {
  const ref = loadEngine(REAL_ENGINE_PATH);
  expect(ref.modulePath).toBe(REAL_ENGINE_PATH);
  expect(ref.engine.MODEL_VERSION).toBe(conforms.MODEL_VERSION);
  expect(ref.engine.inventory().properties.length).toBeGreaterThan(0);
  expect(loadEngine(FAKE_ENGINE_PATH).engine.MODEL_VERSION).toBe('fake-1');
});

test('loadEngine refuses a module that is not an engine', () => {
  expect(() => loadEngine(path.join(__dirname, '..', 'contract'))).toThrow(/does not export inventory\(\)/);
});
