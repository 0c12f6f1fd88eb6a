import * as fs from 'fs';
import * as path from 'path';
import { removeStaleTemps, writeFileAtomic } from './atomic-write';
import { tmpDir } from '../testing/helpers';

test('writes a new file, replaces an old one, and leaves no temp file', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'sub', 'a.json');
  writeFileAtomic(file, 'one');
  writeFileAtomic(file, 'two');
  expect(fs.readFileSync(file, 'utf8')).toBe('two');
  expect(fs.readdirSync(path.dirname(file))).toEqual(['a.json']);
});

test('removeStaleTemps clears the temp files of a killed writer and nothing else', () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, '.a.json.123.abcd.tmp'), '{"trunc');
  fs.writeFileSync(path.join(dir, 'a.json'), '{}');
  expect(removeStaleTemps(dir)).toBe(1);
  expect(fs.readdirSync(dir)).toEqual(['a.json']);
  expect(removeStaleTemps(path.join(dir, 'missing'))).toBe(0);
});

test('a failed write leaves the old file intact', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.json');
  writeFileAtomic(file, 'old');
  expect(() => writeFileAtomic(file, undefined as unknown as string)).toThrow();
  expect(fs.readFileSync(file, 'utf8')).toBe('old');
  expect(fs.readdirSync(dir)).toEqual(['a.json']);
});
