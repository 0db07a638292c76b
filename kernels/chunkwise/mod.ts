/**
 * WebGPU chunkwise mLSTM forward kernels: `chunkwise--limit_chunk`, `chunkwise--xl_chunk` (TFLA)
 * and `chunkwise--xl_chunk_siging`, as registry kernels ({@linkcode chunkwiseKernels}) and as a
 * launcher ({@linkcode chunkwiseForwardWebgpu}) that can keep the chunk-boundary states on the GPU.
 *
 * @example Run xl_chunk on CPU tensors
 * ```ts no-eval
 * import { chunkwiseKernels } from "./mod.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const xl = chunkwiseKernels.find((k) => k.name === "chunkwise--xl_chunk")!;
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 100, DQK: 16, DHV: 32 }, new Random(3));
 * const { h } = await xl.forward(x, { chunkSize: 64 });
 * console.assert(h.shape.join() === "1,2,100,32");
 * ```
 *
 * @module
 */

import type { MlstmKernel } from "../../core/types.ts";
import { limitChunkKernel } from "./limit_chunk.ts";
import { xlChunkKernel } from "./xl_chunk.ts";
import { xlChunkSigingKernel } from "./xl_chunk_siging.ts";

export {
  checkChunkSize,
  type ChunkwiseForwardResult,
  chunkwiseForwardWebgpu,
  type ChunkwiseOptions,
  type ChunkwiseSaved,
  type ChunkwiseTiling,
  type ChunkwiseVariant,
  DEFAULT_CHUNK_SIZE,
  LIMIT_CHUNK_MAX,
  releaseChunkwiseScratch,
} from "./forward.ts";
export { LIMIT_CHUNK, limitChunkKernel } from "./limit_chunk.ts";
export { XL_CHUNK, xlChunkKernel } from "./xl_chunk.ts";
export { XL_CHUNK_SIGING, xlChunkSigingKernel } from "./xl_chunk_siging.ts";

/**
 * The WebGPU chunkwise kernels, for the registry: limit_chunk, xl_chunk, xl_chunk_siging.
 *
 * @example
 * ```ts
 * import { chunkwiseKernels } from "./mod.ts";
 * console.assert(chunkwiseKernels.map((k) => k.name).includes("chunkwise--xl_chunk_siging"));
 * ```
 */
export const chunkwiseKernels: readonly MlstmKernel[] = [
  limitChunkKernel,
  xlChunkKernel,
  xlChunkSigingKernel,
];
