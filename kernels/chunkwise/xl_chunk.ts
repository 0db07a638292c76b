/**
 * `chunkwise--xl_chunk` (TFLA): the chunkwise mLSTM (exponential input gate) with chunks of any
 * size (64 to 1024 and beyond, as the device's workgroup storage allows), the intra-chunk product
 * tiled over query blocks, key blocks and DHV.
 *
 * @module
 */

import type { MlstmKernel } from "../../core/types.ts";
import { chunkwiseForwardWebgpu, type ChunkwiseOptions, type ChunkwiseVariant } from "./forward.ts";

/**
 * The variant: exponential gate, tiled chunks.
 *
 * @example
 * ```ts
 * import { XL_CHUNK } from "./xl_chunk.ts";
 * console.assert(XL_CHUNK.name === "chunkwise--xl_chunk");
 * ```
 */
export const XL_CHUNK: ChunkwiseVariant = {
  name: "chunkwise--xl_chunk",
  gate: "exp",
  tiling: "xl_chunk",
};

/**
 * The `chunkwise--xl_chunk` kernel: exponential input gate, any chunkSize (default 64; 128 to 512
 * for long sequences), any S ≥ 1, initial and last states, f32 or f16 storage, CPU or device tensors.
 *
 * @example
 * ```ts no-eval
 * import { xlChunkKernel } from "./xl_chunk.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 300, DQK: 16, DHV: 32 }, new Random(0));
 * const { h, last } = await xlChunkKernel.forward(x, { chunkSize: 128, returnLastStates: true });
 * console.assert(h.shape.join() === "1,2,300,32" && last !== undefined);
 * ```
 */
export const xlChunkKernel: MlstmKernel = {
  name: XL_CHUNK.name,
  backend: "webgpu",
  form: "chunkwise",
  inputGate: "exp",
  supportsStates: true,
  forward: (inputs, options?: ChunkwiseOptions) =>
    chunkwiseForwardWebgpu(XL_CHUNK, inputs, options),
};
