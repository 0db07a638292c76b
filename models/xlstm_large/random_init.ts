/**
 * Random weights of xLSTM Large from the counter-based hash of core/hash_random.ts: every tensor
 * is uniform on `center ± half` with a per-name interval ({@linkcode xlstmLargeInit}), and element
 * j of tensor `name` depends only on (seed, name, j). The WebGPU backend generates them on the GPU
 * (kernels/layers/random.ts); {@linkcode hashRandomXlstmLargeWeights} streams the same numbers
 * from the CPU (f32-rounded, or f16 bits), so that two backends fed with one seed hold the same
 * weights and can be compared directly.
 *
 * The intervals keep activations of order one at any width: Linear weights have standard deviation
 * 1/√in; norm weights are 1 ± 0.1; the input-gate bias spans -4…2 (cold and hot gates), the
 * forget-gate bias 1…5 (long memory, as the 7B's `linspace(3, 6)` suggests).
 *
 * @module
 */

import type { XlstmLargeConfig } from "./config.ts";
import type { XlstmLargeDtype, XlstmLargeWeight } from "./_impl.ts";
import { randomXlstmLargeWeights, xlstmLargeWeightSpecs } from "./weights.ts";
export { type UniformInit, xlstmLargeInit } from "./weights.ts";

/**
 * The canonical weight names and shapes of a configuration, in the order of the hub layout
 * (embedding, blocks, out_norm, lm_head); biases only where the configuration has them.
 *
 * @example
 * ```ts
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { xlstmLargeWeightShapes } from "./random_init.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 10, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * console.assert(xlstmLargeWeightShapes(c).get("lm_head.weight")!.join() === "10,64");
 * ```
 *
 * @param c The configuration.
 * @returns Name → shape.
 */
export function xlstmLargeWeightShapes(c: XlstmLargeConfig): Map<string, number[]> {
  // One list of names for every backend: the checkpoint planner's (weights.ts).
  return new Map(xlstmLargeWeightSpecs(c).map((s) => [s.name, [...s.shape]]));
}

/**
 * Streams the hash-random weights of a configuration from the CPU, one tensor at a time, in the
 * backend contract's format (f32 values, or f16 bits), each element `fround(center + half·x)`.
 *
 * @example
 * ```ts
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { hashRandomXlstmLargeWeights } from "./random_init.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 10, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * let n = 0;
 * for await (const w of hashRandomXlstmLargeWeights(c, 1, "f32")) n += w.data.length;
 * console.assert(n > 0);
 * ```
 *
 * @param config The configuration.
 * @param seed The seed.
 * @param dtype f32 or f16.
 * @returns The weights.
 */
export async function* hashRandomXlstmLargeWeights(
  config: XlstmLargeConfig,
  seed: number,
  dtype: XlstmLargeDtype,
): AsyncGenerator<XlstmLargeWeight> {
  yield* randomXlstmLargeWeights(config, seed, dtype);
}
