/**
 * Exact conversions between float32 and the 16-bit float formats of checkpoints: IEEE half
 * (f16) and bfloat16 (bf16), as raw 16-bit patterns in Uint16Arrays. Widening is exact; narrowing
 * rounds to nearest, ties to even, like PyTorch and WGSL's `f16()`. No platform APIs: runs in Deno
 * and in browsers.
 *
 * @module
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// Native half arrays (Deno 2, recent browsers) convert whole arrays in C++ with the same
// round-to-nearest-even; the scalar functions below are the fallback and the definition.
const F16Array = (globalThis as unknown as { Float16Array?: Float32ArrayConstructor }).Float16Array;

/**
 * The float value of an IEEE half bit pattern (exact).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { f16BitsToNumber } from "./dtype.ts";
 * assert.equal(f16BitsToNumber(0x3c00), 1);
 * assert.equal(f16BitsToNumber(0x0001), 2 ** -24); // smallest subnormal
 * assert.equal(f16BitsToNumber(0xfc00), -Infinity);
 * ```
 *
 * @param h The 16-bit pattern.
 * @returns The value.
 */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * The IEEE half bit pattern nearest to a number (ties to even; overflow to ±Infinity; NaN kept).
 * The number is first rounded to float32, as a float32 tensor would be.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { numberToF16Bits } from "./dtype.ts";
 * assert.equal(numberToF16Bits(1), 0x3c00);
 * assert.equal(numberToF16Bits(65520), 0x7c00); // rounds up past the largest half
 * assert.equal(numberToF16Bits(1 + 2 ** -11), 0x3c00); // tie to even
 * ```
 *
 * @param x The value.
 * @returns The 16-bit pattern.
 */
export function numberToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  let m = b & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const he = e - 127 + 15;
  if (he >= 31) return sign | 0x7c00;
  if (he <= 0) {
    // Subnormal half (or zero): value = m' · 2^-24 with m' = round(|x| · 2^24).
    if (he < -10) return sign; // below half the smallest subnormal
    m |= 0x800000;
    const shift = 14 - he; // 24-bit mantissa to (10 + he)-bit
    const q = m >>> shift, r = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    const rounded = r > half || (r === half && (q & 1)) ? q + 1 : q;
    return sign | rounded;
  }
  const q = m >>> 13, r = m & 0x1fff;
  let out = (he << 10) | q;
  if (r > 0x1000 || (r === 0x1000 && (q & 1))) out += 1; // may carry into the exponent: correct
  return sign | out;
}

/**
 * The float value of a bfloat16 bit pattern (exact: the upper half of a float32).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bf16BitsToNumber } from "./dtype.ts";
 * assert.equal(bf16BitsToNumber(0x3f80), 1);
 * ```
 *
 * @param h The 16-bit pattern.
 * @returns The value.
 */
export function bf16BitsToNumber(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/**
 * The bfloat16 bit pattern nearest to a number (ties to even; NaN stays NaN).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { numberToBf16Bits } from "./dtype.ts";
 * assert.equal(numberToBf16Bits(1), 0x3f80);
 * assert.equal(numberToBf16Bits(1 + 2 ** -8), 0x3f80); // tie to even
 * ```
 *
 * @param x The value.
 * @returns The 16-bit pattern.
 */
export function numberToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return (b >>> 16) | 0x40;
  const q = b >>> 16, r = b & 0xffff;
  return (r > 0x8000 || (r === 0x8000 && (q & 1)) ? q + 1 : q) & 0xffff;
}

/**
 * Widens half bit patterns to float32 (exact).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { f16ToF32 } from "./dtype.ts";
 * assert.deepEqual([...f16ToF32(new Uint16Array([0x3c00, 0xc000]))], [1, -2]);
 * ```
 *
 * @param bits Half patterns.
 * @returns A new Float32Array.
 */
export function f16ToF32(bits: Uint16Array): Float32Array {
  if (F16Array) return new Float32Array(new F16Array(bits.buffer, bits.byteOffset, bits.length));
  const out = new Float32Array(bits.length);
  for (let j = 0; j < bits.length; j++) out[j] = f16BitsToNumber(bits[j]);
  return out;
}

/**
 * Widens bfloat16 bit patterns to float32 (exact).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bf16ToF32 } from "./dtype.ts";
 * assert.deepEqual([...bf16ToF32(new Uint16Array([0x3f80]))], [1]);
 * ```
 *
 * @param bits bfloat16 patterns.
 * @returns A new Float32Array.
 */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const o32 = new Uint32Array(out.buffer);
  for (let j = 0; j < bits.length; j++) o32[j] = bits[j] << 16;
  return out;
}

/**
 * Rounds numbers to half bit patterns (nearest, ties to even).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toF16Bits } from "./dtype.ts";
 * assert.deepEqual([...toF16Bits([1, 0.5])], [0x3c00, 0x3800]);
 * ```
 *
 * @param x Values.
 * @returns A new Uint16Array.
 */
export function toF16Bits(x: ArrayLike<number>): Uint16Array {
  if (F16Array) {
    // Round through float32 first (as the scalar path does), then to half.
    const h = new F16Array(x instanceof Float32Array ? x : Float32Array.from(x));
    return new Uint16Array(h.buffer, h.byteOffset, h.length);
  }
  const out = new Uint16Array(x.length);
  for (let j = 0; j < x.length; j++) out[j] = numberToF16Bits(x[j]);
  return out;
}

/**
 * Rounds numbers to bfloat16 bit patterns (nearest, ties to even).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toBf16Bits } from "./dtype.ts";
 * assert.deepEqual([...toBf16Bits([1, -2])], [0x3f80, 0xc000]);
 * ```
 *
 * @param x Values.
 * @returns A new Uint16Array.
 */
export function toBf16Bits(x: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let j = 0; j < x.length; j++) out[j] = numberToBf16Bits(x[j]);
  return out;
}
