/**
 * A counter-based random generator: the value at index j of a named tensor is a pure function of
 * (seed, name, j), computed with 32-bit integer hashing that the CPU (here) and a WGSL kernel
 * (kernels/layers/random.ts) evaluate identically, so that random model weights generated on the
 * GPU (no CPU arrays even at the 7B shape) equal those the float64 reference generates on the CPU
 * up to the final f32 rounding.
 *
 * The hash is a 32-bit avalanche mix (xor-shift, multiply by odd constants); the stream key is the
 * mix of the seed xor the FNV-1a hash of the tensor's name. Values are uniform on
 * `center + half·[-1, 1)` with 24-bit resolution.
 *
 * @module
 */

/**
 * The 32-bit avalanche mix of the generator (a bijection on u32).
 *
 * @example
 * ```ts
 * import { mix32 } from "./hash_random.ts";
 * console.assert(mix32(0) === 0 && mix32(1) !== 1);
 * ```
 *
 * @param x An unsigned 32-bit integer.
 * @returns Its mix.
 */
export function mix32(x: number): number {
  x >>>= 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/**
 * The FNV-1a hash of a string's UTF-16 code units (the stream id of a named tensor).
 *
 * @example
 * ```ts
 * import { fnv1a } from "./hash_random.ts";
 * console.assert(fnv1a("a") !== fnv1a("b"));
 * ```
 *
 * @param s The name.
 * @returns An unsigned 32-bit hash.
 */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let j = 0; j < s.length; j++) h = Math.imul(h ^ s.charCodeAt(j), 0x01000193) >>> 0;
  return h >>> 0;
}

/**
 * The stream key of tensor `name` under `seed`.
 *
 * @example
 * ```ts
 * import { streamKey } from "./hash_random.ts";
 * console.assert(streamKey(0, "w") !== streamKey(1, "w"));
 * ```
 *
 * @param seed An integer seed (taken modulo 2³²).
 * @param name The tensor's name.
 * @returns The key.
 */
export function streamKey(seed: number, name: string): number {
  return mix32((mix32(seed >>> 0) ^ fnv1a(name)) >>> 0);
}

/** The added constant between the two mixing rounds. */
export const HASH_ROUND_CONSTANT = 0x9e3779b9;

/**
 * The value in [-1, 1) at `index` of the stream `key`: `(h >> 8)·2⁻²³ - 1` with
 * `h = mix(mix(index ^ key) + 0x9e3779b9)`; exact in f32.
 *
 * @example
 * ```ts
 * import { hashSigned, streamKey } from "./hash_random.ts";
 * const x = hashSigned(streamKey(0, "w"), 5);
 * console.assert(x >= -1 && x < 1);
 * ```
 *
 * @param key The stream key ({@linkcode streamKey}).
 * @param index The element index (u32).
 * @returns A value in [-1, 1).
 */
export function hashSigned(key: number, index: number): number {
  const h = mix32((mix32((index ^ key) >>> 0) + HASH_ROUND_CONSTANT) >>> 0);
  return (h >>> 8) * 2 ** -23 - 1;
}

/**
 * A uniform random tensor's data, `center + half·x` with x from {@linkcode hashSigned}, computed
 * in f32 arithmetic on f32-rounded `center` and `half`, as the GPU kernel does (a GPU that fuses
 * the multiply-add may differ in the last bit where `center` is not 0).
 *
 * @example
 * ```ts
 * import { hashUniform } from "./hash_random.ts";
 * const d = hashUniform(7, "w", 10, 0, 0.5);
 * console.assert(d.length === 10 && d.every((v) => Math.abs(v) <= 0.5));
 * ```
 *
 * @param seed The seed.
 * @param name The tensor's name.
 * @param n Number of elements.
 * @param center Center of the interval.
 * @param half Half-width of the interval.
 * @returns The values.
 */
export function hashUniform(
  seed: number,
  name: string,
  n: number,
  center: number,
  half: number,
): Float64Array {
  const key = streamKey(seed, name);
  const out = new Float64Array(n);
  // f32 arithmetic with f32 operands, as the GPU kernel computes it.
  const c = Math.fround(center), h = Math.fround(half);
  for (let j = 0; j < n; j++) out[j] = Math.fround(c + Math.fround(h * hashSigned(key, j)));
  return out;
}
