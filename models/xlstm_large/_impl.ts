// The internal contract between `XlstmLarge` (model.ts) and its backends: the float64 reference
// (reference.ts) and the WebGPU forward (webgpu.ts). A backend registers a factory under its name;
// `XlstmLarge.fromPretrained` / `XlstmLarge.random` pick it by `options.backend`.
//
// Weights reach a backend one tensor at a time (`AsyncIterable<XlstmLargeWeight>`), already under
// their canonical names (the Hugging Face hub layout, weight_mode "single": fused checkpoints are
// split before they get here), checked against the config's shapes, and converted to the storage
// dtype asked for: f32 as Float32Array, f16 as Uint16Array of IEEE half bits. A backend copies
// each tensor where it wants it (e.g. a GPU buffer) and drops the reference, so a 27.5 GB
// checkpoint never sits in CPU memory at once. Every canonical name is yielded exactly once; the
// order is the one of `xlstmLargeWeightSpecs(config)` in weights.ts (embedding, blocks 0..N-1,
// out_norm, lm_head) unless a backend asks otherwise (it must not rely on it).
//
// Canonical names and shapes (Linear weights are (out, in)); D = embeddingDim, NH = numHeads:
//   backbone.embeddings.weight                        (V, D)
//   backbone.blocks.{i}.norm_mlstm.weight             (D)            [.bias (D) if useBias]
//   backbone.blocks.{i}.mlstm_layer.q.weight          (qkDim, D)     [.bias if useBias]
//   backbone.blocks.{i}.mlstm_layer.k.weight          (qkDim, D)     [.bias if useBias]
//   backbone.blocks.{i}.mlstm_layer.v.weight          (vDim, D)      [.bias if useBias]
//   backbone.blocks.{i}.mlstm_layer.ogate_preact.weight (vDim, D)    [.bias if useBias]
//   backbone.blocks.{i}.mlstm_layer.igate_preact.weight (NH, D)      .bias (NH) always
//   backbone.blocks.{i}.mlstm_layer.fgate_preact.weight (NH, D)      .bias (NH) always
//   backbone.blocks.{i}.mlstm_layer.multihead_norm.weight (vDim)     [.bias if useBias]
//   backbone.blocks.{i}.mlstm_layer.out_proj.weight   (D, vDim)      [.bias if useBias]
//   backbone.blocks.{i}.norm_ffn.weight               (D)            [.bias if useBias]
//   backbone.blocks.{i}.ffn.proj_up_gate.weight       (ffnDim, D)    [.bias if useBias]
//   backbone.blocks.{i}.ffn.proj_up.weight            (ffnDim, D)    [.bias if useBias]
//   backbone.blocks.{i}.ffn.proj_down.weight          (D, ffnDim)    [.bias if useBias]
//   backbone.out_norm.weight                          (D)            (only if addOutNorm)
//   lm_head.weight                                    (V, D)         (a copy of the embedding if tied)
//
// Semantics every backend must reproduce (the float64 model in reference.ts is the oracle):
// embedding → per block { x += out_proj(sigmoid(o) · headLayerNorm(mLSTM(q, k, v, cap(i), cap(f))))
// of RMSNorm_mlstm(x); x += proj_down(silu(proj_up_gate(y)) · proj_up(y)) with y = RMSNorm_ffn(x) }
// → RMSNorm_out → lm_head → cap·tanh(logits/cap). The cell is SPEC §1 (exp gate, scale DQK^-1/2,
// eps = config.eps) with states carried; q/k/v heads are contiguous slices of the projections
// (feature h·DH + j is head h, element j).

import type { Tensor } from "../../core/tensor.ts";
import type { MlstmStates, TensorLike } from "../../core/types.ts";
import type { XlstmLargeConfig } from "./config.ts";

/** Storage dtype of the weights (and activations) of a backend. */
export type XlstmLargeDtype = "f32" | "f16";

/** One weight tensor on its way from disk (or a generator) to a backend. */
export interface XlstmLargeWeight {
  /** Canonical name (hub layout, see the table at the top of this file). */
  readonly name: string;
  /** Shape, e.g. (out, in) for Linear weights. */
  readonly shape: readonly number[];
  /** Elements: Float32Array for f32, Uint16Array of half bits for f16. */
  readonly data: Float32Array | Uint16Array;
}

/** The recurrent state of one block: C (B, NH, DQK, DHV), n (B, NH, DQK), m (B, NH). */
export type XlstmLargeBlockState = MlstmStates<TensorLike>;

/** The state of the whole model: one entry per block, in block order. */
export type XlstmLargeState = readonly XlstmLargeBlockState[];

/** What a backend's forward resolves to. */
export interface XlstmLargeImplResult {
  /** Logits (B, S, V), soft-capped. A device tensor stays on the device until read. */
  logits: TensorLike;
  /** The state after the last token of every row (device tensors for the WebGPU backend). */
  state: XlstmLargeState;
}

/** A loaded model on one backend. */
export interface XlstmLargeImpl {
  /** The configuration (with the sizes the weights had). */
  readonly config: XlstmLargeConfig;
  /** Storage dtype. */
  readonly dtype: XlstmLargeDtype;
  /**
   * Runs ids (B rows of S ≥ 1 valid token ids, already validated) from `state` (zeros when
   * undefined; shapes already validated against B) and resolves to the logits and the new state.
   * Must not modify or destroy the given state's tensors.
   */
  forward(
    ids: readonly (readonly number[])[],
    state?: XlstmLargeState,
  ): Promise<XlstmLargeImplResult>;
  /** Frees every resource (GPU buffers); the object is unusable afterwards. */
  destroy(): void;
}

/** Options a backend factory receives. */
export interface XlstmLargeImplOptions {
  /** Storage dtype of weights and activations. */
  dtype: XlstmLargeDtype;
}

/** A backend: builds an implementation from streamed weights or from random weights. */
export interface XlstmLargeBackend {
  /** Name used in `options.backend`, e.g. "webgpu" or "reference". */
  readonly name: string;
  /**
   * Builds a model from weights streamed one at a time (each canonical name exactly once; see the
   * table above). Throws, releasing what it allocated, if the stream throws.
   */
  fromWeights(
    config: XlstmLargeConfig,
    weights: AsyncIterable<XlstmLargeWeight>,
    options: XlstmLargeImplOptions,
  ): Promise<XlstmLargeImpl>;
  /**
   * Optional: random weights generated by the backend itself (e.g. on the GPU, for the 7B
   * benchmark). Without it, `XlstmLarge.random` streams `randomXlstmLargeWeights` through
   * `fromWeights`. Need not match `randomXlstmLargeWeights` value for value.
   */
  random?(
    config: XlstmLargeConfig,
    options: XlstmLargeImplOptions & { seed: number },
  ): Promise<XlstmLargeImpl>;
}

const backends = new Map<string, XlstmLargeBackend>();

/** Registers (or replaces) a backend under its name. */
export function registerXlstmLargeBackend(backend: XlstmLargeBackend): void {
  backends.set(backend.name, backend);
}

/** The backend of that name; throws listing the registered ones. */
export function getXlstmLargeBackend(name: string): XlstmLargeBackend {
  const b = backends.get(name);
  if (!b) {
    throw new RangeError(
      `Option backend must be one of ${
        [...backends.keys()].map((k) => `"${k}"`).join(", ") || "(none registered)"
      }, received ${JSON.stringify(name)}`,
    );
  }
  return b;
}

/** A CPU tensor check helper shared by backends: the state entry as float64 data. */
export type CpuBlockState = MlstmStates<Tensor>;
