/**
 * `chunkwise--xl_chunk_siging` (TFLA, mLSTMsig): the tiled chunkwise mLSTM with the sigmoid input
 * gate; no stabilizer state; `normalize` (default true) divides by max(|q̃·n|, 1) + eps.
 *
 * @module
 */

import type { MlstmKernel } from "../../core/types.ts";
import { chunkwiseForwardWebgpu, type ChunkwiseOptions, type ChunkwiseVariant } from "./forward.ts";

/**
 * The variant: sigmoid input gate, tiled chunks.
 *
 * @example
 * ```ts
 * import { XL_CHUNK_SIGING } from "./xl_chunk_siging.ts";
 * console.assert(XL_CHUNK_SIGING.name === "chunkwise--xl_chunk_siging");
 * ```
 */
export const XL_CHUNK_SIGING: ChunkwiseVariant = {
  name: "chunkwise--xl_chunk_siging",
  gate: "sig",
  tiling: "xl_chunk",
};

/**
 * The `chunkwise--xl_chunk_siging` kernel: sigmoid input gate, `normalize` option (default true),
 * any chunkSize (default 64), any S ≥ 1, initial states (C, n; mInitial is ignored) and last states
 * (m returned as zeros), f32 or f16 storage, CPU or device tensors.
 *
 * @example
 * ```ts no-eval
 * import { xlChunkSigingKernel } from "./xl_chunk_siging.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 1, S: 70, DQK: 16, DHV: 16 }, new Random(0));
 * const { h } = await xlChunkSigingKernel.forward(x, { normalize: false });
 * console.assert(h.shape.join() === "1,1,70,16");
 * ```
 */
export const xlChunkSigingKernel: MlstmKernel = {
  name: XL_CHUNK_SIGING.name,
  backend: "webgpu",
  form: "chunkwise",
  inputGate: "sig",
  supportsStates: true,
  forward: (inputs, options?: ChunkwiseOptions) =>
    chunkwiseForwardWebgpu(XL_CHUNK_SIGING, inputs, options),
};
