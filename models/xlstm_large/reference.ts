/**
 * The float64 CPU model of xLSTM Large: the oracle the WebGPU forward and the Python package are
 * compared with. It reads top to bottom like the architecture:
 *
 *     x = embedding(ids)                                   (B, S, D)
 *     for each block:
 *       y = RMSNorm_mlstm(x)
 *       q, k = y Wqᵀ, y Wkᵀ                                 (B, S, qk_dim) → (B, NH, S, DQK)
 *       v, o = y Wvᵀ, y Woᵀ                                 (B, S, v_dim);  v → (B, NH, S, DHV)
 *       i, f = cap·tanh((y Wiᵀ + bi)/cap), same for f        (B, S, NH) → (B, NH, S), cap = 15
 *       h, state = mLSTM(q, k, v, i, f, state)             chunkwise float64 reference, eps
 *       x += out_proj(sigmoid(o) · MultiHeadLayerNorm(h))   h → (B, S, NH·DHV)
 *       y = RMSNorm_ffn(x)
 *       x += proj_down(silu(proj_up_gate(y)) · proj_up(y))
 *     logits = cap·tanh(lm_head(RMSNorm_out(x)) / cap)     (B, S, V), cap = 30
 *
 * @module
 */

import type { Tensor } from "../../core/tensor.ts";
import type { TensorLike } from "../../core/types.ts";
import { isCpuTensor } from "../../core/validate.ts";
import { f16ToF32 } from "../../io/dtype.ts";
import { mlstmChunkwiseReference } from "../../reference/chunkwise.ts";
import {
  embeddingReference,
  headLayerNormReference,
  linearReference,
  outputGateReference,
  rmsNormReference,
  softCapReference,
  swigluReference,
} from "../../reference/layers.ts";
import type { XlstmLargeConfig } from "./config.ts";
import type {
  XlstmLargeBackend,
  XlstmLargeBlockState,
  XlstmLargeDtype,
  XlstmLargeImpl,
  XlstmLargeImplResult,
  XlstmLargeState,
  XlstmLargeWeight,
} from "./_impl.ts";
import { blockPrefix, xlstmLargeWeightSpecs } from "./weights.ts";

/** (B, S, H·DH) → (B, H, S, DH): split the features into heads, heads before time. */
function toHeads(x: Tensor, H: number): Tensor {
  const [B, S, F] = x.shape;
  const DH = F / H;
  const out = new Float64Array(B * H * S * DH);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      for (let h = 0; h < H; h++) {
        const src = (b * S + s) * F + h * DH, dst = ((b * H + h) * S + s) * DH;
        for (let j = 0; j < DH; j++) out[dst + j] = x.data[src + j];
      }
    }
  }
  return { shape: [B, H, S, DH], data: out };
}

/** (B, H, S, DH) → (B, S, H·DH): the inverse of {@linkcode toHeads}. */
function fromHeads(x: Tensor): Tensor {
  const [B, H, S, DH] = x.shape;
  const F = H * DH;
  const out = new Float64Array(B * S * F);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const src = ((b * H + h) * S + s) * DH, dst = (b * S + s) * F + h * DH;
        for (let j = 0; j < DH; j++) out[dst + j] = x.data[src + j];
      }
    }
  }
  return { shape: [B, S, F], data: out };
}

function add(a: Tensor, b: Tensor): Tensor {
  const out = new Float64Array(a.data.length);
  for (let j = 0; j < out.length; j++) out[j] = a.data[j] + b.data[j];
  return { shape: [...a.shape], data: out };
}

async function cpu(t: TensorLike): Promise<Tensor> {
  return isCpuTensor(t) ? t : await t.read();
}

/** The weights of the float64 model, by canonical name, as float64 tensors. */
export type XlstmLargeReferenceWeights = ReadonlyMap<string, Tensor>;

/** One block's output and new state in the float64 model. */
export interface ReferenceBlockResult {
  /** The residual stream after the block (B, S, D). */
  x: Tensor;
  /** The cell's last states. */
  state: { c: Tensor; n: Tensor; m: Tensor };
}

/**
 * The mLSTM layer of one block in float64: projections, soft-capped gates, the chunkwise cell
 * (states carried), per-head LayerNorm, output gate and out_proj. Input is the RMS-normalized
 * residual stream.
 *
 * @example Shapes
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { mlstmLayerReference, xlstmLargeReferenceWeightsOf } from "./reference.ts";
 * import { randomXlstmLargeWeights } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 5, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * const w = await xlstmLargeReferenceWeightsOf(c, randomXlstmLargeWeights(c, 1));
 * const y = { shape: [1, 3, 64], data: new Float64Array(192).fill(0.5) };
 * const r = await mlstmLayerReference(c, w, 0, y);
 * assert.deepEqual(r.y.shape, [1, 3, 64]);
 * assert.deepEqual(r.state.c.shape, [1, 2, 32, 32]); // qk_dim 64: D·0.5 rounded up to 64
 * ```
 *
 * @param c The configuration.
 * @param w The weights.
 * @param block The block index.
 * @param y The normalized input (B, S, D).
 * @param state The block's state before the input, or undefined for zeros.
 * @returns The layer's output (B, S, D) and the new state.
 */
export async function mlstmLayerReference(
  c: XlstmLargeConfig,
  w: XlstmLargeReferenceWeights,
  block: number,
  y: Tensor,
  state?: XlstmLargeBlockState,
): Promise<{ y: Tensor; state: { c: Tensor; n: Tensor; m: Tensor } }> {
  const p = `${blockPrefix(block)}mlstm_layer.`;
  const W = (n: string) => w.get(p + n)!;
  const B = (n: string) => w.get(p + n);
  const NH = c.numHeads;
  const cap = (t: Tensor) => (c.gateSoftCap > 0 ? softCapReference(t, c.gateSoftCap) : t);
  const q = linearReference(y, W("q.weight"), B("q.bias"));
  const k = linearReference(y, W("k.weight"), B("k.bias"));
  const v = linearReference(y, W("v.weight"), B("v.bias"));
  const o = linearReference(y, W("ogate_preact.weight"), B("ogate_preact.bias"));
  const i = cap(linearReference(y, W("igate_preact.weight"), W("igate_preact.bias")));
  const f = cap(linearReference(y, W("fgate_preact.weight"), W("fgate_preact.bias")));
  const [Bt, S] = y.shape;
  const gate = (t: Tensor): Tensor => {
    const r = toHeads(t, NH);
    return { shape: [Bt, NH, S], data: r.data };
  };
  const inputs = {
    q: toHeads(q, NH),
    k: toHeads(k, NH),
    v: toHeads(v, NH),
    i: gate(i),
    f: gate(f),
    ...(state
      ? { cInitial: await cpu(state.c), nInitial: await cpu(state.n), mInitial: await cpu(state.m) }
      : {}),
  };
  const { h, last } = await mlstmChunkwiseReference(inputs, {
    chunkSize: c.chunkSize,
    eps: c.eps,
    returnLastStates: true,
  });
  const hn = headLayerNormReference(fromHeads(h), {
    numHeads: NH,
    eps: c.normEps,
    weight: W("multihead_norm.weight"),
    ...(B("multihead_norm.bias") ? { bias: B("multihead_norm.bias")! } : {}),
  });
  const out = linearReference(outputGateReference(o, hn), W("out_proj.weight"), B("out_proj.bias"));
  return { y: out, state: last as { c: Tensor; n: Tensor; m: Tensor } };
}

/**
 * The SwiGLU feed-forward of one block in float64: `proj_down(silu(proj_up_gate(y)) · proj_up(y))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { ffnReference, xlstmLargeReferenceWeightsOf } from "./reference.ts";
 * import { randomXlstmLargeWeights } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 5, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * const w = await xlstmLargeReferenceWeightsOf(c, randomXlstmLargeWeights(c, 1));
 * const y = ffnReference(c, w, 0, { shape: [1, 1, 64], data: new Float64Array(64) });
 * assert.ok(y.data.every((x) => x === 0)); // no biases: zero in, zero out
 * ```
 *
 * @param c The configuration.
 * @param w The weights.
 * @param block The block index.
 * @param y The normalized input (B, S, D).
 * @returns (B, S, D).
 */
export function ffnReference(
  c: XlstmLargeConfig,
  w: XlstmLargeReferenceWeights,
  block: number,
  y: Tensor,
): Tensor {
  const p = `${blockPrefix(block)}ffn.`;
  const gate = linearReference(
    y,
    w.get(p + "proj_up_gate.weight")!,
    w.get(p + "proj_up_gate.bias"),
  );
  const up = linearReference(y, w.get(p + "proj_up.weight")!, w.get(p + "proj_up.bias"));
  if (y.shape[y.shape.length - 1] !== c.embeddingDim) {
    throw new RangeError(
      `Argument y must end in D = ${c.embeddingDim}, received (${y.shape.join(", ")})`,
    );
  }
  return linearReference(
    swigluReference(gate, up),
    w.get(p + "proj_down.weight")!,
    w.get(p + "proj_down.bias"),
  );
}

/**
 * The whole float64 forward: embedding, the blocks with their states, out norm, lm head, logit
 * soft cap.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { xlstmLargeForwardReference, xlstmLargeReferenceWeightsOf } from "./reference.ts";
 * import { randomXlstmLargeWeights } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 5, embeddingDim: 64, numBlocks: 2, numHeads: 2 });
 * const w = await xlstmLargeReferenceWeightsOf(c, randomXlstmLargeWeights(c, 1));
 * const { logits, state } = await xlstmLargeForwardReference(c, w, [[0, 1, 2]]);
 * assert.deepEqual(logits.shape, [1, 3, 5]);
 * assert.equal(state.length, 2);
 * ```
 *
 * @param c The configuration.
 * @param w The weights.
 * @param ids Token ids (B rows of S), validated by the caller or by the embedding.
 * @param state The state before the ids (one entry per block) or undefined for zeros.
 * @returns Logits (B, S, V) and the new state.
 */
export async function xlstmLargeForwardReference(
  c: XlstmLargeConfig,
  w: XlstmLargeReferenceWeights,
  ids: readonly (readonly number[])[],
  state?: XlstmLargeState,
): Promise<{ logits: Tensor; state: { c: Tensor; n: Tensor; m: Tensor }[] }> {
  let x = embeddingReference(ids, w.get("backbone.embeddings.weight")!);
  const next: { c: Tensor; n: Tensor; m: Tensor }[] = [];
  for (let b = 0; b < c.numBlocks; b++) {
    const p = blockPrefix(b);
    const y = rmsNormReference(
      x,
      w.get(p + "norm_mlstm.weight"),
      c.normEps,
      w.get(p + "norm_mlstm.bias"),
    );
    const layer = await mlstmLayerReference(c, w, b, y, state?.[b]);
    x = add(x, layer.y);
    next.push(layer.state);
    const z = rmsNormReference(
      x,
      w.get(p + "norm_ffn.weight"),
      c.normEps,
      w.get(p + "norm_ffn.bias"),
    );
    x = add(x, ffnReference(c, w, b, z));
  }
  if (c.addOutNorm) {
    x = rmsNormReference(
      x,
      w.get("backbone.out_norm.weight"),
      c.normEps,
      w.get("backbone.out_norm.bias"),
    );
  }
  let logits = linearReference(x, w.get("lm_head.weight")!);
  if (c.outputLogitSoftCap > 0) logits = softCapReference(logits, c.outputLogitSoftCap);
  return { logits, state: next };
}

/**
 * Collects streamed weights into float64 tensors (f16 bits widened exactly), checking that every
 * canonical weight arrives once with its shape.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { xlstmLargeReferenceWeightsOf } from "./reference.ts";
 * import { randomXlstmLargeWeights } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 5, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * const w = await xlstmLargeReferenceWeightsOf(c, randomXlstmLargeWeights(c, 1, "f16"));
 * assert.ok(w.get("lm_head.weight")!.data instanceof Float64Array);
 * ```
 *
 * @param c The configuration.
 * @param weights The stream.
 * @returns The weights by name.
 * @throws {RangeError} If a weight is unknown, repeated, misshapen or missing.
 */
export async function xlstmLargeReferenceWeightsOf(
  c: XlstmLargeConfig,
  weights: AsyncIterable<XlstmLargeWeight>,
): Promise<Map<string, Tensor>> {
  const specs = new Map(xlstmLargeWeightSpecs(c).map((s) => [s.name, s.shape]));
  const out = new Map<string, Tensor>();
  for await (const wt of weights) {
    const shape = specs.get(wt.name);
    if (!shape) throw new RangeError(`Weight "${wt.name}" is not part of this configuration`);
    if (out.has(wt.name)) throw new RangeError(`Weight "${wt.name}" arrived twice`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (wt.shape.join() !== shape.join() || wt.data.length !== n) {
      throw new RangeError(
        `Weight "${wt.name}" has shape (${
          wt.shape.join(", ")
        }) and ${wt.data.length} elements, expected (${shape.join(", ")})`,
      );
    }
    const f32 = wt.data instanceof Uint16Array ? f16ToF32(wt.data) : wt.data;
    out.set(wt.name, { shape: [...shape], data: Float64Array.from(f32) });
  }
  const missing = [...specs.keys()].filter((k) => !out.has(k));
  if (missing.length) throw new RangeError(`Weights missing: ${missing.slice(0, 5).join(", ")}`);
  return out;
}

class ReferenceImpl implements XlstmLargeImpl {
  readonly config: XlstmLargeConfig;
  readonly dtype: XlstmLargeDtype;
  #w: Map<string, Tensor> | undefined;

  constructor(config: XlstmLargeConfig, dtype: XlstmLargeDtype, w: Map<string, Tensor>) {
    this.config = config;
    this.dtype = dtype;
    this.#w = w;
  }

  async forward(
    ids: readonly (readonly number[])[],
    state?: XlstmLargeState,
  ): Promise<XlstmLargeImplResult> {
    if (!this.#w) throw new Error("This XlstmLarge model was destroyed");
    return await xlstmLargeForwardReference(this.config, this.#w, ids, state);
  }

  destroy(): void {
    this.#w = undefined;
  }
}

/**
 * The "reference" backend: the float64 CPU model. With dtype "f16" the weights are rounded to
 * half precision on the way in (then widened), so it measures what f16 storage costs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { referenceBackend } from "./reference.ts";
 * assert.equal(referenceBackend.name, "reference");
 * ```
 */
export const referenceBackend: XlstmLargeBackend = {
  name: "reference",
  async fromWeights(config, weights, options) {
    return new ReferenceImpl(
      config,
      options.dtype,
      await xlstmLargeReferenceWeightsOf(config, weights),
    );
  },
};
