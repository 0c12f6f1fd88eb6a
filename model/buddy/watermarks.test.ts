import { calculateMinFreeKbytes, intSqrt, multFrac, zoneWatermarks } from './watermarks';

describe('watermarks (mm/page_alloc.c __setup_per_zone_wmarks)', () => {
  test('int_sqrt is floor(sqrt)', () => {
    expect(intSqrt(0)).toBe(0);
    expect(intSqrt(15)).toBe(3);
    expect(intSqrt(16)).toBe(4);
    expect(intSqrt(2 ** 30)).toBe(32768);
    expect(intSqrt(2 ** 37)).toBe(370727); // 370727^2 = 137438511529 <= 2^37 < 370728^2
    expect(intSqrt(2 ** 52 - 1)).toBe(2 ** 26 - 1);
    // (2^26 + 1)^2 - 1: Math.sqrt rounds up to 2^26 + 1, and the correction brings it back down.
    expect(intSqrt((2 ** 26 + 1) ** 2 - 1)).toBe(2 ** 26);
  });

  test('mult_frac(x, n, d) = x / d * n + (x % d) * n / d', () => {
    expect(multFrac(262144, 10, 10000)).toBe(262); // 26*10 + 2144*10/10000 = 260 + 2
    expect(multFrac(1024, 10, 10000)).toBe(1);
    expect(multFrac(9999, 1, 10000)).toBe(0);
  });

  test('calculate_min_free_kbytes clamps to [128, 262144]', () => {
    expect(calculateMinFreeKbytes(512)).toBe(128); // sqrt(8192) = 90 -> floor 128
    expect(calculateMinFreeKbytes(4096)).toBe(256); // sqrt(65536)
    expect(calculateMinFreeKbytes(2 ** 33)).toBe(262144); // sqrt(2^37) = 370727 -> ceiling
  });

  // Hand computation, per size: lowmem_kbytes = frames * 4; min_free_kbytes =
  // int_sqrt(lowmem_kbytes * 16); min = min_free_kbytes / 4; tmp = max(min / 4,
  // mult_frac(frames, 10, 10000)); low = min + tmp; high = min + 2 * tmp.
  test.each([
    // 4 MiB: sqrt(16384 * 4) = 256 kB -> min 64; tmp = max(16, 1) = 16.
    [1024, { min: 64, low: 80, high: 96 }],
    // 16 MiB: sqrt(16384 * 16) = 512 kB -> min 128; tmp = max(32, 4) = 32.
    [4096, { min: 128, low: 160, high: 192 }],
    // 1 GiB: sqrt(2^20 * 16) = 4096 kB -> min 1024; tmp = max(256, 262) = 262 (scale factor wins).
    [2 ** 18, { min: 1024, low: 1286, high: 1548 }],
    // 4 GiB: sqrt(2^22 * 16) = 8192 kB -> min 2048; tmp = max(512, 1048) = 1048.
    [2 ** 20, { min: 2048, low: 3096, high: 4144 }],
    // 64 GiB: sqrt(2^26 * 16) = 32768 kB -> min 8192; tmp = max(2048, 16777) = 16777.
    [2 ** 24, { min: 8192, low: 24969, high: 41746 }],
  ])('zone of %i frames', (frames, marks) => {
    expect(zoneWatermarks(frames)).toEqual(marks);
  });

  test('min <= low <= high, and a bad size is refused', () => {
    for (let f = 1024; f <= 2 ** 24; f *= 2) {
      const w = zoneWatermarks(f);
      expect(w.min).toBeLessThanOrEqual(w.low);
      expect(w.low).toBeLessThanOrEqual(w.high);
    }
    expect(() => zoneWatermarks(0)).toThrow(RangeError);
    expect(() => zoneWatermarks(0)).toThrow('zoneWatermarks: managed pages 0');
    // int_sqrt takes an unsigned long: a negative or fractional input is a caller's bug.
    expect(() => intSqrt(-1)).toThrow('intSqrt: -1');
    expect(() => intSqrt(1.5)).toThrow('intSqrt: 1.5');
  });
});
