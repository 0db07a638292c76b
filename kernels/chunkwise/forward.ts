/**
 * The launcher of the WebGPU chunkwise mLSTM forward (`chunkwise--limit_chunk`,
 * `chunkwise--xl_chunk`, `chunkwise--xl_chunk_siging`): validation, uploads, limit checks, and
 * one command buffer of dispatches per call (gates, then per group of heads: initial states,
 * recurrent state kernel, parallel kernel, last states).
 *
 * @module
 */

import { formatShape, type Tensor } from "../../core/tensor.ts";
import type {
  DeviceTensor,
  InputGate,
  MlstmForwardResult,
  MlstmInputs,
  MlstmOptions,
  MlstmStates,
  TensorLike,
} from "../../core/types.ts";
import { assertFinite, isCpuTensor, validateMlstmInputs } from "../../core/validate.ts";
import { assertDeviceInputsFinite, isLiveF32, uploadDocumentStarts } from "../_common.ts";
import { hasDocumentStarts } from "../../core/documents.ts";
import {
  checkBindingSize,
  checkWorkgroupLimits,
  DispatchBatch,
  getGpu,
  getPipeline,
  type Gpu,
  GpuError,
  GpuTensor,
  readTensors,
} from "../runtime.ts";
import {
  checkTiles,
  COPY_WG,
  gateBlockTotalsOffset,
  GATES_WG,
  gatesChunksPerGroup,
  type GatesParams,
  gatesStorageBytes,
  gatesWgsl,
  limitChunkTiles,
  overrideParallelTiles,
  packUniforms,
  PARALLEL_INTERLEAVE_COLUMNS,
  PARALLEL_TRIM_DIAGONAL,
  type ParallelParams,
  parallelStorageBytes,
  parallelTile,
  parallelTiles,
  parallelWgsl,
  type StateParams,
  statesCopyWgsl,
  stateStorageBytes,
  stateTile,
  stateTiles,
  stateWgsl,
  type StorageDtype,
  type UniformValues,
} from "./_wgsl.ts";

/**
 * How a chunkwise variant tiles a chunk.
 *
 * @example
 * ```ts
 * import type { ChunkwiseTiling } from "./forward.ts";
 * const tilings: ChunkwiseTiling[] = ["limit_chunk", "xl_chunk"];
 * console.assert(tilings.length === 2);
 * ```
 */
export type ChunkwiseTiling = "limit_chunk" | "xl_chunk";

/**
 * A chunkwise kernel variant: its registry name, input gate and tiling.
 *
 * @example
 * ```ts
 * import type { ChunkwiseVariant } from "./forward.ts";
 * const v: ChunkwiseVariant = { name: "chunkwise--xl_chunk", gate: "exp", tiling: "xl_chunk" };
 * console.assert(v.gate === "exp");
 * ```
 */
export interface ChunkwiseVariant {
  /** Registry name, e.g. `"chunkwise--xl_chunk"`. */
  readonly name: string;
  /** The input gate. */
  readonly gate: InputGate;
  /** `"limit_chunk"`: one chunk (≤ 64 steps) per workgroup; `"xl_chunk"`: chunks of any size, tiled. */
  readonly tiling: ChunkwiseTiling;
}

/**
 * Options of the WebGPU chunkwise forward, beyond {@linkcode MlstmOptions}.
 *
 * @example
 * ```ts
 * import type { ChunkwiseOptions } from "./forward.ts";
 * const o: ChunkwiseOptions = { chunkSize: 256, dtype: "f16", tiles: { parallel: { TN: 16 } } };
 * console.assert(o.chunkSize === 256);
 * ```
 */
export interface ChunkwiseOptions extends MlstmOptions {
  /** Fill the outputs with NaN before the kernels run, so that unwritten elements show. @default {false} */
  poisonOutputs?: boolean;
  /**
   * Keep what a backward pass needs on the GPU and return it as `saved`
   * ({@linkcode ChunkwiseSaved}): the states at every chunk boundary, one buffer per group of
   * heads (see `maxHeadsPerGroup`), and the gate statistics with the per-step stabilizer and
   * normalizer. The states are allocated for the call (the pooled scratch that calls without it
   * reuse is handed back to the buffer pool first, so that the two do not coexist).
   * @default {false}
   */
  keepForBackward?: boolean;
  /**
   * Tuning knob: override tile sizes of the parallel kernel (TX = TY threads, TN output columns
   * per thread, BD staged DQK sub-block) and of the state kernel (TX, TY threads, TN columns of C
   * per thread, BJ staged keys). @default {chosen from DHV and the device's workgroup storage}
   */
  tiles?: ChunkwiseTileOverrides;
  /**
   * Most heads per group of dispatches. Heads are processed in groups so that a group's
   * chunk-boundary states fit one storage binding and its parallel grid one dispatch dimension;
   * this caps the group size further (tests use it to exercise the grouping; `forwardBackward`
   * to make the groups of kept states fit the backward's buffers). Groups are balanced: with G
   * groups, each holds ceil(B·NH / G) heads but the last.
   * @default {as many as the limits allow}
   */
  maxHeadsPerGroup?: number;
  /**
   * Internal (issue #14, `setBackwardScoresFromForward` in kernels/backward/backward.ts; set by
   * `forwardBackward`, not meant for other callers): a (B, NH, S, DQK) f32 GpuTensor, the
   * backward's dk buffer, into which the parallel kernel writes every chunk's raw score block
   * q·kᵀ (64 × 64 floats from the chunk's first row of dk, `ParallelParams.scoresOut` in
   * ./_wgsl.ts) for the backward's fused stats kernel to read. Written only with
   * `keepForBackward` at chunk size 64 with 64-row query blocks of 4 rows per thread (the default
   * tiles), DQK a multiple of 64 and 8 storage buffers per shader stage; `saved.scores` is this
   * tensor where it was written. @default {undefined} (none)
   */
  scoresOut?: GpuTensor;
}

/** The keys of {@linkcode ChunkwiseOptions} beyond {@linkcode MlstmOptions}'. */
const CHUNKWISE_OPTION_NAMES = [
  "poisonOutputs",
  "keepForBackward",
  "tiles",
  "maxHeadsPerGroup",
  "scoresOut",
] as const satisfies readonly Exclude<keyof ChunkwiseOptions, keyof MlstmOptions>[];

/**
 * The chunk-boundary states of one group of heads in {@linkcode ChunkwiseSaved}.
 *
 * @example
 * ```ts no-eval
 * import { chunkwiseForwardWebgpu, XL_CHUNK } from "./mod.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 3, S: 100, DQK: 16, DHV: 16 }, new Random(0));
 * const { saved } = await chunkwiseForwardWebgpu(XL_CHUNK, x, {
 *   keepForBackward: true,
 *   maxHeadsPerGroup: 2,
 * });
 * console.assert(saved!.groups.map((g) => g.heads).join() === "2,1");
 * saved!.destroy();
 * ```
 */
export interface ChunkwiseSavedGroup {
  /** The group's first head (index into the B·NH heads). */
  h0: number;
  /** Heads in the group. */
  heads: number;
  /** C at every chunk boundary, (heads, NC + 1, DQK, DHV); slot k is the state before chunk k. */
  statesC: GpuTensor;
  /** n and m at every chunk boundary, (heads, NC + 1, DQK + 1): n, then m. */
  statesNM: GpuTensor;
}

/**
 * What {@linkcode chunkwiseForwardWebgpu} keeps for a backward pass (on the GPU, f32): the
 * chunk-boundary states C, n, m of every head, stabilized by m as in the recurrent form (slot 0:
 * the initial states, or zeros and m = 0; the sigmoid gate's m is 0 throughout), in one buffer
 * pair per group of heads (the states of all heads may exceed one storage binding: 2.16 GB at
 * B·NH 128, S 8192, chunk 64, DQK 128, DHV 256), and the gate statistics. The caller owns these
 * tensors and frees them with {@linkcode ChunkwiseSaved.destroy} (or each tensor's `destroy()`).
 * The WebGPU backward takes them as its `savedStates` option instead of recomputing the states.
 *
 * @example
 * ```ts no-eval
 * import { chunkwiseForwardWebgpu, XL_CHUNK } from "./mod.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 1, S: 100, DQK: 16, DHV: 16 }, new Random(0));
 * const { saved } = await chunkwiseForwardWebgpu(XL_CHUNK, x, { keepForBackward: true });
 * console.assert(saved!.statesC.shape.join() === "1,3,16,16"); // NC + 1 = 3 boundaries
 * console.assert(saved!.groups.length === 1 && saved!.groups[0]!.statesC === saved!.statesC);
 * saved!.destroy();
 * ```
 */
export interface ChunkwiseSaved {
  /** The first head group's C: all heads, (B·NH, NC + 1, DQK, DHV), when there is one group. */
  statesC: GpuTensor;
  /** The first head group's n and m: all heads, (B·NH, NC + 1, DQK + 1), with one group. */
  statesNM: GpuTensor;
  /** Every head group's states, in head order (one group unless the states exceed a binding). */
  groups: ChunkwiseSavedGroup[];
  /**
   * Gate scratch, f32 (layout in kernels/chunkwise/_wgsl.ts, `gatesWgsl`): 8 per-step sections of
   * B·NH·S (cumulative logsig(f) within the step's query block of `BQ` steps, ĩ, a, intra-chunk row
   * max, mComb (the stabilizer m_t), nrm = max(|den|, exp(-m_t)), the sum of logsig(f) after the
   * step to the end of its query block, logsig(f) itself), then per chunk (g, max a) pairs, then per
   * chunk the `ceil(L / BQ)` query-block totals. mComb is 0 and nrm max(|den|, 1) (1 when
   * unnormalized) for the sigmoid gate. Log gates are floored at −1e30; at a document start
   * logsig(f) is the floor.
   */
  gates: GpuTensor;
  /** The input gate of the forward that kept them. */
  gate: InputGate;
  /** Chunk size. */
  L: number;
  /** Query block of the parallel kernel (steps per block of the gate statistics). */
  BQ: number;
  /** Number of chunks. */
  NC: number;
  /**
   * Internal (issue #14): the `scoresOut` tensor, where the parallel kernel wrote the chunks' raw
   * score blocks into it; the caller owns it (`destroy` leaves it alone).
   */
  scores?: GpuTensor;
  /** Frees every tensor: the states of every group and the gate scratch. */
  destroy(): void;
}

/**
 * Result of {@linkcode chunkwiseForwardWebgpu}: h, last states, and optionally what a backward needs.
 *
 * @example
 * ```ts no-eval
 * import { chunkwiseForwardWebgpu, XL_CHUNK } from "./mod.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 1, S: 9, DQK: 16, DHV: 16 }, new Random(0));
 * const r = await chunkwiseForwardWebgpu(XL_CHUNK, x, { returnLastStates: true });
 * console.assert(r.last !== undefined && r.saved === undefined);
 * ```
 */
export interface ChunkwiseForwardResult extends MlstmForwardResult {
  /** States and gate statistics kept on the GPU (with `keepForBackward`). */
  saved?: ChunkwiseSaved;
}

/**
 * Largest chunk size of `limit_chunk` (one query block of the parallel kernel).
 *
 * @example
 * ```ts
 * import { LIMIT_CHUNK_MAX } from "./forward.ts";
 * console.assert(LIMIT_CHUNK_MAX === 64);
 * ```
 */
export const LIMIT_CHUNK_MAX = 64;

/**
 * Default chunk size of every chunkwise variant (as in {@linkcode MlstmOptions}).
 *
 * @example
 * ```ts
 * import { DEFAULT_CHUNK_SIZE } from "./forward.ts";
 * console.assert(DEFAULT_CHUNK_SIZE === 64);
 * ```
 */
export const DEFAULT_CHUNK_SIZE = 64;

let gatesStaged: boolean | undefined = undefined;

/**
 * Issue #14: the staged gate kernel (`GatesParams.staged` in ./_wgsl.ts: the two sequential
 * passes on two threads, coalesced writes, a table of sub-block sums; bit-identical outputs).
 * `undefined` (the default) stages wherever it fits 16 KiB of workgroup storage; `false` restores
 * the unstaged kernel (speed variant `gates0`).
 *
 * @example
 * ```ts
 * import { setForwardGatesStaged } from "./forward.ts";
 * setForwardGatesStaged(false);
 * setForwardGatesStaged(undefined);
 * ```
 *
 * @param on Whether to stage the gate kernel; `undefined` for the default.
 */
export function setForwardGatesStaged(on: boolean | undefined): void {
  gatesStaged = on;
}

let statesFirst = true;

/**
 * Issue #14: with kept states (`keepForBackward`: one buffer pair per head group) and no initial
 * states, the state kernel starts from zero states itself (`StateParams.zeroInit`, no
 * `init-zero` dispatch) and the state kernels of all head groups are dispatched first, then the
 * parallel kernels: the state kernels write disjoint buffers and read nothing another one writes,
 * so that no barrier separates them and the device may run them side by side (one group's state
 * kernel has few workgroups: 256 at the TFLA shape, two per SM by its registers on an H100). On
 * by default since stop 15 (H100, TFLA shape, f32, one training step: 26.82 ms against 26.89,
 * speed variant `statesfirst`); `false` restores the order per group.
 *
 * @example
 * ```ts
 * import { setForwardStatesFirst } from "./forward.ts";
 * setForwardStatesFirst(false);
 * setForwardStatesFirst(true);
 * ```
 *
 * @param on Whether to dispatch every group's state kernel first.
 */
export function setForwardStatesFirst(on: boolean): void {
  statesFirst = on;
}

/**
 * Checks a chunk size for a variant and a device, before anything is dispatched.
 *
 * @example
 * ```ts
 * import { checkChunkSize } from "./forward.ts";
 * let msg = "";
 * try { checkChunkSize({ name: "chunkwise--limit_chunk", gate: "exp", tiling: "limit_chunk" }, 128, 32768); } catch (e) { msg = (e as Error).message; }
 * console.assert(msg.includes("chunkSize"));
 * ```
 *
 * @param variant The variant.
 * @param L The chunk size.
 * @param workgroupStorage The device's maxComputeWorkgroupStorageSize in bytes (omitted: only the
 *   checks that need no device).
 * @param resets Whether the call has document starts (the gate kernel then holds one more value
 *   per step).
 * @throws {RangeError} Naming chunkSize, the value and the allowed range.
 */
export function checkChunkSize(
  variant: ChunkwiseVariant,
  L: number,
  workgroupStorage?: number,
  resets = false,
): void {
  if (!Number.isInteger(L) || L < 1) {
    throw new RangeError(`Option chunkSize must be a positive integer, received ${L}`);
  }
  if (variant.tiling === "limit_chunk" && L > LIMIT_CHUNK_MAX) {
    throw new RangeError(
      `Option chunkSize of ${variant.name} must be at most ${LIMIT_CHUNK_MAX} (one chunk per workgroup), received ${L}: use chunkwise--xl_chunk for larger chunks`,
    );
  }
  // The gate kernel holds 2 values per step (3 with document starts) and one per query block
  // (16 steps or more).
  if (workgroupStorage === undefined) return;
  const need = gatesStorageBytes({ gate: variant.gate, dtype: "f32", L, BQ: 16, resets });
  if (need > workgroupStorage) {
    const max = Math.floor(workgroupStorage / (resets ? 12.25 : 8.25));
    throw new RangeError(
      `Option chunkSize ${L} of ${variant.name} needs ${need} bytes of workgroup storage in the gate kernel, above this device's ${workgroupStorage}: use chunkSize <= ${max}`,
    );
  }
}

function resolveDtype(
  ts: readonly TensorLike[],
  names: readonly string[],
  fallback: StorageDtype,
): StorageDtype {
  const onGpu: (readonly [DeviceTensor, string])[] = [];
  ts.forEach((t, j) => {
    if (!isCpuTensor(t)) onGpu.push([t, names[j]!]);
  });
  if (onGpu.length === 0) return fallback;
  const d = onGpu[0]![0].dtype;
  for (const [t, n] of onGpu) {
    if (t.dtype !== d) {
      throw new TypeError(
        `Device tensors ${onGpu.map(([, m]) => m).join(", ")} must share one dtype: ${
          onGpu[0]![1]
        } is ${d}, ${n} is ${t.dtype}`,
      );
    }
  }
  return d;
}

/**
 * Heads per group of dispatches of {@linkcode chunkwiseForwardWebgpu}: the per-chunk-boundary
 * states of a group ((NC + 1)·DQK·DHV floats per head) must fit one storage binding and the
 * parallel kernel's grid z (NC · heads) one dispatch dimension; `maxHeadsPerGroup` caps it
 * further. Groups are balanced: the most heads per group over the fewest groups, spread evenly.
 *
 * @example
 * ```ts
 * import { chunkwiseHeadGroup } from "./forward.ts";
 * import assert from "node:assert/strict";
 * const limits = { maxStorageBufferBindingSize: 2 ** 31, maxComputeWorkgroupsPerDimension: 65535 };
 * // B·NH 128, S 8192, chunk 64, DQK 128, DHV 256: 127 heads fit a binding, so 2 groups of 64.
 * assert.equal(chunkwiseHeadGroup(limits, 128, 128, 128, 256), 64);
 * assert.equal(chunkwiseHeadGroup(limits, 5, 128, 128, 256, 2), 2); // groups of 2, 2, 1
 * ```
 *
 * @param limits The device's maxStorageBufferBindingSize and maxComputeWorkgroupsPerDimension.
 * @param BH Batch × heads.
 * @param NC Chunks per head.
 * @param DQK Query/key head dimension.
 * @param DHV Value head dimension.
 * @param maxHeadsPerGroup A further cap. @default {Infinity}
 * @returns Heads per group, or 0 when one head's states exceed a binding.
 */
export function chunkwiseHeadGroup(
  limits: Pick<
    GPUSupportedLimits,
    "maxStorageBufferBindingSize" | "maxComputeWorkgroupsPerDimension"
  >,
  BH: number,
  NC: number,
  DQK: number,
  DHV: number,
  maxHeadsPerGroup = Infinity,
): number {
  const most = Math.min(
    BH,
    Math.floor(limits.maxStorageBufferBindingSize / ((NC + 1) * DQK * DHV * 4)),
    Math.floor(limits.maxComputeWorkgroupsPerDimension / NC),
    maxHeadsPerGroup,
  );
  // Balanced groups (the state kernel's time does not shrink with fewer heads).
  return most < 1 ? 0 : Math.ceil(BH / Math.ceil(BH / most));
}

/**
 * Runs a chunkwise forward on WebGPU. Inputs are validated first (core/validate.ts), then the chunk
 * size and the device limits (workgroup storage, binding sizes, bindings per stage) are checked;
 * all dispatches go into one command buffer with no read-back in between. CPU tensors in give CPU
 * tensors out (Float32Array data); device tensors in give {@linkcode GpuTensor}s out.
 * Storage: q, k, v, h in `options.dtype` (f32 default; f16 needs `shader-f16`), or the device
 * tensors' dtype; gates, states and all arithmetic in f32. Last states are f32 (B, NH, ...).
 *
 * @example
 * ```ts no-eval
 * import { chunkwiseForwardWebgpu } from "./forward.ts";
 * import { Random, randomMlstmInputs } from "../../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 100, DQK: 16, DHV: 32 }, new Random(1));
 * const variant = { name: "chunkwise--xl_chunk", gate: "exp", tiling: "xl_chunk" } as const;
 * const { h, last } = await chunkwiseForwardWebgpu(variant, x, { chunkSize: 64, returnLastStates: true });
 * console.assert(h.shape.join() === "1,2,100,32" && last!.m.shape.join() === "1,2");
 * ```
 *
 * @param variant Which kernel (gate and tiling).
 * @param inputs q, k, v, i, f and optional initial states (CPU or device tensors).
 * @param options Chunk size (64), eps (1e-6), normalize (sigmoid gate, true), returnLastStates,
 *   dtype, checkFinite (outputs are checked too; device outputs are read back for it),
 *   poisonOutputs, keepForBackward, tiles, maxHeadsPerGroup, documentStarts (packed sequences: the
 *   gate kernel floors logsig(f) at each start and adds the zero state's log gate to the stabilizer).
 * @returns h, the last states when asked for, and `saved` with `keepForBackward`.
 * @throws {TypeError | RangeError} On bad inputs or options (before the GPU is touched).
 * @throws {GpuError} If a device limit is exceeded or the GPU reports an error.
 */
export async function chunkwiseForwardWebgpu(
  variant: ChunkwiseVariant,
  inputs: MlstmInputs,
  options: ChunkwiseOptions = {},
): Promise<ChunkwiseForwardResult> {
  const dims = validateMlstmInputs(inputs, options, {
    inputGate: variant.gate,
    name: variant.name,
    backend: "webgpu",
    extraOptions: CHUNKWISE_OPTION_NAMES,
  });
  const { B, NH, S, DQK, DHV, hasInitialStates } = dims;
  const L = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const mh = options.maxHeadsPerGroup;
  if (mh !== undefined && !(Number.isInteger(mh) && mh >= 1)) {
    throw new RangeError(`Option maxHeadsPerGroup must be a positive integer, received ${mh}`);
  }
  const gate = variant.gate;
  const eps = options.eps ?? 1e-6;
  const normalize = gate === "exp" ? true : (options.normalize ?? true);
  const { q, k, v, i, f } = inputs;
  const dtype = resolveDtype([q, k, v], ["q", "k", "v"], options.dtype ?? "f32");
  if (options.dtype !== undefined && options.dtype !== dtype) {
    throw new TypeError(
      `Option dtype is ${options.dtype} but the device tensors q, k, v are ${dtype}`,
    );
  }
  const gateDtype = resolveDtype([i, f], ["i", "f"], "f32");
  const stateNames = ["cInitial", "nInitial", "mInitial"] as const;
  const stateDtype = hasInitialStates
    ? resolveDtype(stateNames.map((n) => inputs[n]!), stateNames, "f32")
    : "f32";
  const outOnGpu = [q, k, v, i, f, ...stateNames.map((n) => inputs[n])].some((t) =>
    t !== undefined && !isCpuTensor(t)
  );

  checkChunkSize(variant, L);
  const resets = hasDocumentStarts(options.documentStarts);
  const gpu = await getGpu();
  checkChunkSize(variant, L, gpu.limits.maxComputeWorkgroupStorageSize, resets);
  if ((dtype === "f16" || gateDtype === "f16" || stateDtype === "f16") && !gpu.hasF16) {
    throw new GpuError(
      `f16 storage needs the shader-f16 feature, which ${gpu.adapterName} does not offer: use dtype "f32"`,
    );
  }
  if (gpu.limits.maxStorageBuffersPerShaderStage < 7) {
    throw new GpuError(
      `${variant.name} binds 7 storage buffers per stage; ${gpu.adapterName} allows ${gpu.limits.maxStorageBuffersPerShaderStage}`,
    );
  }
  const BH = B * NH;
  const NC = Math.ceil(S / L);
  const N = BH * S;
  const CQ = DQK * DHV;
  const label = `${variant.name} L=${L} DQK=${DQK} DHV=${DHV} ${dtype}`;

  const maxDim = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (NC > maxDim || BH > maxDim) {
    throw new GpuError(
      `${label}: ${NC} chunks of ${BH} heads exceed maxComputeWorkgroupsPerDimension ${maxDim}: use a larger chunkSize or fewer heads per call`,
    );
  }
  const perHead = (NC + 1) * CQ * 4;
  const bhg = chunkwiseHeadGroup(gpu.limits, BH, NC, DQK, DHV, options.maxHeadsPerGroup);
  if (bhg < 1) {
    throw new GpuError(
      `${label}: the ${
        NC + 1
      } chunk-boundary states of one head need ${perHead} bytes, above maxStorageBufferBindingSize ${gpu.limits.maxStorageBufferBindingSize}: use a larger chunkSize or a shorter sequence per call`,
    );
  }
  // Kernel parameters and their limits.
  const wgs = gpu.limits.maxComputeWorkgroupStorageSize;
  const { vec4io: pV4, vec4qk: pQK4, ...pOver } = options.tiles?.parallel ?? {};
  const { vec4io: sV4, ...sOver } = options.tiles?.state ?? {};
  // limit_chunk: one workgroup per chunk and head (all of DHV); xl_chunk: tiles inside a chunk.
  const baseTiles = (variant.tiling === "limit_chunk" ? limitChunkTiles(DHV, wgs) : undefined) ??
    parallelTiles(DHV, wgs);
  const pTiles = overrideParallelTiles(baseTiles, pOver);
  const sTiles = { ...stateTiles(DHV, wgs), ...sOver };
  checkTiles(pTiles, sTiles);
  // vec4 loads and stores of k, v, C, h where the head dims are multiples of 4.
  // Every group's state kernel first (setForwardStatesFirst): kept states, zero initial states.
  const first = statesFirst && (options.keepForBackward ?? false) && !hasInitialStates;
  const stateP: StateParams = {
    gate,
    dtype,
    ...sTiles,
    vec4io: DQK % 4 === 0 && DHV % 4 === 0 && sV4 !== false,
    ...(first ? { zeroInit: true } : {}),
  };
  const parTiles: ParallelParams = {
    gate,
    normalize,
    dtype,
    ...pTiles,
    trimDiagonal: pTiles.trimDiagonal ?? PARALLEL_TRIM_DIAGONAL,
    interleaveColumns: pTiles.interleaveColumns ?? PARALLEL_INTERLEAVE_COLUMNS,
    vec4io: DHV % 4 === 0 && pV4 !== false,
    vec4qk: DQK % 4 === 0 && pQK4 !== false,
  };
  // The chunks' raw score blocks into the backward's dk buffer (scoresOut, forwardBackward):
  // 64-step chunks in one query block of 4 rows per thread, the kept states' path.
  const xs = options.scoresOut;
  if (xs !== undefined && !isLiveF32(xs, gpu, [B, NH, S, DQK])) {
    throw new TypeError(
      `Option scoresOut must be a live f32 GpuTensor (${B}, ${NH}, ${S}, ${DQK}) of the inputs' device`,
    );
  }
  const writeScores = xs !== undefined && (options.keepForBackward ?? false) && L === 64 &&
    (parTiles.rowsPerThread ?? 4) === 4 && parallelTile(parTiles).BQ === 64 &&
    DQK % 64 === 0 && gpu.limits.maxStorageBuffersPerShaderStage >= 8;
  const parP: ParallelParams = writeScores ? { ...parTiles, scoresOut: true } : parTiles;
  const st = stateTile(stateP), pt = parallelTile(parP);
  const gatesP: GatesParams = { gate, dtype: gateDtype, L, BQ: pt.BQ, resets, staged: gatesStaged };
  const gatesG = gatesChunksPerGroup(gatesP);
  checkWorkgroupLimits(gpu, {
    storageBytes: gatesStorageBytes(gatesP),
    invocations: GATES_WG * gatesG,
  }, `${label} gate kernel`);
  checkWorkgroupLimits(
    gpu,
    { storageBytes: stateStorageBytes(stateP), invocations: st.threads },
    `${label} state kernel`,
  );
  checkWorkgroupLimits(
    gpu,
    { storageBytes: parallelStorageBytes(parP), invocations: pt.threads },
    `${label} parallel kernel`,
  );
  const gatesLen = gateBlockTotalsOffset(BH, S, NC) + BH * NC * Math.ceil(L / pt.BQ);
  checkBindingSize(gpu, gatesLen * 4, `${label} gate scratch`);

  const temps: GpuTensor[] = [];
  const releases: (() => void)[] = [];
  const up = (t: TensorLike, dt: StorageDtype): GpuTensor => {
    if (t instanceof GpuTensor && t.gpu === gpu) return t;
    if (!isCpuTensor(t)) {
      throw new TypeError(
        `${variant.name} takes CPU tensors or GpuTensors of the runtime's device, received a device tensor ${
          formatShape(t.shape)
        } of another kind`,
      );
    }
    const g = GpuTensor.fromTensor(gpu, t, dt);
    temps.push(g);
    return g;
  };
  if (options.checkFinite) {
    const named = ([
      ["q", q],
      ["k", k],
      ["v", v],
      ["i", i],
      ["f", f],
      ["cInitial", inputs.cInitial],
      ["nInitial", inputs.nInitial],
      ["mInitial", inputs.mInitial],
    ] as [string, TensorLike | undefined][]).filter(([, t]) => t instanceof GpuTensor);
    await assertDeviceInputsFinite(named as [string, GpuTensor][]);
  }
  const poison = { poison: options.poisonOutputs ?? false };
  const outputs: GpuTensor[] = []; // destroyed if the call fails
  let done = false;
  try {
    const qg = up(q, dtype), kg = up(k, dtype), vg = up(v, dtype);
    const ig = up(i, gateDtype), fg = up(f, gateDtype);
    const init = hasInitialStates ? stateNames.map((n) => up(inputs[n]!, stateDtype)) : undefined;
    const h = GpuTensor.empty(gpu, [B, NH, S, DHV], dtype, poison);
    const keep = options.keepForBackward ?? false;
    // Kept states: one fresh pair per head group (the idle pooled scratch first goes back to the
    // buffer pool, where these allocations find it); otherwise one pooled pair for all groups.
    if (keep) retireScratch(gpu);
    const gates = scratch(gpu, "gates", [gatesLen], keep, releases);
    const groups: ChunkwiseSavedGroup[] = [];
    const pooled = keep ? undefined : {
      statesC: scratch(gpu, "statesC", [bhg, NC + 1, DQK, DHV], false, releases),
      statesNM: scratch(gpu, "statesNM", [bhg, NC + 1, DQK + 1], false, releases),
    };
    for (let g0 = 0; g0 < BH; g0 += bhg) {
      const heads = Math.min(bhg, BH - g0);
      // Kept states are outputs too: poisoned like them, so that an unwritten slot shows.
      const st = pooled ?? {
        statesC: GpuTensor.empty(gpu, [heads, NC + 1, DQK, DHV], "f32", poison),
        statesNM: GpuTensor.empty(gpu, [heads, NC + 1, DQK + 1], "f32", poison),
      };
      if (keep) outputs.push(st.statesC, st.statesNM);
      groups.push({ h0: g0, heads, ...st });
    }
    const last: MlstmStates<GpuTensor> | undefined = options.returnLastStates
      ? {
        c: GpuTensor.empty(gpu, [B, NH, DQK, DHV], "f32", poison),
        n: GpuTensor.empty(gpu, [B, NH, DQK], "f32", poison),
        m: GpuTensor.empty(gpu, [B, NH], "f32", poison),
      }
      : undefined;
    outputs.push(h, ...(last ? [last.c, last.n, last.m] : []));
    if (keep) outputs.push(gates);

    const [gatesPipe, initPipe, statePipe, parPipe, lastPipe] = await Promise.all([
      getPipeline(
        gpu,
        `chunkwise-gates:${JSON.stringify(gatesP)}`,
        () => gatesWgsl(gatesP),
      ),
      // The state kernel writes the zero initial states itself when `first`.
      first ? Promise.resolve(undefined) : hasInitialStates
        ? getPipeline(
          gpu,
          `chunkwise-init:${gate}:${stateDtype}`,
          () => statesCopyWgsl({ mode: "init", gate, dtype: stateDtype }),
        )
        : getPipeline(
          gpu,
          "chunkwise-init-zero",
          () => statesCopyWgsl({ mode: "init-zero", gate, dtype: "f32" }),
        ),
      getPipeline(gpu, `chunkwise-state:${JSON.stringify(stateP)}`, () => stateWgsl(stateP)),
      getPipeline(gpu, `chunkwise-parallel:${JSON.stringify(parP)}`, () => parallelWgsl(parP)),
      options.returnLastStates
        ? getPipeline(
          gpu,
          "chunkwise-last",
          () => statesCopyWgsl({ mode: "last", gate, dtype: "f32" }),
        )
        : Promise.resolve(undefined),
    ]);

    const base: UniformValues = {
      S,
      L,
      NC,
      BH,
      bh0: 0,
      DQK,
      DHV,
      keep: options.keepForBackward ? 1 : 0,
      eps,
      scale: 1 / Math.sqrt(DQK),
      NH,
    };
    // Document starts: per (batch row, step) a u32 flag (states zeroed before the step).
    const rst = resets ? uploadDocumentStarts(gpu, options.documentStarts, B, S) : undefined;
    if (rst) temps.push(rst);
    const batch = new DispatchBatch(gpu);
    batch.dispatch({
      label: `${variant.name} gates`,
      pipeline: gatesPipe,
      buffers: rst ? [ig, fg, gates, rst] : [ig, fg, gates],
      uniforms: packUniforms(base),
      workgroups: [Math.ceil(NC / gatesG), BH],
      flops: gate === "exp" ? N * (L + 20) : N * 40,
      bytes: N * (2 * eb(gateDtype) + 16),
    });
    const copyX = Math.ceil(Math.max(CQ, DQK + 1) / COPY_WG);
    const states = ({ h0: g0, heads: nb, statesC, statesNM }: ChunkwiseSavedGroup) => {
      const uni = packUniforms({ ...base, bh0: g0 });
      if (!first) {
        batch.dispatch({
          label: `${variant.name} initial states`,
          pipeline: initPipe!,
          buffers: init ? [...init, statesC, statesNM] : [statesC, statesNM],
          uniforms: uni,
          workgroups: [copyX, nb],
          // Written once (and read once from the initial states when given).
          bytes: (init ? 2 : 1) * nb * (DQK * DHV + DQK + 1) * 4,
        });
      }
      batch.dispatch({
        label: `${variant.name} states`,
        pipeline: statePipe,
        buffers: [kg, vg, gates, statesC, statesNM],
        uniforms: uni,
        workgroups: [Math.ceil(DQK / st.BK), Math.ceil(DHV / st.BV), nb],
        flops: 2 * nb * S * CQ,
        bytes: nb * (S * ((DQK + DHV) * eb(dtype) + 8) + NC * (CQ + DQK + 1) * 4),
      });
    };
    if (first) groups.forEach(states);
    for (const g of groups) {
      const { h0: g0, heads: nb, statesC, statesNM } = g;
      const uni = packUniforms({ ...base, bh0: g0 });
      if (!first) states(g);
      batch.dispatch({
        label: `${variant.name} parallel`,
        pipeline: parPipe,
        buffers: [qg, kg, vg, gates, statesC, statesNM, h, ...(writeScores ? [xs!] : [])],
        uniforms: uni,
        workgroups: [Math.ceil(DHV / pt.BV), Math.ceil(Math.min(L, S) / pt.BQ), NC * nb],
        flops: 2 * nb * S * CQ + nb * S * Math.min(L, S) * (DQK + DHV),
        bytes: nb * (S * ((2 * DQK + 2 * DHV) * eb(dtype) + 12) + NC * (CQ + DQK + 1) * 4) +
          (writeScores ? 4 * nb * S * 64 : 0),
      });
      if (last && lastPipe) {
        batch.dispatch({
          label: `${variant.name} last states`,
          pipeline: lastPipe,
          buffers: [statesC, statesNM, last.c, last.n, last.m],
          uniforms: uni,
          workgroups: [copyX, nb],
          bytes: 2 * nb * (DQK * DHV + DQK + 1) * 4,
        });
      }
    }
    await batch.submit();

    const result: ChunkwiseForwardResult = { h };
    if (last) result.last = last;
    if (keep) {
      const kept = [...groups.flatMap((g) => [g.statesC, g.statesNM]), gates];
      result.saved = {
        statesC: groups[0]!.statesC,
        statesNM: groups[0]!.statesNM,
        groups,
        gates,
        gate,
        L,
        NC,
        BQ: pt.BQ,
        ...(writeScores ? { scores: xs! } : {}),
        destroy: () => kept.forEach((t) => t.destroy()),
      };
    }
    const outs = last ? [h, last.c, last.n, last.m] : [h];
    if (outOnGpu && !options.checkFinite) {
      done = true;
      return result;
    }
    if (!outOnGpu) temps.push(...outs);
    const cpu = await readTensors(outs);
    const out: ChunkwiseForwardResult = { h: cpu[0]! };
    if (last) out.last = { c: cpu[1]!, n: cpu[2]!, m: cpu[3]! };
    if (result.saved) out.saved = result.saved;
    if (options.checkFinite) {
      const names = ["h", "last c", "last n", "last m"];
      cpu.forEach((t, j) => assertOutputFinite(t, names[j]!));
    }
    done = true;
    return outOnGpu ? result : out;
  } finally {
    if (!done) { for (const t of outputs) t.destroy(); }
    for (const t of temps) t.destroy();
    for (const r of releases) r();
  }
}

// Scratch buffers (gate statistics, chunk-boundary states) are kept per device between calls and
// reused when large enough: a fresh buffer costs an allocation and wgpu's zero-fill (~0.7 ms for the
// 2 GB of states of a 65,536-token, 16-head, 128 × 256 forward). Reuse across calls is safe because
// every use is ordered on the device queue. Kept tensors (keepForBackward) are never pooled.
type ScratchRole = "gates" | "statesC" | "statesNM";
interface ScratchEntry {
  t: GpuTensor;
  users: number;
  retired: boolean;
}
const scratchPool = new WeakMap<GPUDevice, Map<ScratchRole, ScratchEntry>>();

// Takes a scratch tensor; `release` must be called after the call's submit. A replaced entry that
// another call still uses is destroyed when its last user releases it.
function scratch(
  gpu: Gpu,
  role: ScratchRole,
  shape: number[],
  keep: boolean,
  releases: (() => void)[],
): GpuTensor {
  if (keep) return GpuTensor.empty(gpu, shape, "f32");
  let pool = scratchPool.get(gpu.device);
  if (!pool) scratchPool.set(gpu.device, pool = new Map());
  const bytes = 4 * shape.reduce((a, b) => a * b, 1);
  let e = pool.get(role);
  if (!e || e.t.destroyed || e.t.byteSize < bytes) {
    if (e) {
      e.retired = true;
      if (e.users === 0) e.t.destroy();
    }
    e = { t: GpuTensor.empty(gpu, shape, "f32"), users: 0, retired: false };
    pool.set(role, e);
  }
  const entry = e;
  entry.users++;
  releases.push(() => {
    entry.users--;
    if (entry.retired && entry.users === 0) entry.t.destroy();
  });
  return entry.t;
}

// keepForBackward: the pooled scratch that no call is using goes back to the buffer pool (where
// the kept tensors of the same sizes find it), so that pooled and kept states never coexist.
function retireScratch(gpu: Gpu): void {
  const pool = scratchPool.get(gpu.device);
  if (!pool) return;
  for (const [role, e] of pool) {
    if (e.users > 0) continue;
    e.t.destroy();
    pool.delete(role);
  }
}

/**
 * Frees the scratch buffers the chunkwise kernels keep on a device between calls (gate
 * statistics and chunk-boundary states, the largest size used so far).
 *
 * @example
 * ```ts no-eval
 * import { releaseChunkwiseScratch } from "./forward.ts";
 * import { getGpu } from "../runtime.ts";
 * releaseChunkwiseScratch(await getGpu());
 * ```
 *
 * @param gpu The device.
 */
export function releaseChunkwiseScratch(gpu: Gpu): void {
  const pool = scratchPool.get(gpu.device);
  if (!pool) return;
  for (const e of pool.values()) {
    e.retired = true;
    if (e.users === 0) e.t.destroy();
  }
  pool.clear();
}

/** Bytes per element of a storage type. */
function eb(dtype: StorageDtype): number {
  return dtype === "f16" ? 2 : 4;
}

function assertOutputFinite(t: Tensor, name: string): void {
  try {
    assertFinite(t, name);
  } catch (e) {
    throw new RangeError(
      `Output ${
        (e as Error).message.replace(/^Argument /, "")
      }: the inputs overflow float32 (or f16 storage) or are themselves non-finite`,
    );
  }
}

/** Tile-size overrides of {@linkcode ChunkwiseOptions.tiles} (all optional; checked against limits). */
export interface ChunkwiseTileOverrides {
  /** Parallel kernel: TX, TY threads, TN output columns per thread, BD staged DQK sub-block, fuse. */
  parallel?: {
    TX?: number;
    TY?: number;
    TN?: number;
    BD?: number;
    /**
     * Key sub-block of the value product when below BD (see ParallelParams): P then shares the
     * staging array. The default tiles' own where they set it (DHV ≥ 256 on 48 KiB devices);
     * given another BD without valueDepth, BD. @default {BD}
     */
    valueDepth?: number;
    fuse?: boolean;
    prefetch?: boolean;
    /** Register prefetch of the inter-chunk product's loop (see ParallelParams). @default {false} */
    prefetchInter?: boolean;
    /** `false`: scalar loads and stores of v, C, h even where DHV is a multiple of 4. */
    vec4io?: boolean;
    /** `false`: scalar loads of q and k even where DQK is a multiple of 4. */
    vec4qk?: boolean;
    /** Skip the products above the diagonal of the diagonal key block (see ParallelParams). */
    trimDiagonal?: boolean;
    /**
     * Query rows per thread (4 or 8; see ParallelParams): 8 makes the query block 8·TY long, so
     * pair it with TY 8 for 64-row blocks (`{ TY: 8, rowsPerThread: 8 }`). @default {4}
     */
    rowsPerThread?: 4 | 8;
    /** Output vec4s of a thread TX vec4s apart (see ParallelParams). @default {true} */
    interleaveColumns?: boolean;
  };
  /**
   * State kernel: TX, TY threads, TN columns of C per thread, BJ staged keys, prefetch, vec4io
   * (`false`: scalar loads and stores even where DQK and DHV are multiples of 4).
   */
  state?: {
    TX?: number;
    TY?: number;
    TN?: number;
    BJ?: number;
    prefetch?: boolean;
    vec4io?: boolean;
    /** Vec4 columns of a thread TX vec4s apart (see StateParams). @default {false} */
    interleaveColumns?: boolean;
  };
}
