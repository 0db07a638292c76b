/**
 * A seeded, reproducible random generator (xoshiro128** seeded through splitmix32) with
 * uniform and normal draws, so that tests and notebooks can recreate their inputs exactly.
 *
 * @module
 */

import { sizeOf, type Tensor } from "./tensor.ts";

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Seeded pseudo-random generator. The same seed gives the same sequence on every platform.
 *
 * @example Reproducible draws
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random } from "./random.ts";
 * const a = new Random(42), b = new Random(42);
 * assert.ok(a.normal() === b.normal() && a.uniform() === b.uniform());
 * ```
 */
export class Random {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare: number | undefined;

  /**
   * Creates a generator.
   *
   * @param seed Any integer; different seeds give independent-looking streams.
   */
  constructor(seed: number) {
    const st = { s: Math.trunc(seed) | 0 };
    this.#s0 = splitmix32(st);
    this.#s1 = splitmix32(st);
    this.#s2 = splitmix32(st);
    this.#s3 = splitmix32(st);
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /**
   * Next 32 random bits as an unsigned integer.
   *
   * @returns An integer in [0, 2^32).
   */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /**
   * A uniform draw in [lo, hi) with 53 random bits.
   *
   * @param lo Lower bound. @default {0}
   * @param hi Upper bound. @default {1}
   * @returns The draw.
   */
  uniform(lo = 0, hi = 1): number {
    const a = this.nextUint32() >>> 5, b = this.nextUint32() >>> 6;
    const u = (a * 67108864 + b) / 9007199254740992;
    return lo + (hi - lo) * u;
  }

  /**
   * A normal draw (Box–Muller, pairs cached).
   *
   * @param mean Mean. @default {0}
   * @param std Standard deviation. @default {1}
   * @returns The draw.
   */
  normal(mean = 0, std = 1): number {
    let z: number;
    if (this.#spare !== undefined) {
      z = this.#spare;
      this.#spare = undefined;
    } else {
      let u = 0;
      while (u === 0) u = this.uniform();
      const v = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      z = r * Math.cos(2 * Math.PI * v);
      this.#spare = r * Math.sin(2 * Math.PI * v);
    }
    return mean + std * z;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** How {@linkcode randomTensor} draws its elements. */
export interface RandomTensorOptions {
  /** Distribution. @default {"normal"} */
  dist?: "normal" | "uniform";
  /** Mean of the normal, or the center of the uniform interval. @default {0} */
  mean?: number;
  /** Standard deviation of the normal, or half the width of the uniform interval. @default {1} */
  std?: number;
}

/**
 * A float64 tensor of random elements drawn from `rng`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random, randomTensor } from "./random.ts";
 * const t = randomTensor([2, 3], new Random(1), { mean: 5, std: 0 });
 * assert.ok(t.data.every((x) => x === 5));
 * ```
 *
 * @param shape The shape.
 * @param rng The generator (advanced by the number of elements).
 * @param options Distribution, mean and spread.
 * @returns A new tensor.
 */
export function randomTensor(
  shape: readonly number[],
  rng: Random,
  options: RandomTensorOptions = {},
): Tensor {
  const { dist = "normal", mean = 0, std = 1 } = options;
  const data = new Float64Array(sizeOf(shape));
  for (let j = 0; j < data.length; j++) {
    data[j] = dist === "normal" ? rng.normal(mean, std) : rng.uniform(mean - std, mean + std);
  }
  return { shape: [...shape], data };
}
