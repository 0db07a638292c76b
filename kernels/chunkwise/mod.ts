/**
 * WebGPU chunkwise mLSTM forward kernels: `chunkwise--limit_chunk`, `chunkwise--xl_chunk` (TFLA)
 * and `chunkwise--xl_chunk_siging`, as registry kernels ({@linkcode chunkwiseKernels}) and as a
 * launcher ({@linkcode chunkwiseForwardWebgpu}) that can keep the chunk-boundary states on the GPU.
 *
 * Design (WGSL from one template per kernel family in `_wgsl.ts`, fully unrolled over register
 * tiles with vec4; all dispatches of a forward in one command buffer, no read-back in between):
 * 1. gates, grid (NC, B·NH), 64 threads: logsig(f) (f32-accurate log1p), cumulative sums within each
 *    query block of the parallel kernel plus block totals, suffix sums a, chunk totals g and
 *    max a, and the exact row maxima of the intra-chunk gate matrix (exp gate). All sums Kahan.
 * 2. per group of heads (groups keep the chunk-boundary states within one binding):
 *    initial states into slot 0 (or zeros); the recurrent state kernel, grid (DQK/64, DHV/64,
 *    heads), 256 threads holding a 64 × 64 tile of C in registers (4 × 4 per thread) and walking
 *    the chunks, keys staged 32 at a time, writing C, n, m at every chunk boundary (f32,
 *    (heads, NC + 1, ...)); the parallel kernel, grid (DHV/128, ceil(L/64), NC · heads), 256
 *    threads, a 64-row × 128-column tile of h per workgroup (4 × 8 per thread): the inter-chunk
 *    product q̃ C_{k-1} (DQK staged 32 at a time), then the causal 64 × 64 key blocks (G = Q Kᵀ
 *    4 × 4 per thread, gate weights with the row's final stabilizer known up front, P through
 *    workgroup memory, H += P V 4 × 8 per thread); the normalizer sums ride along as vec4 (no
 *    reductions); the last states copied out. Where the head dims are multiples of 4, q, k, v,
 *    C and h move as vec4 (16-byte accesses; q and k are transposed into workgroup memory by
 *    scalar stores in a 2-way-conflict order). Register prefetch of the next sub-blocks and the
 *    inter-chunk product fused into the diagonal block exist as tile options (`tiles`), off by
 *    default: both were slower on the H200. `tiles.parallel.trimDiagonal` (issue #14, off until
 *    measured by bench/speed_ab.ts) skips, in the diagonal key block, the value products of key
 *    groups above a subgroup's rows and the score products of subgroups whose 4 × 8 sub-blocks lie
 *    above the diagonal. `tiles.parallel.rowsPerThread: 8` (issue #14, opt-in until measured;
 *    with `TY: 8` the same 64-row blocks on 128 threads) holds 8 query rows per thread in the
 *    value products (two vec4s of q̃ or P per step: 1 B of workgroup memory per FMA instead of
 *    1.5 at TN 8) and scores 8 × 4 per thread.
 *    Workgroup storage: parallel 29–42 KiB (lavapipe 32 KiB, NVIDIA 48 KiB; 10 KiB tiles for 16 KiB
 *    devices), state 16 KiB, gates 12·L bytes. Dispatches per forward: 1 + 4 per head group
 *    (3 without last states); one group unless the states exceed a binding.
 * Speed (H200, TFLA shape B·S = 65,536, NH 16, DQK 128, DHV 256, f32, forward, GPU timestamps,
 * interleaved A/B; bench/results/h200_tfla_fw_v2_ab.txt): L 64 about 11 ms (state kernel 2.8–3.5,
 * parallel 7.9), L 128 and 256 about 15.6–17.5; the first version took 16.7–18.5, 18.8 and
 * 21.8 ms. The GPU is shared: timestamps of a time-sliced GPU run up to 2–3x longer, so compare
 * variants interleaved (bench/fw_ab.ts), not across separate sweeps.
 * Tile sizes can be overridden (`tiles`) for tuning; chunk sizes: limit_chunk 1..64, xl any size
 * the gate kernel's workgroup storage allows (about 2,600 on 32 KiB).
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
  chunkwiseHeadGroup,
  type ChunkwiseOptions,
  type ChunkwiseSaved,
  type ChunkwiseSavedGroup,
  type ChunkwiseTileOverrides,
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
