import { foldChanges } from './changes';

test('runs of lines whose numbers step by one fold into ranges', () => {
  const lines = Array.from({ length: 512 }, (_, i) => `hfn 0x${(0x400 + i).toString(16)}: free -> g0 gfn 0x${i.toString(16)} (ept-fault: zero-fill 2M)`);
  expect(foldChanges(lines)).toEqual(['hfn 0x400..0x5ff: free -> g0 gfn 0x0..0x1ff (ept-fault: zero-fill 2M) [x512]']);
});

test('short runs and unrelated lines stay as they are', () => {
  const lines = ['g0: spawn pid 1 (cr3 gfn 0x0)', 'hfn 0x10: free -> g0 gfn 0x1 (a)', 'hfn 0x11: free -> g0 gfn 0x2 (a)', 'TLB: INVLPG vpid 1 pcid 1 va 0x1000'];
  expect(foldChanges(lines)).toEqual(lines);
});

test('a run stops where the step changes', () => {
  const lines = ['p 1', 'p 2', 'p 3', 'p 5', 'p 6'];
  expect(foldChanges(lines)).toEqual(['p 1..3 [x3]', 'p 5', 'p 6']);
});
