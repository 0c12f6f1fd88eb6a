/**
 * The relations between the x86-64 constants, checked once at load: the model's own set keeps
 * them, and a set that breaks one is refused with the relation named.
 */
import { checkConstantRelations, X86_64 } from './constants';

test('the x86-64 constants keep every relation', () => {
  expect(() => checkConstantRelations(X86_64)).not.toThrow();
  // pageblock_order may equal MAX_PAGE_ORDER (architectures without huge pages).
  expect(() => checkConstantRelations({ ...X86_64, pageblockOrder: X86_64.maxPageOrder })).not.toThrow();
});

test.each([
  [{ pageblockOrder: 11 }, 'pageblock_order must not exceed MAX_PAGE_ORDER'],
  [{ ptEntries: 256 }, 'PT_ENTRIES must be 2^PT_INDEX_BITS'],
  [{ huge2mShift: 22, huge1gShift: 31 }, 'a PDE maps 512 base pages'],
  [{ huge1gShift: 31 }, 'a PDPTE maps 512 PDEs'],
  [{ pageblockFrames: 1024 }, 'pageblock is one 2 MiB huge page on x86-64'],
])('a set with %j breaks exactly the relation "%s"', (change, what) => {
  expect(() => checkConstantRelations({ ...X86_64, ...change })).toThrow(new Error(`constants: ${what}`));
});

test('every broken relation is named', () => {
  expect(() => checkConstantRelations({ ...X86_64, ptIndexBits: 8 })).toThrow(
    new Error('constants: PT_ENTRIES must be 2^PT_INDEX_BITS; a PDE maps 512 base pages; a PDPTE maps 512 PDEs'),
  );
});
