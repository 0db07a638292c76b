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

import { hashUniform } from "../../core/hash_random.ts";
import { toF16Bits } from "../../io/dtype.ts";
import type { XlstmLargeConfig } from "./config.ts";
import type { XlstmLargeDtype, XlstmLargeWeight } from "./_impl.ts";

/** A uniform interval `center ± half`. */
export interface UniformInit {
  /** Center. */
  readonly center: number;
  /** Half-width. */
  readonly half: number;
}

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
  const D = c.embeddingDim, NH = c.numHeads;
  const m = new Map<string, number[]>();
  const lin = (name: string, out: number, inp: number, bias = c.useBias) => {
    m.set(`${name}.weight`, [out, inp]);
    if (bias) m.set(`${name}.bias`, [out]);
  };
  const norm = (name: string, n: number) => {
    m.set(`${name}.weight`, [n]);
    if (c.useBias) m.set(`${name}.bias`, [n]);
  };
  m.set("backbone.embeddings.weight", [c.vocabSize, D]);
  for (let i = 0; i < c.numBlocks; i++) {
    const b = `backbone.blocks.${i}`;
    norm(`${b}.norm_mlstm`, D);
    lin(`${b}.mlstm_layer.q`, c.qkDim, D);
    lin(`${b}.mlstm_layer.k`, c.qkDim, D);
    lin(`${b}.mlstm_layer.v`, c.vDim, D);
    lin(`${b}.mlstm_layer.ogate_preact`, c.vDim, D);
    lin(`${b}.mlstm_layer.igate_preact`, NH, D, true);
    lin(`${b}.mlstm_layer.fgate_preact`, NH, D, true);
    norm(`${b}.mlstm_layer.multihead_norm`, c.vDim);
    lin(`${b}.mlstm_layer.out_proj`, D, c.vDim);
    norm(`${b}.norm_ffn`, D);
    lin(`${b}.ffn.proj_up_gate`, c.ffnDim, D);
    lin(`${b}.ffn.proj_up`, c.ffnDim, D);
    lin(`${b}.ffn.proj_down`, D, c.ffnDim);
  }
  if (c.addOutNorm) norm("backbone.out_norm", D);
  m.set("lm_head.weight", [c.vocabSize, D]);
  return m;
}

/**
 * The interval of the random init of weight `name` with `shape` (see the module doc).
 *
 * @example
 * ```ts
 * import { xlstmLargeInit } from "./random_init.ts";
 * console.assert(xlstmLargeInit("backbone.blocks.0.norm_ffn.weight", [8]).center === 1);
 * ```
 *
 * @param name Canonical name.
 * @param shape Its shape.
 * @returns Center and half-width.
 */
export function xlstmLargeInit(name: string, shape: readonly number[]): UniformInit {
  if (name.endsWith("igate_preact.bias")) return { center: -1, half: 3 };
  if (name.endsWith("fgate_preact.bias")) return { center: 3, half: 2 };
  if (name === "backbone.embeddings.weight") return { center: 0, half: 1 };
  if (/norm[a-z_]*\.weight$/.test(name)) return { center: 1, half: 0.1 };
  if (name.endsWith(".bias")) return { center: 0, half: 0.1 };
  const fanIn = shape[shape.length - 1]!;
  return { center: 0, half: Math.sqrt(3 / fanIn) };
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
  for (const [name, shape] of xlstmLargeWeightShapes(config)) {
    const { center, half } = xlstmLargeInit(name, shape);
    const n = shape.reduce((a, b) => a * b, 1);
    const f32 = Float32Array.from(hashUniform(seed, name, n, center, half));
    yield { name, shape, data: dtype === "f16" ? toF16Bits(f32) : f32 };
  }
}
