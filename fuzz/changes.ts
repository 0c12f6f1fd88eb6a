/**
 * Readable change lists: a 2 MiB fault changes 512 frames the same way, so runs of lines that
 * differ only by numbers each one greater than on the line before are folded into one line
 * with ranges ("hfn 0x400..0x5ff: free -> g0 gfn 0x0..0x1ff (...) [x512]").
 */
const NUM = /0x[0-9a-f]+|\d+/g;

function shape(line: string): { skeleton: string; nums: string[] } {
  const nums = line.match(NUM) ?? [];
  return { skeleton: line.replace(NUM, '#'), nums };
}

function value(n: string): number {
  return n.startsWith('0x') ? parseInt(n, 16) : Number(n);
}

export function foldChanges(lines: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const first = shape(lines[i]!);
    let j = i + 1;
    // Extend while every number that changes goes up by exactly one per line.
    let moving: boolean[] | null = null;
    while (j < lines.length) {
      const next = shape(lines[j]!);
      const prev = shape(lines[j - 1]!);
      if (next.skeleton !== first.skeleton || next.nums.length !== prev.nums.length) break;
      const step = next.nums.map((n, k) => value(n) - value(prev.nums[k]!));
      const m = step.map((d) => d === 1);
      if (step.some((d) => d !== 0 && d !== 1) || !m.some(Boolean) || (moving && m.some((x, k) => x !== moving![k]))) break;
      moving = m;
      j++;
    }
    if (j - i < 3 || !moving) {
      out.push(lines[i]!);
      i++;
      continue;
    }
    const last = shape(lines[j - 1]!).nums;
    let k = 0;
    const folded = lines[i]!.replace(NUM, (n) => {
      const idx = k++;
      return moving![idx] ? `${n}..${last[idx]}` : n;
    });
    out.push(`${folded} [x${j - i}]`);
    i = j;
  }
  return out;
}
