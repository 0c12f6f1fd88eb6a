/**
 * Zone watermarks as Linux computes them, for one zone (pure functions over page counts).
 *
 * Sources: mm/page_alloc.c `calculate_min_free_kbytes` (init_per_zone_wmark_min in older
 * kernels), `__setup_per_zone_wmarks`; lib/math/int_sqrt.c `int_sqrt`; include/linux/math.h
 * `mult_frac`.
 *
 * Assumptions: one zone (ZONE_NORMAL) holds all of the allocator's memory, so the zone's share
 * `pages_min * managed / lowmem_pages` is all of pages_min; managed pages = the allocator's
 * frames (no memmap or firmware reservations); `nr_free_buffer_pages()` (the lowmem size the
 * kernel feeds calculate_min_free_kbytes) is taken as the same managed pages.
 */
import {
  MIN_FREE_KBYTES_CEIL,
  MIN_FREE_KBYTES_FLOOR,
  PAGE_SHIFT,
  WATERMARK_SCALE_FACTOR,
} from '../constants';

export interface Watermarks {
  readonly min: number;
  readonly low: number;
  readonly high: number;
}

export type WatermarkName = keyof Watermarks;

/** KiB per page: `PAGE_SIZE >> 10`. */
const KBYTES_PER_PAGE = 1 << (PAGE_SHIFT - 10);
/** watermark_scale_factor is in units of 1/10000 of the zone (mm/page_alloc.c). */
const WATERMARK_SCALE_DIVISOR = 10000;

/** lib/math/int_sqrt.c `int_sqrt`: floor(sqrt(x)) for x >= 0, exact for x < 2^53. */
export function intSqrt(x: number): number {
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`intSqrt: ${x}`);
  let r = Math.floor(Math.sqrt(x));
  // Math.sqrt is correctly rounded, but floor of a rounded value can be one off near squares.
  while (r * r > x) r--;
  while ((r + 1) * (r + 1) <= x) r++;
  return r;
}

/** include/linux/math.h `mult_frac(x, n, d)`: x * n / d without overflowing x * n. */
export function multFrac(x: number, n: number, d: number): number {
  const q = Math.floor(x / d);
  const r = x % d;
  return q * n + Math.floor((r * n) / d);
}

/**
 * mm/page_alloc.c `calculate_min_free_kbytes`: `int_sqrt(lowmem_kbytes * 16)`, clamped to
 * [128, 262144] ("min_free_kbytes = sqrt(lowmem_kbytes * 16)").
 */
export function calculateMinFreeKbytes(lowmemKbytes: number): number {
  const raw = intSqrt(lowmemKbytes * 16);
  return Math.min(MIN_FREE_KBYTES_CEIL, Math.max(MIN_FREE_KBYTES_FLOOR, raw));
}

/**
 * mm/page_alloc.c `__setup_per_zone_wmarks` for the only zone:
 *   min  = min_free_kbytes >> (PAGE_SHIFT - 10)
 *   tmp  = max(min >> 2, mult_frac(managed, watermark_scale_factor, 10000))
 *   low  = min + tmp,  high = min + 2 * tmp
 */
export function zoneWatermarks(
  managedPages: number,
  watermarkScaleFactor: number = WATERMARK_SCALE_FACTOR,
): Watermarks {
  if (!Number.isSafeInteger(managedPages) || managedPages <= 0) {
    throw new RangeError(`zoneWatermarks: managed pages ${managedPages}`);
  }
  const minFreeKbytes = calculateMinFreeKbytes(managedPages * KBYTES_PER_PAGE);
  const min = Math.floor(minFreeKbytes / KBYTES_PER_PAGE);
  const tmp = Math.max(
    Math.floor(min / 4),
    multFrac(managedPages, watermarkScaleFactor, WATERMARK_SCALE_DIVISOR),
  );
  return { min, low: min + tmp, high: min + 2 * tmp };
}
