/**
 * `chunkwise--limit_chunk`: the chunkwise mLSTM (exponential input gate) with one chunk of at most
 * 64 steps per workgroup of the parallel kernel (the "FLA-style" baseline of mlstm_kernels): each
 * workgroup computes a whole chunk's L × DHV output of one head (64 query rows, DHV / 16 columns
 * per thread), where `chunkwise--xl_chunk` tiles a chunk over several workgroups (query blocks ×
 * 128-column DHV tiles). Same gate, state and inter-chunk kernels as xl_chunk. On devices whose
 * workgroup storage cannot hold a whole-chunk tile (WebGPU's 16 KiB default) it uses xl's tiles.
 *
 * @module
 */

import type { MlstmKernel } from "../../core/types.ts";
import { chunkwiseForwardWebgpu, type ChunkwiseOptions, type ChunkwiseVariant } from "./forward.ts";

/**
 * The variant: exponential gate, one chunk (chunkSize ≤ 64) per workgroup.
 *
 * @example
 * ```ts
 * import { LIMIT_CHUNK } from "./limit_chunk.ts";
 * console.assert(LIMIT_CHUNK.name === "chunkwise--limit_chunk");
 * ```
 */
export const LIMIT_CHUNK: ChunkwiseVariant = {
  name: "chunkwise--limit_chunk",
  gate: "exp",
  tiling: "limit_chunk",
};

/**
 * The `chunkwise--limit_chunk` kernel: exponential input gate, chunkSize 1..64 (default 64), any
 * S ≥ 1, initial and last states, f32 or f16 storage (`dtype`), CPU or device tensors.
 *
 * @example
 * ```ts no-eval
 * import { limitChunkKernel } from "./limit_chunk.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 1, S: 10, DQK: 16, DHV: 16 }, new Random(0));
 * const { h } = await limitChunkKernel.forward(x, { chunkSize: 64 });
 * console.assert(h.shape.join() === "1,1,10,16");
 * ```
 */
export const limitChunkKernel: MlstmKernel = {
  name: LIMIT_CHUNK.name,
  backend: "webgpu",
  form: "chunkwise",
  inputGate: "exp",
  supportsStates: true,
  forward: (inputs, options?: ChunkwiseOptions) =>
    chunkwiseForwardWebgpu(LIMIT_CHUNK, inputs, options),
};
