/**
 * WebGPU backward passes of the parallel and chunkwise mLSTM (SPEC §3), in both gradient
 * conventions ("exact": the normalizer max(|b|, ·) + eps and the stabilizer m differentiated as
 * taken; "normalizer-constant": the denominator and m held constant, as in mlstm_kernels' custom
 * backward kernels), and {@linkcode withBackward} / {@linkcode attachBackwards} to give the
 * forward kernel objects their `backward`.
 *
 * All dispatches of one backward pass go into one command buffer; nothing is read back in between.
 * CPU tensors in give CPU tensors (f32 data) out; GpuTensors in give GpuTensors out.
 *
 * Design. Per head, rows are grouped into segments: the whole sequence for the parallel form, one
 * chunk for the chunkwise form. Dispatches:
 * 1. `prep`: per segment, b_t (segment-local cumulative log forget gate), ĩ_t, mI_t.
 * 2. chunkwise only: `outer(state)` per chunk Σ_j exp(a_j - mloc) k_j v_jᵀ (and n), then `scan fwd`
 *    over chunks: the state before every chunk and the chunk-boundary stabilizers (the states are
 *    recomputed from the inputs; no per-step state is ever stored), unless the forward's states
 *    are given (`savedStates`, below).
 * 3. `stats` per row: the stabilizer, den_t, dh_t·h_t → 1/(nrm+eps) and the gradient reaching the
 *    denominator (exact convention); exact with the exponential gate also the gradient reaching the
 *    stabilizer m_t, -eps·(dh_t·h_t)/(nrm+eps) (issue #10: unstabilized, h_t = num_t /
 *    (max(|den_t|, 1) + eps·exp(m_t)), so m_t does not cancel).
 * 4. chunkwise only: `outer(dstate)` per chunk Σ_t scale β_t q_t (inv_t dh_t)ᵀ (and n), then
 *    `scan bwd` over chunks in reverse: the gradient of the state after every chunk, and of the
 *    initial state.
 * 5. `dq` per query row tile (intra-segment causal sum + state term), with Σ q⊙dq per row.
 * 6. `dkdv` per key row tile (intra-segment anti-causal sum + state-gradient term), with Σ k⊙dk.
 * 7. `gates`: di = Σ k⊙dk (· σ(-i) for the sigmoid gate), df = σ(-f) · revcumsum(Σ q⊙dq - Σ k⊙dk)
 *    with the diagonal terms dlogD[t,t] left out of both sums (they cancel; f32 would not),
 *    and dcInitial, dnInitial, dmInitial = Σ dC0⊙C0 + dn0·n0; with `lastStateGradients`, every df_r
 *    also gets Σ dC_last⊙C_last + dn_last·n_last (the last state is a virtual row after the end).
 *    Exact convention, exponential gate: the gradient reaching each m_t is routed back through
 *    m_t = max(logsig(f_t) + m_{t-1}, ĩ_t) (a segmented reverse scan in the same kernel) to di, df
 *    and dmInitial.
 *
 * Parallel: 5 dispatches (prep, stats, dq, dkdv, gates); chunkwise: 9 per head group. Head groups:
 * the per-chunk state buffers of one group of heads must fit one storage binding, so heads are
 * processed in groups ({@linkcode backwardHeadGroup}; dispatches 2–7 and the gates run once per
 * group, with the group's first head in the uniforms); any shape whose inputs fit in memory runs.
 *
 * Steps 3, 5 and 6 (and 2 and 4's outer products) have two implementations. Where DQK and DHV are
 * multiples of 64 (≤ 256) the register-blocked kernels of `_block_wgsl.ts` run: laid out like a
 * batched GEMM, 256 threads own 64 rows, form 64 × 64 score blocks 4 × 4 per thread from operands
 * staged 32 columns deep through workgroup memory, turn them into weights in registers, write the
 * weight block to workgroup memory and accumulate the weighted other-side rows 4 rows × D/16
 * columns per thread (vec4, fully unrolled); the chunk-state terms are GEMMs of the same shape.
 * `stats` hands dh·Cᵀ (the state term's product) to `dq` through dq's own (f32) buffer (before
 * issue #14 only with f32 storage; {@linkcode setBackwardF16ReuseU}).
 * The blocked dkdv can be split in two ({@linkcode setBackwardSplitDkdv}; off by default up to DHV
 * 256): `dk` forms both score blocks and accumulates dk and the gates' column sums, `dv` forms
 * q·kᵀ only and accumulates dv over column tiles of up to 256 (fewer registers, q·kᵀ formed again).
 * Above DHV 256 (up to 512, DQK ≤ 256: the xLSTM 7B head) the blocked kernels run by default on
 * every adapter but lavapipe ({@linkcode setBackwardBlockedLarge}: "auto"; 2.5× faster on an
 * H100), always split, with stats not fused above DQK 128 and each kernel's staging sized for its
 * own operands (26 KiB at depth 8); otherwise, and wherever the device's workgroup storage is too
 * small, the row-sliced kernels run.
 * Speed changes of issue #14 (on by default since H100 runs of bench/speed_ab.ts): the blocked
 * `dq`/`dkdv` skip zero-weight row groups of the diagonal block ({@linkcode setBackwardTrimDiagonal});
 * `stats` also computes `dq` so that the row side's scores are formed once, not twice
 * ({@linkcode setBackwardFuseStatsDq}); on the blocked path steps 2 and 4 are each one pass with
 * the state in registers (`stateScanWgsl` in `_state_scan_wgsl.ts`: the per-chunk outer products
 * and the scan fused; {@linkcode setBackwardFuseStateScan}), so chunkwise runs 7 dispatches per
 * head group; and at chunk sizes up to 64 `stats` writes its raw score blocks into the dead slot
 * of the recomputed states, where `dkdv` reads them instead of forming them again
 * ({@linkcode setBackwardShareScores}). Since stop 12 every staging loop of the blocked kernels
 * and of the fused scans loads its next step into registers before the current step's products
 * ({@linkcode setBackwardPrefetch}), and at chunk sizes up to 64 the fused stats + dq reduces
 * the row statistics first and accumulates dq once ({@linkcode setBackwardRowFirst}).
 * Since stop 17 the fused stats reads its chunk-state product U = dh·Cᵀ from dq's buffer, where
 * a batched GEMM of its own wrote it ({@linkcode setBackwardStateTerm}); and in a training step
 * at chunk size 64 the forward's parallel kernel writes its raw score blocks q·kᵀ into this
 * pass's dk buffer (allocated before the forward: {@linkcode forwardScoresBuffer}), where the
 * fused stats reads them (`forwardScores`) instead of forming them
 * ({@linkcode setBackwardScoresFromForward}).
 * Otherwise one WGSL template (`tileWgsl`, modes "stats" / "dq" / "dkdv"): a workgroup owns 32 rows of a segment
 * (16 for head dimensions above 256), each thread 2 of them and the interleaved vec4 columns
 * g, g+G, ... of their operands (at most 4 vec4 per operand, all in named registers, the code fully
 * unrolled over them); per tile of 16 rows of the other side it (A) writes partial q·k and dh·v
 * dot products to workgroup memory, (B) reduces them and forms the weights (one exp per pair),
 * (C) accumulates the weighted rows into the owned rows' gradient slices. Each other-side vector is
 * loaded once per tile and serves both owned rows. Every score is recomputed three times (stats,
 * dq, dkdv) instead of being stored; nothing of size S² is ever allocated. Their chunkwise state
 * terms loop over C's columns with each thread reading its own C rows (4·G floats apart across a
 * warp: uncoalesced); for DHV above 256 they read C as vec4s by default, and "staged" stages C's
 * columns in workgroup memory ({@linkcode setBackwardStateVec4}). Their loops over a tile's other
 * rows (A, C) and over a row's G partial sums (B and the final row sums) have constant trip counts
 * up to head dimension 256; above (issue #11, the xLSTM 7B head) they are rolled, 2 rows and 4 sums
 * per iteration with trip counts the compiler cannot see, because lavapipe unrolled them fully and
 * took 5-8 s to compile a backward pass at DQK 256, DHV 512 (1.3-2.7 s rolled;
 * {@linkcode setBackwardTileUnroll}).
 *
 * Memory: the parallel pass allocates B·NH·44·S bytes of scratch (48·S with the stabilizer's path:
 * exact convention, exponential gate); the chunkwise pass
 * {@linkcode chunkwiseBackwardBytes} (chunk states for one head group at a time). States travel in
 * f32; q, k, v, dh in the storage dtype (f32 or f16), i, f in the gates' dtype. The gradients (dq,
 * dk, dv, di, df and those of the initial states) are f32 always: in f16 they would overflow to
 * ±Infinity (|g| > 65504) or flush to zero (|g| < 6e-8) without a word.
 *
 * The forward's states (`savedStates`, issue #14; mlstm_kernels' `recompute_states_in_bw=False`):
 * the chunkwise forward keeps the states before every chunk, stabilized exactly as step 2
 * recomputes them (C ← exp(g + m − m') C + Σ_j exp(a_j − m') k_j v_jᵀ, m' = max(g + m, max_j a_j);
 * slot 0 the initial states or zeros with m = 0; m = 0 throughout for the sigmoid gate; at a
 * document start both zero the decay and the weights of the earlier keys and fold the zero
 * state's log gate into m'), in per-group buffers (C: NC + 1 slots of DQK·DHV floats per head; n
 * and m: NC + 1 slots of DQK + 1 floats). On the register-blocked path with the fused scans the
 * pass binds them where it would bind the recomputed states (the WGSL differs only in the slot
 * addressing: `chunkStateAddressing` in `_wgsl.ts`), adopts the forward's head groups, and drops
 * step 2 (the "bw state scan" dispatch, 3.0 ms of a 34.6 ms forward+backward at the TFLA shape
 * on an H100) and its buffers; stats' shared score blocks go into the C part of the chunk's saved
 * slot. The states agree with the recomputed ones to rounding (the forward sums the gates with
 * Kahan sums, the backward with TwoSum pairs) wherever the backward's packed-sequence
 * representation holds (input gates and stabilizers within about 6.5e4 of each other across a
 * document start: `SEPARATION` in `_wgsl.ts`). `forwardBackward` (kernels/train.ts) uses this for
 * the chunkwise kernels.
 *
 * Packed sequences (`documentStarts`): one pass, whatever the number of documents. `prep` restarts
 * each document's cumulative log forget gate on a new base 2^16 below the segment's earlier rows
 * (so pairs across a start, the state term of every row after a start and the decay of a chunk
 * holding a start all get a zero weight; within a document the TwoSum pair keeps its precision)
 * and, chunkwise with the exponential gate, folds the zero state's stabilizer term (m = 0, plus
 * logsig(f) from the start on) into mI, which `stats`, the outer product and the forward scan use
 * unchanged; `gates` restarts both reverse scans (df's pair sums, the stabilizer's gradient) at each
 * start. The other kernels are those of unpacked calls. The flags are a (B, S) u32 buffer bound by
 * `prep` and `gates` only, with NH in the uniforms' last word.
 *
 * Precision: the cumulative log forget gate is carried as an unevaluated f32 pair (TwoSum), so
 * b_t - b_s keeps f32 accuracy relative to itself on long sequences (the "stable forget gate"); df
 * sums only the off-diagonal terms, so that two O(1) diagonals never cancel in f32.
 *
 * @module
 */

import type { Tensor } from "../../core/tensor.ts";
import type {
  InputGate,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
  TensorLike,
} from "../../core/types.ts";
import { isCpuTensor, validateDh, validateMlstmInputs } from "../../core/validate.ts";
import { hasDocumentStarts } from "../../core/documents.ts";
import {
  assertDeviceInputsFinite,
  checkStorageBuffers,
  finish,
  isLiveF32,
  toDevice,
  uploadDocumentStarts,
} from "../_common.ts";
import {
  checkChunkSize,
  type ChunkwiseSaved,
  type ChunkwiseSavedGroup,
  type ChunkwiseVariant,
} from "../chunkwise/forward.ts";
import { LIMIT_CHUNK } from "../chunkwise/limit_chunk.ts";
import { XL_CHUNK } from "../chunkwise/xl_chunk.ts";
import { XL_CHUNK_SIGING } from "../chunkwise/xl_chunk_siging.ts";
import {
  checkWorkgroupLimits,
  DispatchBatch,
  getGpu,
  getPipeline,
  type Gpu,
  GpuError,
  GpuTensor,
} from "../runtime.ts";
import {
  stateTermColTiles,
  type StateTermProduct,
  stateTermSharedBytes,
  stateTermThreads,
  type StateTermTiles,
  stateTermTilesFor,
  stateTermWgsl,
} from "./_state_term_wgsl.ts";
import {
  stateScanSharedBytes,
  stateScanStorageBuffers,
  stateScanTiles,
  stateScanWgsl,
} from "./_state_scan_wgsl.ts";
import {
  type BwParams,
  GATES_WIDE_THREADS,
  gatesWgsl,
  gatesWideSharedBytes,
  gatesWideWgsl,
  mPath,
  outerTiles,
  outerWgsl,
  packUniforms,
  prepWgsl,
  scanWgsl,
  stagedStateBytes,
  stateVec4Default,
  tileGeometry,
  type TileMode,
  tileSharedBytes,
  type TileUnroll,
  tileUnrollDefault,
  tileWgsl,
} from "./_wgsl.ts";
import {
  BLOCK_ROWS,
  blockDepth,
  type BlockMode,
  blockModes,
  type BlockPrefetch,
  blockSharedBytes,
  blockWgsl,
  dvTile,
  outerBlockTiles,
  outerBlockWgsl,
} from "./_block_wgsl.ts";

export type { BlockPrefetch } from "./_block_wgsl.ts";
export type { StateTermTiles } from "./_state_term_wgsl.ts";

/** Which backward pass: the form and the input gate. */
export interface BackwardVariant {
  /** "parallel" (no states) or "chunkwise" (chunk-boundary states, initial states allowed). */
  form: "parallel" | "chunkwise";
  /** The input gate. */
  gate: InputGate;
}

/** The backward variant of each WebGPU forward kernel that has one. */
export const BACKWARD_VARIANTS: Readonly<Record<string, BackwardVariant>> = {
  "parallel--stablef": { form: "parallel", gate: "exp" },
  "parallel--siging": { form: "parallel", gate: "sig" },
  "chunkwise--xl_chunk": { form: "chunkwise", gate: "exp" },
  "chunkwise--limit_chunk": { form: "chunkwise", gate: "exp" },
  "chunkwise--xl_chunk_siging": { form: "chunkwise", gate: "sig" },
};

const CHUNKWISE_FORWARDS: Readonly<Record<string, ChunkwiseVariant>> = {
  [LIMIT_CHUNK.name]: LIMIT_CHUNK,
  [XL_CHUNK.name]: XL_CHUNK,
  [XL_CHUNK_SIGING.name]: XL_CHUNK_SIGING,
};

let poison = false;
let groupLimit: number | undefined;
let useBlocked = true;

/**
 * Test hook: whether head dimensions that are multiples of 64 use the register-blocked row/column
 * kernels (default) or the row-sliced ones every shape can use.
 *
 * @example
 * ```ts
 * import { setBackwardBlocked } from "./backward.ts";
 * setBackwardBlocked(false);
 * setBackwardBlocked(true);
 * ```
 *
 * @param on Whether to use the blocked kernels.
 */
export function setBackwardBlocked(on: boolean): void {
  useBlocked = on;
}

let blockedLarge: boolean | "auto" = "auto";

/**
 * Issue #14 (xLSTM 7B head, DQK 256, DHV 512): the register-blocked kernels also serve DHV above
 * 256 (up to 512, DQK up to 256, multiples of 64), with dkdv split into dk and dv
 * ({@linkcode setBackwardSplitDkdv}), dv over column tiles of 256, and stats not fused with dq
 * above DQK 128 (its two accumulators would need 128 registers). On an H100 (stop 11,
 * bench/speed_ab.ts, variant `blocked512`) the 7B head's forward+backward at B·S 65,536 took
 * 64.6 ms with them against 154.3 ms with the row-sliced kernels (f32; f16 61.5 against 148.8),
 * and its backward pass compiled in 2.1 s. "auto" (the default) turns them on everywhere except on
 * Mesa's lavapipe, where creating their pipelines takes 11.7 s of CPU time against 2.3–2.7 s for the
 * row-sliced kernels (and speed on a CPU adapter is moot). Where the device's workgroup storage is
 * too small for the blocked kernels the row-sliced ones run.
 *
 * @example
 * ```ts
 * import { setBackwardBlockedLarge } from "./backward.ts";
 * setBackwardBlockedLarge(true);
 * setBackwardBlockedLarge("auto");
 * ```
 *
 * @param on Whether the blocked kernels serve DHV above 256; "auto": on unless the adapter is
 * lavapipe.
 */
export function setBackwardBlockedLarge(on: boolean | "auto"): void {
  blockedLarge = on;
}

let splitDkdv: boolean | undefined;

/**
 * Speed variant: the register-blocked dkdv kernel split in two, "dk" (forms q·kᵀ and dh·vᵀ,
 * accumulates dk and the column sums of the gates) and "dv" (forms q·kᵀ only, accumulates dv over
 * column tiles of up to 256): fewer registers per thread (more workgroups per SM), but q·kᵀ is
 * formed twice or more. Always split above DHV 256 ({@linkcode setBackwardBlockedLarge});
 * undefined (the default) or false: one dkdv kernel up to DHV 256; true: split there too
 * (bench/speed_ab.ts, variant `splitdkdv`).
 *
 * @example
 * ```ts
 * import { setBackwardSplitDkdv } from "./backward.ts";
 * setBackwardSplitDkdv(true);
 * setBackwardSplitDkdv(undefined);
 * ```
 *
 * @param on Whether to split up to DHV 256, undefined for the default (no).
 */
export function setBackwardSplitDkdv(on: boolean | undefined): void {
  splitDkdv = on;
}

let forcedDepth: 8 | 16 | undefined;
// On since the H100 run of 2026-12-06 (bench/speed_ab.ts: `all` = trims + fuse won every case).
let trimDiagonal = true;
let reuseUF16 = true;

/**
 * Issue #14: with f16 storage, stats hands U = dh·Cᵀ to dq through dq's own buffer (f32 whatever
 * the storage), as with f32 storage, instead of dq recomputing the state product (2·DQK·DHV FLOP
 * per step that f32 storage skips: why f16 forward+backward measured slower than f32). On by
 * default (the same kernels as f32 storage, no extra memory); `false` restores the recomputation
 * (bench/speed_ab.ts times it as variant `f16recompute`).
 *
 * @example
 * ```ts
 * import { setBackwardF16ReuseU } from "./backward.ts";
 * setBackwardF16ReuseU(false);
 * setBackwardF16ReuseU(true);
 * ```
 *
 * @param on Whether f16 storage reuses U (default true).
 */
export function setBackwardF16ReuseU(on: boolean): void {
  reuseUF16 = on;
}
let fuseStatsDq = true;
let trimScores = true;
let fuseStateScan = true;
let shareScores = true;
const PREFETCH_ALL = { state: true, accum: true, scores: true, scan: true };
let prefetch: BlockPrefetch & { scan?: boolean } = { ...PREFETCH_ALL };
let rowFirst = true;

/**
 * Issue #14: at chunk sizes up to 64 the fused stats + dq kernel reduces the row statistics (inv,
 * dden) before its weighted accumulation, so that dq's weights inv·(e·Y) + dden·e are formed in
 * registers and k is staged and accumulated once into one accumulator instead of twice into two
 * (`rowFirst` of `blockWgsl`). On by default since stop 12: on an H100 (bench/speed_ab.ts, TFLA
 * shape, f32, chunk 64) forward+backward with register prefetch took 30.73 ms with it against
 * 30.96 without (variants `pfrow`, `pfall`); alone 34.46 against 34.65. `false` restores the two
 * accumulators.
 *
 * @example
 * ```ts
 * import { setBackwardRowFirst } from "./backward.ts";
 * setBackwardRowFirst(false);
 * setBackwardRowFirst(true);
 * ```
 *
 * @param on Whether to reduce the row statistics first.
 */
export function setBackwardRowFirst(on: boolean): void {
  rowFirst = on;
}

let gatesWide = true;

/**
 * Issue #14: the gate-gradient kernel (di, df, dmInitial; the last dispatch of the pass) with 256
 * threads per head, coalesced loads and stores and log-depth scans in workgroup memory
 * (`gatesWideWgsl` in kernels/backward/_wgsl.ts) instead of 64 threads that each walk ⌈S/64⌉
 * contiguous rows twice and compose their sums in a serial loop (`gatesWgsl`; about 80 µs per call
 * on an H100 at S 4096–8192, 128–256 heads). The same outputs to f32 rounding. On by default;
 * `false` restores the 64-thread kernel (bench/speed_ab.ts times it as variant `bwgates0`).
 *
 * @example
 * ```ts
 * import { setBackwardGatesWide } from "./backward.ts";
 * setBackwardGatesWide(false);
 * setBackwardGatesWide(true);
 * ```
 *
 * @param on Whether to use the 256-thread gate kernel (default true).
 */
export function setBackwardGatesWide(on: boolean): void {
  gatesWide = on;
}

/**
 * Issue #14: register prefetch in the register-blocked kernels' staging loops. Each step's global
 * loads go to registers one step ahead, issued before the current step's products, so that their
 * latency hides behind the products instead of stalling the workgroup between its two barriers:
 * `state` (the chunk-state products of stats and dkdv), `accum` (the weighted accumulation of the
 * other side's rows), `scores` (the score blocks) and `scan` (the fused state scans' per-chunk
 * outer products). All on by default since stop 12: on an H100 (bench/speed_ab.ts, TFLA shape,
 * f32, chunk 64, forward+backward) 30.96 ms with all four against 34.65 without (`state` alone
 * 32.51, each other alone 34.0–34.2); at the xLSTM 7B head 56.07 against 61.84. `{}` turns it
 * off, undefined restores the default.
 *
 * @example
 * ```ts
 * import { setBackwardPrefetch } from "./backward.ts";
 * setBackwardPrefetch({ state: true, accum: true });
 * setBackwardPrefetch(undefined);
 * ```
 *
 * @param on The loops to prefetch in; undefined for the default (all).
 */
export function setBackwardPrefetch(
  on: (BlockPrefetch & { scan?: boolean }) | undefined,
): void {
  const o = on ?? PREFETCH_ALL;
  prefetch = { state: o.state, accum: o.accum, scores: o.scores, scan: o.scan };
}

let scanRows: 16 | 32 = 16;
let stateDepth: 32 | undefined = undefined;

/**
 * Speed variant (issue #14, `sd32`): the register-blocked kernels stage their chunk-state products
 * (dh·Cᵀ in stats and dq, v·dCᵀ and k·dC in dkdv) 32 deep instead of 16, half those loops'
 * barriers; the staging then shares workgroup storage with the weight block (40 KiB at DQK 128,
 * DHV 256). Applies where the blocked kernels stage 16 deep, DQK ≤ 128, and every mode fits the
 * device; elsewhere the default depth. Off by default (not yet timed on a GPU).
 *
 * @example
 * ```ts
 * import { setBackwardStateDepth } from "./backward.ts";
 * setBackwardStateDepth(32);
 * setBackwardStateDepth(undefined);
 * ```
 *
 * @param depth 32, or undefined for the blocked kernels' own depth.
 */
export function setBackwardStateDepth(depth: 32 | undefined): void {
  if (depth !== undefined && depth !== 32) {
    throw new RangeError(`setBackwardStateDepth: depth must be 32 or undefined, received ${depth}`);
  }
  stateDepth = depth;
}

let stateTerm: StateTermTiles | "default" | undefined = "default";

/**
 * Issue #14 (`ut`): the fused stats + dq kernel reads the rows' chunk-state product U = dh·Cᵀ
 * from dq's buffer, where a kernel of its own (`stateTermWgsl`: a batched GEMM with few registers
 * and 4 × 8 outputs on 256 threads by default) wrote it just before, instead of forming it with
 * the fused kernel's 224 registers per thread (one workgroup per SM on an H100). No extra memory
 * (dq is written over U). Applies to the chunkwise register-blocked path with the fused stats
 * where the kernel's storage fits. On by default since stop 17 (H100, TFLA shape, f32, chunk 64,
 * one training step: 25.65 ms against 26.73 with 4 rows per thread, 26.14 with 8;
 * bench/results/stop17_2026-12-06). `true` or `undefined` takes the default tiles
 * ({@linkcode stateTermTiles}), an object picks them, `false` forms U inside the fused kernel.
 *
 * @example
 * ```ts
 * import { setBackwardStateTerm } from "./backward.ts";
 * setBackwardStateTerm({ TM: 8, BK: 32 });
 * setBackwardStateTerm(undefined);
 * ```
 *
 * @param on Whether (or with which tiles) to run the state term's own kernel.
 */
export function setBackwardStateTerm(on: boolean | StateTermTiles | undefined): void {
  if (typeof on === "object") {
    if ((on.TM !== 4 && on.TM !== 8) || (on.BK !== 16 && on.BK !== 32)) {
      throw new RangeError(
        `setBackwardStateTerm: TM must be 4 or 8 and BK 16 or 32, received ${on.TM}, ${on.BK}`,
      );
    }
    stateTerm = { TM: on.TM, BK: on.BK };
  } else stateTerm = on === false ? undefined : "default";
}

let columnStateTerms = false;

/**
 * Speed variant (issue #14, `utdk`): the unsplit dkdv kernel reads its chunk-state products v·dCᵀ
 * and k·dC from dk's and dv's buffers, where kernels of their own (`stateTermWgsl` "dk", "dv")
 * wrote them just before, instead of forming them with its 211 registers per thread. No extra
 * memory (dk and dv are written over them). Tiles as {@linkcode setBackwardStateTerm}'s (its
 * default where it is off). Off by default: it lost on an H100 (TFLA shape, f32, chunk 64, one
 * training step: 26.64 ms against 26.14 without it; bench/results/stop17_2026-12-06).
 *
 * @example
 * ```ts
 * import { setBackwardColumnStateTerms } from "./backward.ts";
 * setBackwardColumnStateTerms(true);
 * setBackwardColumnStateTerms(false);
 * ```
 *
 * @param on Whether dkdv's state products run in their own kernels.
 */
export function setBackwardColumnStateTerms(on: boolean): void {
  columnStateTerms = on;
}

const DOUBLE_ALL = { state: true, scores: true };
let doubleBuffer: { state?: boolean; scores?: boolean } = { ...DOUBLE_ALL };

/**
 * Issue #14: the register-blocked kernels' prefetched staging loops stage into two alternating
 * halves of their workgroup storage, one barrier per step instead of two, with no more registers.
 * `state`: the chunk-state products (dh·Cᵀ in stats, v·dCᵀ and k·dC in dkdv; the halves overlap
 * the weight block: 40 KiB at DQK 128, DHV 256); `scores`: the score blocks q·kᵀ and dh·vᵀ (no
 * more storage). Each applies where its loop is prefetched and (state) every blocked mode fits
 * the device; elsewhere the single buffer. Both on by default since stop 15 (H100, TFLA shape,
 * f32, chunk 64, one training step: 26.77 ms against 26.89, 26.70 with
 * `setForwardStatesFirst` in kernels/chunkwise/forward.ts; bench/results/stop15_2026-12-06); `{}` turns both off
 * (speed variants `dbstate`, `dbscores`, `dball` time them against stop 14's `stop14`).
 *
 * @example
 * ```ts
 * import { setBackwardDoubleBuffer } from "./backward.ts";
 * setBackwardDoubleBuffer({});
 * setBackwardDoubleBuffer(undefined);
 * ```
 *
 * @param on The loops to double-buffer; undefined for the default (both).
 */
export function setBackwardDoubleBuffer(
  on: { state?: boolean; scores?: boolean } | undefined,
): void {
  doubleBuffer = on === undefined
    ? { ...DOUBLE_ALL }
    : { state: on.state ?? false, scores: on.scores ?? false };
}

/**
 * Speed variant (issue #14, `scan32`): the fused state scans (`stateScanWgsl`) stage a chunk's rows
 * 32 at a time instead of 16 (24 KiB of workgroup storage instead of 12 at DHV 128·k), half their
 * barriers, as the forward's state kernel gained from staging 32 keys instead of 16. Default 16
 * (not yet timed on a GPU); `undefined` restores it.
 *
 * @example
 * ```ts
 * import { setBackwardScanRows } from "./backward.ts";
 * setBackwardScanRows(32);
 * setBackwardScanRows(undefined);
 * ```
 *
 * @param rows Rows staged per step, 16 or 32; undefined for the default.
 */
export function setBackwardScanRows(rows: 16 | 32 | undefined): void {
  if (rows !== undefined && rows !== 16 && rows !== 32) {
    throw new RangeError(`setBackwardScanRows: rows must be 16 or 32, received ${rows}`);
  }
  scanRows = rows ?? 16;
}

/**
 * Speed variant (issue #14): at chunk sizes up to 64 (one 64-row block per chunk) the blocked
 * stats kernel writes its raw score blocks q·kᵀ and dh·vᵀ (2 · 64 × 64 floats per chunk) into the
 * chunk's slot of the recomputed states, which nothing reads after stats, and dkdv reads them
 * there instead of forming them again: no extra memory, two 64 × 64 × D products fewer per chunk.
 * Needs the fused stats and dq ({@linkcode setBackwardFuseStatsDq}), dkdv not split, chunk states
 * of at least 2·64·64 floats (DQK·DHV ≥ 8192) and 12 storage buffers per shader stage; elsewhere
 * dkdv forms the blocks itself. On by default; `false` forms them in dkdv always
 * (bench/speed_ab.ts, variant `noshare`).
 *
 * @example
 * ```ts
 * import { setBackwardShareScores } from "./backward.ts";
 * setBackwardShareScores(false);
 * setBackwardShareScores(true);
 * ```
 *
 * @param on Whether stats hands its score blocks to dkdv.
 */
export function setBackwardShareScores(on: boolean): void {
  shareScores = on;
}

let scoresFromForward = true;

/**
 * Speed variant (issue #14, `fwx`): in a training step (`forwardBackward` in kernels/train.ts)
 * at chunk size 64, the forward's parallel kernel writes every chunk's raw score block q·kᵀ
 * (64 × 64 f32, formed there anyway) into the backward's dk buffer, which it allocates before
 * the forward, and the backward's fused stats kernel reads it there instead of forming it again
 * (one 64 × 64 × DQK product fewer per chunk; dkdv writes dk after stats). No extra memory: dk
 * is allocated anyway, and during the forward far less is alive. Applies where the forward keeps
 * its states for the backward (`forwardBackward`'s kept-state path), with the forward's default
 * 64-row query blocks of 4 rows per thread and the blocked backward with fused stats + dq
 * sharing its score blocks ({@linkcode setBackwardShareScores}); elsewhere both passes run as
 * without it. On by default since stop 17 (H100, TFLA shape, f32, chunk 64, one training step:
 * 26.11 ms against 26.73, 25.57 against 26.14 with {@linkcode setBackwardStateTerm}'s 8-row
 * tiles; bench/results/stop17_2026-12-06); `false` forms the blocks in stats.
 *
 * @example
 * ```ts
 * import { setBackwardScoresFromForward } from "./backward.ts";
 * setBackwardScoresFromForward(false);
 * setBackwardScoresFromForward(true);
 * ```
 *
 * @param on Whether a training step's backward reads the forward's score blocks.
 */
export function setBackwardScoresFromForward(on: boolean): void {
  scoresFromForward = on;
}

/**
 * Speed variant (issue #14): the chunkwise backward's register-blocked path recomputes the states
 * before every chunk in one pass (`stateScanWgsl` in `_state_scan_wgsl.ts`: the per-chunk outer
 * products and the forward scan over chunks fused, the state in registers, as the forward's state
 * kernel does) instead of two (outer products written, then scanned), which saves a write and a
 * read of every chunk's product; the state gradients likewise (the per-chunk dstate products and
 * the reverse scan in one pass). On by default where the device allows the fused kernels' storage
 * buffers (9 with initial and last states; else two passes); `false` restores the two passes
 * (bench/speed_ab.ts times them as variant `twopass`).
 *
 * @example
 * ```ts
 * import { setBackwardFuseStateScan } from "./backward.ts";
 * setBackwardFuseStateScan(false);
 * setBackwardFuseStateScan(true);
 * ```
 *
 * @param on Whether to fuse.
 */
export function setBackwardFuseStateScan(on: boolean): void {
  fuseStateScan = on;
}

/**
 * Speed variant (issue #14): the register-blocked stats, dq and dkdv kernels form their score
 * blocks on a thread grid where a 32-lane subgroup owns 4 × 8 sub-blocks of 4 × 4, so that in the
 * diagonal block the subgroups whose sub-blocks all lie on the masked side skip their score
 * products (2 of 8). On by default (measured on an H100: bench/speed_ab.ts, variant `all`).
 *
 * @example
 * ```ts
 * import { setBackwardTrimScores } from "./backward.ts";
 * setBackwardTrimScores(true);
 * setBackwardTrimScores(false);
 * ```
 *
 * @param on Whether to trim the score products.
 */
export function setBackwardTrimScores(on: boolean): void {
  trimScores = on;
}

/**
 * Speed variant (issue #14): the chunkwise backward's register-blocked stats kernel also computes
 * dq (and its row sums) from the score blocks it forms anyway, and the dq dispatch is dropped: the
 * scores q·kᵀ and dh·vᵀ of the row side are formed once instead of twice. On by default (H100:
 * forward+backward 1.07–1.12× faster with it alone; bench/speed_ab.ts, variant `fuse`).
 *
 * @example
 * ```ts
 * import { setBackwardFuseStatsDq } from "./backward.ts";
 * setBackwardFuseStatsDq(true);
 * setBackwardFuseStatsDq(false);
 * ```
 *
 * @param on Whether to fuse.
 */
export function setBackwardFuseStatsDq(on: boolean): void {
  fuseStatsDq = on;
}

/**
 * Speed variant (issue #14): the register-blocked dq and dkdv kernels skip, in the diagonal
 * block, the groups of 8 other-side rows whose weights are zero for all of a thread's rows.
 * On by default (bench/speed_ab.ts on an H100: variant `all`, which includes it, won every case).
 *
 * @example
 * ```ts
 * import { setBackwardTrimDiagonal } from "./backward.ts";
 * setBackwardTrimDiagonal(true);
 * setBackwardTrimDiagonal(false);
 * ```
 *
 * @param on Whether to trim.
 */
export function setBackwardTrimDiagonal(on: boolean): void {
  trimDiagonal = on;
}

/**
 * Test hook: forces the staging depth of the register-blocked kernels' state products (16 goes
 * with 32-deep score staging and 16-row output slices, 8 with 16 and 8; undefined: the deepest
 * that the device's workgroup storage allows), so that both layouts can be tested on one device.
 *
 * @example
 * ```ts
 * import { setBackwardBlockDepth } from "./backward.ts";
 * setBackwardBlockDepth(8);
 * setBackwardBlockDepth(undefined);
 * ```
 *
 * @param kc 8, 16 or undefined.
 */
export function setBackwardBlockDepth(kc: 8 | 16 | undefined): void {
  forcedDepth = kc;
}

/**
 * Test hook: caps the bytes of chunk states one head group of the chunkwise backward may bind
 * (undefined: the device's maxStorageBufferBindingSize), so that tests can exercise several head
 * groups on small shapes.
 *
 * @example
 * ```ts
 * import { setBackwardGroupLimit } from "./backward.ts";
 * setBackwardGroupLimit(1 << 20);
 * setBackwardGroupLimit(undefined);
 * ```
 *
 * @param bytes The cap, or undefined for the device limit.
 */
export function setBackwardGroupLimit(bytes: number | undefined): void {
  groupLimit = bytes;
}

let stateVec4: boolean | "staged" | undefined;
/**
 * Speed variant (xLSTM 7B head shape): the row-sliced chunkwise kernels (head dimensions the
 * register-blocked ones do not cover) read the chunk states as vec4s in their state terms instead
 * of four scalar loads per vec4 (those loads are uncoalesced across a warp). undefined: the
 * default, "staged" for DHV above 256 (`stateVec4Default` in _wgsl.ts); heads up to DHV 256 generate the
 * same WGSL as before. Only for DQK and DHV multiples of 4 (otherwise always off). "staged" also
 * stages the state columns of the row-side products in workgroup memory (`stStaged` in _wgsl.ts).
 *
 * @example
 * ```ts
 * import { setBackwardStateVec4 } from "./backward.ts";
 * setBackwardStateVec4(false);
 * setBackwardStateVec4("staged");
 * setBackwardStateVec4(undefined);
 * ```
 *
 * @param on true / false / "staged" to force, undefined for the default.
 */
export function setBackwardStateVec4(on: boolean | "staged" | undefined): void {
  stateVec4 = on;
}

let tileUnroll: TileUnroll | "full" | undefined;
/**
 * Issue #11 (compile time at the xLSTM 7B head shape): how the row-sliced stats, dq and dkdv
 * kernels (head dimensions the register-blocked ones do not cover) write their inner loops over a
 * tile's other rows and over a row's partial sums. undefined: the default,
 * `tileUnrollDefault` in _wgsl.ts (rolled loops, 2 rows and 4 sums per iteration, for head
 * dimensions above 256; constant trip counts otherwise). "full": constant trip counts everywhere,
 * which drivers unroll fully (the kernels before; bench/speed_ab.ts times them as variant
 * `bwunroll`). `{ rows, sums }`: rolled loops with that many steps per iteration at every shape
 * (tests use it to run the rolled code on small shapes).
 *
 * @example
 * ```ts
 * import { setBackwardTileUnroll } from "./backward.ts";
 * setBackwardTileUnroll({ rows: 1, sums: 4 });
 * setBackwardTileUnroll("full");
 * setBackwardTileUnroll(undefined);
 * ```
 *
 * @param unroll Steps per iteration, "full", or undefined for the default.
 * @throws {RangeError} If rows or sums is not a positive integer.
 */
export function setBackwardTileUnroll(
  unroll: { rows: number; sums: number } | "full" | undefined,
): void {
  if (unroll !== undefined && unroll !== "full") {
    for (const k of ["rows", "sums"] as const) {
      const n = unroll[k];
      if (!Number.isInteger(n) || n < 1) {
        throw new RangeError(
          `setBackwardTileUnroll: ${k} must be a positive integer, received ${n}`,
        );
      }
    }
    unroll = { rows: unroll.rows, sums: unroll.sums };
  }
  tileUnroll = unroll;
}

/**
 * Makes every later backward pass allocate its outputs filled with NaN (tests use it, so that an
 * element a kernel fails to write cannot pass). Off by default (outputs start as zeros).
 *
 * @example
 * ```ts
 * import { setBackwardPoison } from "./backward.ts";
 * setBackwardPoison(true);
 * setBackwardPoison(false);
 * ```
 *
 * @param on Whether to poison.
 */
export function setBackwardPoison(on: boolean): void {
  poison = on;
}

/**
 * Bytes of device memory a chunkwise backward pass allocates beyond its inputs and outputs, all
 * f32: per row gi and rs (vec4 each) and the row/column sums, 44·S (48·S with `mPath`: the
 * gradient reaching the stabilizer, exact convention with the exponential gate); per chunk the packed state
 * [C | n] of E = DQK·DHV + DQK floats twice (the recomputed state before the chunk; one buffer that
 * holds in turn the chunk's contribution to the next state, its contribution to the gradient of
 * the state before it, and, in place, the gradient of the state after it, with one extra slot for
 * the initial state), plus the NC + 1 stabilizers, for one head group of GH heads (all heads unless
 * their states exceed `maxBinding`; see {@linkcode backwardHeadGroup}):
 *
 *     bytes = B·NH·(44 or 48)·S + GH·(4·E·(2·NC + 1) + 4·(NC + 1)),   NC = ceil(S / L)
 *
 * With `savedStates` (the forward's states, where the pass uses them) the recomputed states and
 * their stabilizers are not allocated: GH·4·E·(NC + 1) bytes of state gradients remain per group
 * (GH: the saved states' largest group; `forwardBackward` makes it the same as without), and the
 * per-row gate statistics (16·S bytes per head) go into the forward's gate scratch:
 *
 *     bytes = B·NH·(32 or 28)·S + GH·4·E·(NC + 1)
 *
 * With `lastStateGradients` the pass also keeps the last state of every head, B·NH·4·E bytes more;
 * with `documentStarts` it uploads the (B, S) u32 start flags, 4·B·S bytes more (one buffer for
 * any number of documents). No per-step state is stored. The parallel form (L = S, NC = 1, no state buffers) needs
 * B·NH·44·S bytes (48·S with `mPath`).
 *
 * @example
 * ```ts
 * import { chunkwiseBackwardBytes } from "./backward.ts";
 * import assert from "node:assert/strict";
 * // B=1, NH=1, S=128, DQK=DHV=64, L=64, exact convention: 48·128 + 4·4160·5 + 4·3
 * assert.equal(chunkwiseBackwardBytes(1, 1, 128, 64, 64, 64), 6144 + 83200 + 12);
 * // normalizer-constant convention or sigmoid gate: 44·128 + ...
 * assert.equal(chunkwiseBackwardBytes(1, 1, 128, 64, 64, 64, Infinity, false, false), 5632 + 83200 + 12);
 * // packed sequences: the start flags, 4·B·S bytes more
 * assert.equal(chunkwiseBackwardBytes(1, 1, 128, 64, 64, 64, Infinity, false, true, true), 6144 + 83200 + 12 + 512);
 * // the forward's states (savedStates): 32·128 + the state gradients alone, 4·4160·3
 * assert.equal(chunkwiseBackwardBytes(1, 1, 128, 64, 64, 64, Infinity, false, true, false, true), 4096 + 49920);
 * ```
 *
 * @param B Batch size.
 * @param NH Heads.
 * @param S Sequence length.
 * @param DQK Query/key head dimension.
 * @param DHV Value head dimension.
 * @param L Chunk size.
 * @param maxBinding The device's maxStorageBufferBindingSize. @default {Infinity}
 * @param lastStateGradients Whether `lastStateGradients` are given. @default {false}
 * @param mPath Whether the pass differentiates the stabilizer (exact convention, exponential
 * gate). @default {true}
 * @param documentStarts Whether `documentStarts` are given (packed sequences). @default {false}
 * @param savedStates Whether the pass reads the forward's states (`savedStates`, where it uses
 * them). @default {false}
 * @returns Bytes.
 */
export function chunkwiseBackwardBytes(
  B: number,
  NH: number,
  S: number,
  DQK: number,
  DHV: number,
  L: number,
  maxBinding = Infinity,
  lastStateGradients = false,
  mPath = true,
  documentStarts = false,
  savedStates = false,
): number {
  const NC = Math.ceil(S / L);
  const E = DQK * DHV + DQK;
  const GH = backwardHeadGroup(B * NH, NC, E, maxBinding);
  const last = lastStateGradients ? B * NH * 4 * E : 0;
  // With mPath and no lastStateGradients.m, a zero m gradient (B·NH floats) is allocated.
  const lastM = lastStateGradients && mPath ? B * NH * 4 : 0;
  const flags = documentStarts ? 4 * B * S : 0;
  const states = savedStates ? 4 * E * (NC + 1) : 4 * E * (2 * NC + 1) + 4 * (NC + 1);
  const rows = (mPath ? 48 : 44) - (savedStates ? 16 : 0);
  return B * NH * rows * S + GH * states + last + lastM + flags;
}

/**
 * Heads per group of a chunkwise backward pass: the most heads whose per-chunk state buffers
 * ((NC + 1) packed states of E floats per head) fit one storage binding, balanced over the groups.
 *
 * @example
 * ```ts
 * import { backwardHeadGroup } from "./backward.ts";
 * import assert from "node:assert/strict";
 * assert.equal(backwardHeadGroup(4, 3, 10, 1 << 30), 4);
 * assert.equal(backwardHeadGroup(10, 3, 10, 4 * 40 * 4), 4); // 4 heads fit: groups 4, 4, 2 → 4
 * ```
 *
 * @param BH Batch × heads.
 * @param NC Chunks per head.
 * @param E Floats per packed state.
 * @param maxBinding Bytes of the largest storage binding.
 * @returns Heads per group.
 * @throws {GpuError} When one head's states exceed a binding.
 */
export function backwardHeadGroup(BH: number, NC: number, E: number, maxBinding: number): number {
  const per = 4 * (NC + 1) * E;
  const most = Math.min(BH, Math.floor(maxBinding / per));
  if (most < 1) {
    throw new GpuError(
      `The chunkwise backward needs ${per} bytes of chunk states per head, above this device's maxStorageBufferBindingSize of ${maxBinding} bytes: use a larger chunk size or a shorter sequence per call`,
    );
  }
  const groups = Math.ceil(BH / most);
  return Math.ceil(BH / groups);
}

// The register-blocked kernels' layout and staging depth on a device (depth 0: the row-sliced
// kernels run).
function blockLayout(gpu: Gpu): { large: boolean; split: boolean } {
  const large = blockedLarge === "auto" ? !/llvmpipe/i.test(gpu.adapterName) : blockedLarge;
  return { large, split: splitDkdv ?? false };
}
function blockedDepth(gpu: Gpu, DQK: number, DHV: number): number {
  if (!useBlocked) return 0;
  const wgs = gpu.limits.maxComputeWorkgroupStorageSize;
  return blockDepth(DQK, DHV, wgs, forcedDepth, blockLayout(gpu));
}

// Whether the chunkwise pass's fused stats hands its score blocks to dkdv (one 64-row block per
// chunk: rows = min(L, S)).
function sharedScoreBlocks(gpu: Gpu, DQK: number, DHV: number, rows: number): boolean {
  const blocked = blockedDepth(gpu, DQK, DHV) > 0;
  const fuse = blocked && fuseStatsDq && (DHV <= 256 || DQK <= 128);
  const split = blocked && blockModes(DHV, blockLayout(gpu).split).includes("dk");
  return shareScores && fuse && !split && rows <= BLOCK_ROWS && 2 * 64 * 64 <= DQK * DHV &&
    gpu.limits.maxStorageBuffersPerShaderStage >= 12;
}

// Storage buffers of the blocked fused stats kernel (chunkwise; the forward's score blocks: one
// more).
const fusedStatsBuffers = (withMPath: boolean, readsScores: boolean) =>
  6 + 2 + (withMPath ? 1 : 0) + 2 + (readsScores ? 1 : 0);

// Whether a chunkwise pass reads the forward's score blocks (setBackwardScoresFromForward): chunk
// 64 (the forward's layout), the fused stats sharing its blocks, one storage buffer more.
function readsForwardScores(
  gpu: Gpu,
  d: { S: number; DQK: number; DHV: number },
  L: number,
  withMPath: boolean,
): boolean {
  return scoresFromForward && L === 64 && d.DQK % 64 === 0 &&
    sharedScoreBlocks(gpu, d.DQK, d.DHV, Math.min(L, d.S)) &&
    fusedStatsBuffers(withMPath, true) <= gpu.limits.maxStorageBuffersPerShaderStage;
}

/**
 * Issue #14 ({@linkcode setBackwardScoresFromForward}; used by `forwardBackward`): where the
 * chunkwise backward pass of these dimensions would read the forward's raw score blocks, a fresh
 * (B, NH, S, DQK) f32 tensor for them, allocated as the pass allocates its dk (NaN-filled under
 * {@linkcode setBackwardPoison}); otherwise undefined. Hand it to the chunkwise forward as its
 * internal `scoresOut` option together with `keepForBackward`, and, where the forward's
 * `saved.scores` says it was written, to the backward as `forwardScores`: the pass then returns
 * it as dk. The caller frees it otherwise.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { forwardScoresBuffer } from "./backward.ts";
 * const dims = { B: 1, NH: 2, S: 256, DQK: 64, DHV: 128 };
 * const dk = forwardScoresBuffer(await getGpu(), dims, { chunkSize: 64 });
 * console.log(dk?.shape); // [1, 2, 256, 64] where the pass would read the scores
 * dk?.destroy();
 * ```
 *
 * @param gpu The device.
 * @param dims The inputs' dimensions.
 * @param options `chunkSize` (64), `gradient` ("exact") and the input gate ("exp"), which decide
 *   the stats kernel's storage buffers.
 * @returns The tensor, or undefined.
 */
export function forwardScoresBuffer(
  gpu: Gpu,
  dims: { B: number; NH: number; S: number; DQK: number; DHV: number },
  options: { chunkSize?: number; gradient?: MlstmOptions["gradient"]; gate?: InputGate } = {},
): GpuTensor | undefined {
  const withMPath = (options.gradient ?? "exact") === "exact" && (options.gate ?? "exp") === "exp";
  if (!readsForwardScores(gpu, dims, options.chunkSize ?? 64, withMPath)) return undefined;
  return GpuTensor.empty(gpu, [dims.B, dims.NH, dims.S, dims.DQK], "f32", { poison });
}

// Score-block tensors that a backward pass has used (dkdv wrote dk over them): they serve one pass.
const consumedScores = new WeakSet<GpuTensor>();

// The most heads per group with which a chunkwise pass reads saved states (0: it recomputes them).
function savedHeads(
  gpu: Gpu,
  NC: number,
  DQK: number,
  DHV: number,
  withInit: boolean,
  withLast: boolean,
): number {
  const maxSb = gpu.limits.maxStorageBuffersPerShaderStage;
  if (
    withLast || !fuseStateScan || blockedDepth(gpu, DQK, DHV) === 0 ||
    stateScanStorageBuffers("bwd", withInit, withLast) > maxSb
  ) {
    return 0;
  }
  const limit = groupLimit ?? gpu.limits.maxStorageBufferBindingSize;
  return Math.floor(limit / (4 * (NC + 1) * (DQK * DHV + DQK)));
}

/**
 * The most heads per group of kept states (a chunkwise forward's `keepForBackward`) with which
 * the WebGPU backward pass of these dimensions would use them as `savedStates`, or 0 where it
 * would recompute the states anyway (the row-sliced kernels for head dimensions that are not
 * multiples of 64, the two-pass state scans, `lastStateGradients`, too few storage buffers).
 * Pass it to the forward as `maxHeadsPerGroup` together with `keepForBackward`: then every group
 * of kept states fits the backward's state-gradient buffer ((NC + 1)·(DQK·DHV + DQK) floats per
 * head in one storage binding). `forwardBackward` does this for the chunkwise WebGPU kernels.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { savedStatesHeadLimit } from "./backward.ts";
 * const gpu = await getGpu();
 * const heads = savedStatesHeadLimit(gpu, { S: 8192, DQK: 128, DHV: 256 }, { chunkSize: 64 });
 * console.log(heads); // 126 with a 2 GiB binding limit; 0 where the pass would recompute
 * ```
 *
 * @param gpu The device.
 * @param dims Sequence length and head dimensions.
 * @param options `chunkSize` (64), whether initial states and `lastStateGradients` are given.
 * @returns Heads per group, or 0.
 */
export function savedStatesHeadLimit(
  gpu: Gpu,
  dims: { S: number; DQK: number; DHV: number },
  options: { chunkSize?: number; withInitialStates?: boolean; lastStateGradients?: boolean } = {},
): number {
  const NC = Math.ceil(dims.S / (options.chunkSize ?? 64));
  return savedHeads(
    gpu,
    NC,
    dims.DQK,
    dims.DHV,
    options.withInitialStates ?? false,
    options.lastStateGradients ?? false,
  );
}

/**
 * Options of {@linkcode mlstmBackwardWebGpu}: the forward's options, `gradient`, and optionally the
 * gradients of the loss with respect to the returned last states (chunkwise kernels only), so that
 * a sequence processed in several calls can be differentiated call by call, last call first: pass
 * the next call's `dcInitial`, `dnInitial` and `dmInitial` here. In the exact convention with the
 * exponential gate the stabilizer is differentiated too, so `m` matters: the last states are
 * stabilized, C_S = exp(-m_S)·Ĉ_S, so leaving `m` out (a zero gradient for m_S) gives the gradient
 * of a loss of the stabilized C_S and n_S alone, not the chained gradient of the whole sequence.
 * `m` is ignored by the normalizer-constant convention and the sigmoid gate.
 */
export interface MlstmBackwardOptions extends MlstmOptions {
  /**
   * Gradients with respect to the last states C (B, NH, DQK, DHV), n (B, NH, DQK) and m (B, NH) or
   * (B, NH, 1) (m optional: zero when left out). @default {undefined} (zero)
   */
  lastStateGradients?: { c: TensorLike; n: TensorLike; m?: TensorLike };
  /**
   * The chunk-boundary states the forward kept on these inputs (its `saved`, from
   * `keepForBackward`: chunkwise WebGPU kernels only), used instead of recomputing them, as
   * mlstm_kernels' `recompute_states_in_bw=False`: no state-scan dispatch and no buffers for the
   * recomputed states (their (NC + 1)·E floats and NC + 1 stabilizers per head of a group; see
   * {@linkcode chunkwiseBackwardBytes}). Used on the register-blocked path with the fused state
   * scans (head dimensions multiples of 64, {@linkcode setBackwardFuseStateScan}), where every
   * group of the saved states' heads fits the pass's own state-gradient buffer ((NC + 1)·E floats
   * per head in one binding: {@linkcode savedStatesHeadLimit} gives the forward's
   * `maxHeadsPerGroup` for that), without `lastStateGradients`; otherwise ignored (the pass
   * recomputes the states, with the same result to rounding). A pass that uses them writes into
   * them (the score blocks that stats hands to dkdv at chunk sizes up to 64, and its per-row gate
   * statistics into `gates`, the forward's gate scratch, which it does not read), so they serve
   * one backward pass: a second one throws. The caller still owns and frees them
   * (`saved.destroy()`). They must come from the same kernel's forward on the same inputs and
   * options; what can be checked (device, dtype, shapes, chunk size, chunks, gate) is, with a
   * clear error naming this option. @default {undefined} (recompute)
   */
  savedStates?: ChunkwiseSaved;
  /**
   * Internal (issue #14, {@linkcode setBackwardScoresFromForward}; set by `forwardBackward`, not
   * meant for other callers): the (B, NH, S, DQK) f32 tensor from {@linkcode forwardScoresBuffer}
   * into which the chunkwise forward wrote its raw score blocks (`saved.scores`). Where the pass
   * reads them (chunk size 64, the fused stats sharing its score blocks) its stats kernel takes
   * X = q·kᵀ from there and the pass returns the tensor as dk (written over them); elsewhere it is
   * ignored. Serves one pass. @default {undefined}
   */
  forwardScores?: GpuTensor;
}

// State tensors that a backward pass has used (and may have written into): they serve one pass.
const consumedStates = new WeakSet<GpuTensor>();

/**
 * Checks `savedStates` against the pass (before anything is dispatched); throws naming the option.
 */
function checkSavedStates(
  saved: ChunkwiseSaved,
  gpu: Gpu,
  d: { BH: number; NC: number; L: number; DQK: number; DHV: number; gate: InputGate },
): void {
  const o = "Option savedStates";
  if (typeof saved !== "object" || saved === null || !Array.isArray(saved.groups)) {
    throw new TypeError(
      `${o} must be the \`saved\` of a chunkwise forward run with keepForBackward, received ${
        saved === null ? "null" : typeof saved
      }`,
    );
  }
  if (saved.gate !== d.gate) {
    throw new TypeError(
      `${o} come from a forward with the ${saved.gate} input gate, but this pass has the ${d.gate} gate: pass the same kernel's states`,
    );
  }
  if (saved.L !== d.L) {
    throw new RangeError(
      `${o} hold chunks of ${saved.L} steps, but chunkSize is ${d.L}: pass the forward's chunkSize`,
    );
  }
  if (saved.NC !== d.NC) {
    throw new RangeError(
      `${o} hold ${saved.NC} chunks, but these inputs have ${d.NC}: pass the states of this forward`,
    );
  }
  let next = 0;
  for (const g of saved.groups) {
    if (g.h0 !== next || !Number.isInteger(g.heads) || g.heads < 1) {
      throw new RangeError(
        `${o} has a group of heads at ${g.h0} (${g.heads} heads) where head ${next} should start: pass the forward's saved unchanged`,
      );
    }
    next += g.heads;
    const want: [string, GpuTensor, number[]][] = [
      ["statesC", g.statesC, [g.heads, d.NC + 1, d.DQK, d.DHV]],
      ["statesNM", g.statesNM, [g.heads, d.NC + 1, d.DQK + 1]],
    ];
    for (const [nm, t, shape] of want) {
      if (!(t instanceof GpuTensor)) {
        throw new TypeError(`${o}: ${nm} of heads ${g.h0}.. must be a GpuTensor`);
      }
      if (t.gpu !== gpu) throw new GpuError(`${o} live on another device than q`);
      if (t.destroyed) {
        throw new GpuError(`${o} hold a destroyed GpuTensor (${nm}): run the forward again`);
      }
      if (
        t.dtype !== "f32" || t.shape.length !== shape.length ||
        t.shape.some((x, j) => x !== shape[j])
      ) {
        throw new RangeError(
          `${o}: ${nm} of heads ${g.h0}.. must be f32 (${shape.join(", ")}), received ${t.dtype} (${
            t.shape.join(", ")
          }): pass the states of a forward on these inputs`,
        );
      }
    }
    if (consumedStates.has(g.statesC)) {
      throw new GpuError(
        `${o} were already used by a backward pass, which writes into them: run the forward again with keepForBackward`,
      );
    }
  }
  if (next !== d.BH) {
    throw new RangeError(
      `${o} cover ${next} heads, but the inputs have B·NH = ${d.BH}: pass the states of this forward`,
    );
  }
}

function checkOptions(
  name: string,
  v: BackwardVariant,
  inputs: MlstmInputs,
  o: MlstmBackwardOptions,
) {
  if (o.savedStates !== undefined && v.form !== "chunkwise") {
    throw new TypeError(
      `${name} keeps no chunk states: drop savedStates or use a chunkwise kernel`,
    );
  }
  if (o.lastStateGradients !== undefined && v.form !== "chunkwise") {
    throw new TypeError(
      `${name} has no last states: drop lastStateGradients or use a chunkwise kernel`,
    );
  }
  if (v.form === "parallel") {
    if (inputs.cInitial || inputs.nInitial || inputs.mInitial) {
      throw new TypeError(
        `${name} takes no initial states: drop cInitial/nInitial/mInitial or use a chunkwise kernel`,
      );
    }
    if (o.returnLastStates) {
      throw new TypeError(
        `${name} returns no last states: set returnLastStates to false or use a chunkwise kernel`,
      );
    }
  }
}

async function pipe(gpu: Gpu, key: string, wgsl: () => string, shared: number, inv: number) {
  checkWorkgroupLimits(gpu, { storageBytes: shared, invocations: inv }, key);
  return await getPipeline(gpu, key, wgsl);
}

function paramKey(p: BwParams): string {
  return `${p.dtype}:${p.gateDtype}:${p.DQK}x${p.DHV}:${p.gate}:${p.normalize ? "n" : "u"}:${
    p.exact ? "ex" : "nc"
  }:${p.inter ? "st" : "ns"}`;
}

/**
 * The backward pass of the parallel or chunkwise mLSTM on WebGPU: dq, dk, dv, di, df, and for the
 * chunkwise form with initial states dcInitial, dnInitial, dmInitial (dmInitial is zero for the
 * sigmoid gate, which has no stabilizer). Options as for the forward (`eps` 1e-6, `chunkSize` 64,
 * `normalize` for the sigmoid gate, `dtype`) plus `gradient` ("exact" by default). Correct for any
 * chunk size and any sequence length. The chunkwise pass allocates
 * {@linkcode chunkwiseBackwardBytes} of scratch memory.
 *
 * @example Gradients of the parallel form, CPU tensors in and out
 * ```ts ignore
 * import { mlstmBackwardWebGpu } from "./backward.ts";
 * import { Random, randomMlstmInputs, randomTensor } from "../../mod.ts";
 * const rng = new Random(1);
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 7, DQK: 8, DHV: 12 }, rng);
 * const g = await mlstmBackwardWebGpu(x, randomTensor([1, 2, 7, 12], rng), {}, { form: "parallel", gate: "exp" });
 * console.assert(g.dq.shape.join() === "1,2,7,8");
 * ```
 *
 * @param inputs q, k, v, i, f and (chunkwise) optional initial states.
 * @param dh Gradient of the loss with respect to h, (B, NH, S, DHV), same dtype as q on the device.
 * @param options Forward options plus `gradient` and (chunkwise) `lastStateGradients`; with
 *   `documentStarts`, still one pass (see the module's "Packed sequences").
 * @param variant The form and the input gate.
 * @param name The kernel's name, for messages. @default {"the backward pass"}
 * @returns The gradients, f32 whatever the storage of the inputs (f16 would overflow or flush
 *   them silently).
 * @throws {TypeError | RangeError} On bad shapes, dtypes or options; {@linkcode GpuError} on device limits.
 */
export async function mlstmBackwardWebGpu(
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmBackwardOptions,
  variant: BackwardVariant,
  name = "the backward pass",
): Promise<MlstmGradients> {
  const context = {
    inputGate: variant.gate,
    ...(name === "the backward pass" ? {} : { name }),
    backend: "webgpu",
    extraOptions: ["lastStateGradients", "savedStates", "forwardScores"],
  } as const;
  const dims = validateMlstmInputs(inputs, options, context);
  validateDh(dh, dims, options, context);
  checkOptions(name, variant, inputs, options);
  const { B, NH, S, DQK, DHV, hasInitialStates } = dims;
  const dLast = options.lastStateGradients;
  if (dLast !== undefined) {
    for (
      const [nm, t, shape] of [["c", dLast.c, [B, NH, DQK, DHV]], ["n", dLast.n, [
        B,
        NH,
        DQK,
      ]]] as const
    ) {
      if (!t || t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j])) {
        throw new RangeError(
          `Option lastStateGradients.${nm} must have shape (${shape.join(", ")}), received ${
            t ? `(${t.shape.join(", ")})` : t
          }`,
        );
      }
    }
    const m = dLast.m;
    if (
      m !== undefined &&
      !(m && m.shape.length >= 2 && m.shape.length <= 3 && m.shape[0] === B && m.shape[1] === NH &&
        (m.shape.length === 2 || m.shape[2] === 1))
    ) {
      throw new RangeError(
        `Option lastStateGradients.m must have shape (${B}, ${NH}) or (${B}, ${NH}, 1), received ${
          m ? `(${m.shape.join(", ")})` : m
        }`,
      );
    }
  }
  const fwVariant = CHUNKWISE_FORWARDS[name];
  if (fwVariant) {
    const lim = (await getGpu()).limits.maxComputeWorkgroupStorageSize;
    checkChunkSize(fwVariant, options.chunkSize ?? 64, lim);
  }
  const x = await toDevice(inputs, options, {
    c: inputs.cInitial,
    n: inputs.nInitial,
    m: inputs.mInitial,
  });
  const gpu = x.gpu;
  const saved = options.savedStates;
  if (saved !== undefined) {
    try {
      checkSavedStates(saved, gpu, {
        BH: B * NH,
        NC: Math.ceil(S / (options.chunkSize ?? 64)),
        L: options.chunkSize ?? 64,
        DQK,
        DHV,
        gate: variant.gate,
      });
    } catch (e) {
      for (const t of x.temps) t.destroy();
      throw e;
    }
  }
  let dhG: GpuTensor;
  const scratch: GpuTensor[] = [];
  if (isCpuTensor(dh)) {
    if (!x.cpu) {
      throw new TypeError(
        "Argument dh is a CPU tensor but the inputs are GpuTensors: pass both alike",
      );
    }
    dhG = GpuTensor.fromTensor(gpu, dh as Tensor, x.dtype);
    scratch.push(dhG);
  } else {
    if (x.cpu || !(dh instanceof GpuTensor)) {
      throw new TypeError(
        "Argument dh is a GpuTensor but the inputs are CPU tensors: pass both alike",
      );
    }
    if (dh.gpu !== gpu) throw new GpuError("Argument dh lives on another device than q");
    if (dh.dtype !== x.dtype) {
      throw new TypeError(
        `Argument dh must have the dtype of q (${x.dtype}), received ${dh.dtype}`,
      );
    }
    // Named here, not later as a non-finite dq (the inputs were checked by toDevice).
    if (options.checkFinite) await assertDeviceInputsFinite([["dh", dh]]);
    dhG = dh;
  }
  const chunk = variant.form === "chunkwise";
  const L = chunk ? (options.chunkSize ?? 64) : S;
  const NC = Math.ceil(S / L);
  const BH = B * NH;
  const E = DQK * DHV + DQK;
  const p: BwParams = {
    dtype: x.dtype,
    gateDtype: x.gateDtype,
    DQK,
    DHV,
    gate: variant.gate,
    normalize: variant.gate === "exp" ? true : (options.normalize ?? true),
    exact: (options.gradient ?? "exact") === "exact",
    inter: chunk,
    resets: hasDocumentStarts(options.documentStarts),
  };
  const key = paramKey(p);
  // Only prep and gates read the document starts; the other kernels are shared with unpacked calls.
  const rkey = p.resets ? `${key}:resets` : key;
  checkStorageBuffers(gpu, p.resets ? 4 : 3, `mlstm-bw-prep:${rkey}`);
  const stMode = stateVec4 ?? stateVec4Default(DQK, DHV);
  const stVec4 = chunk && stMode !== false && DQK % 4 === 0 && DHV % 4 === 0;
  const stStaged = stVec4 && stMode === "staged";
  const maxShared = gpu.limits.maxComputeWorkgroupStorageSize;
  const geo0 = tileGeometry(DQK, DHV, maxShared);
  const unroll = tileUnroll === "full" ? undefined : tileUnroll ?? tileUnrollDefault(DQK, DHV);
  const geo = {
    ...(stStaged
      ? tileGeometry(DQK, DHV, maxShared - stagedStateBytes({ ...geo0, stStaged }))
      : geo0),
    stVec4,
    stStaged,
    unroll,
  };
  const tshared = tileSharedBytes(geo) + (stStaged ? stagedStateBytes(geo) : 0);
  const geoKey = `${geo.G}.${geo.BT}.${geo.BS}.${geo.RT}${stVec4 ? ".v4" : ""}${
    stStaged ? "s" : ""
  }${unroll ? `.u${unroll.rows}x${unroll.sums}` : ""}`;
  const withInit = chunk && hasInitialStates;
  const withLast = chunk && dLast !== undefined;
  let dlc: GpuTensor | undefined, dln: GpuTensor | undefined, dlm: GpuTensor | undefined;
  if (withLast) {
    const dev = (t: TensorLike, nm: string): GpuTensor => {
      if (isCpuTensor(t) !== x.cpu) {
        throw new TypeError(
          `Option lastStateGradients.${nm} must be a ${
            x.cpu ? "CPU tensor" : "GpuTensor"
          } like the inputs`,
        );
      }
      if (isCpuTensor(t)) {
        const g = GpuTensor.fromTensor(gpu, t, "f32");
        scratch.push(g);
        return g;
      }
      const g = t as GpuTensor;
      if (g.dtype !== "f32") {
        throw new TypeError(`Option lastStateGradients.${nm} must be f32, received ${g.dtype}`);
      }
      return g;
    };
    dlc = dev(dLast!.c, "c");
    dln = dev(dLast!.n, "n");
    if (mPath(p)) {
      // The stabilizer's path starts from dm_last (zeros when not given).
      if (dLast!.m !== undefined) dlm = dev(dLast!.m, "m");
      else {
        dlm = GpuTensor.fromTensor(gpu, { shape: [B, NH], data: new Float32Array(B * NH) }, "f32");
        scratch.push(dlm);
      }
    }
  }
  // The register-blocked kernels where the head dimensions allow (multiples of 64), the
  // row-sliced ones otherwise.
  const layout = blockLayout(gpu);
  const KC = blockedDepth(gpu, DQK, DHV);
  const blocked = KC > 0;
  // The forward's states instead of recomputing them (savedStates), where the pass can use them.
  const savedLimit = saved && chunk ? savedHeads(gpu, NC, DQK, DHV, withInit, withLast) : 0;
  const useSaved = saved !== undefined && savedLimit > 0 &&
    saved.groups.every((g) => g.heads <= savedLimit);
  // dkdv as one kernel, or split into dk and dv (always above DHV 256).
  const split = blocked && blockModes(DHV, layout.split).includes("dk");
  const dvTiles = DHV / dvTile(DHV);
  // Stats hands the state term's product dh·Cᵀ to dq through dq's own (f32) buffer. Fused with
  // dq only where its two accumulators fit registers (up to DHV 256 as before, else DQK ≤ 128).
  const fuse = blocked && chunk && fuseStatsDq && (DHV <= 256 || DQK <= 128);
  const reuseU = !fuse && blocked && chunk && (x.dtype === "f32" || reuseUF16);
  // Stats hands its score blocks to dkdv (one 64-row block per chunk).
  const shareBlocks = chunk && sharedScoreBlocks(gpu, DQK, DHV, Math.min(L, S));
  // The forward's raw score blocks in the dk buffer (forwardScores), where stats can read them.
  const fws = options.forwardScores;
  if (fws !== undefined) {
    if (!isLiveF32(fws, gpu, [B, NH, S, DQK])) {
      for (const t of [...scratch, ...x.temps]) t.destroy();
      throw new TypeError(
        `Option forwardScores must be a live f32 GpuTensor (${B}, ${NH}, ${S}, ${DQK}) of q's device`,
      );
    }
    if (consumedScores.has(fws)) {
      for (const t of [...scratch, ...x.temps]) t.destroy();
      throw new GpuError(
        "Option forwardScores was already used by a backward pass, which writes dk over it: run the forward again",
      );
    }
  }
  const readX = fws !== undefined && chunk && shareBlocks &&
    readsForwardScores(gpu, { S, DQK, DHV }, L, mPath(p));
  const shareMode = (mode: BlockMode) =>
    shareBlocks ? (mode === "stats" ? "out" : mode === "dkdv" ? "in" : undefined) : undefined;
  // Row statistics first in the fused stats: one block of other rows per chunk (chunk ≤ 64).
  const pf = { ...prefetch };
  const scanKey = scanRows === 16 ? "" : `:rows${scanRows}`;
  const rf = rowFirst && fuse && chunk && Math.min(L, S) <= BLOCK_ROWS;
  // The state products 32 deep (setBackwardStateDepth) where every blocked mode fits.
  const sd = stateDepth !== undefined && blocked && chunk && KC === 16 && DQK <= 128 &&
      blockModes(DHV, layout.split).every((m) =>
        blockSharedBytes(DQK, DHV, KC, m, stateDepth) <=
          gpu.limits.maxComputeWorkgroupStorageSize
      )
    ? stateDepth
    : KC;
  // Double-buffered state staging (setBackwardDoubleState) where every blocked mode fits.
  const dbs = !!doubleBuffer.state && blocked && chunk && !!pf.state &&
    blockModes(DHV, layout.split).every((m) =>
      blockSharedBytes(DQK, DHV, KC, m, sd, true) <= gpu.limits.maxComputeWorkgroupStorageSize
    );
  const dbk = !!doubleBuffer.scores && blocked && !!pf.scores;
  // The state terms' own kernels (setBackwardStateTerm: U for the fused stats;
  // setBackwardColumnStateTerms: dkdv's products, unsplit dkdv only) where their storage fits.
  const termTiles = (pr: StateTermProduct) =>
    stateTermTilesFor(pr, DQK, typeof stateTerm === "object" ? stateTerm : undefined);
  const termFits = (pr: StateTermProduct) =>
    stateTermSharedBytes(DQK, termTiles(pr), pr, DHV) <= gpu.limits.maxComputeWorkgroupStorageSize;
  const ut = stateTerm !== undefined && fuse && chunk && blocked && termFits("u");
  const utc = columnStateTerms && chunk && blocked && !split && termFits("dk") && termFits("dv");
  const pfKey = `${!!pf.state}${!!pf.accum}${!!pf.scores}${!!pf.scan}${rf}${
    sd !== KC ? `:sd${sd}` : ""
  }${dbs ? ":dbs" : ""}${dbk ? ":dbk" : ""}${ut ? ":ut" : ""}${utc ? ":utc" : ""}`;
  const oTiles = blocked ? outerBlockTiles(DQK, DHV) : outerTiles(DQK, DHV);
  const outerBlockShared = 16 * (64 / 2 + 256 + 16 * 32);
  const tilePipe = (mode: BlockMode) => {
    // The kernel's own storage bindings (parallel form: no state, no stabilizers), so that
    // devices with few per-shader buffers (SwiftShader and WebGPU's default: 10 and 8) still run
    // the variants that fit. The fused stats (issue #14) also binds dq and its row sums.
    const own = { stats: 6, dq: 8, dkdv: 9, dk: 8, dv: 6 }[mode] + (chunk ? 2 : 0) +
      (mode === "stats" && reuseU ? 1 : 0) + (mode === "stats" && mPath(p) ? 1 : 0) +
      (mode === "stats" && fuse ? 2 : 0) + (shareMode(mode) === "in" ? 1 : 0) +
      (mode === "stats" && readX ? 1 : 0);
    checkStorageBuffers(gpu, own, `mlstm-bw-${mode}:${key}`);
    if (blocked) {
      const sm = shareMode(mode);
      return pipe(
        gpu,
        `mlstm-bw-block-${mode}:${key}:${reuseU}:${KC}:${trimDiagonal}:${fuse}:${trimScores}:${sm}:${pfKey}${
          useSaved ? ":saved" : ""
        }${mode === "stats" && readX ? ":xf" : ""}`,
        () =>
          blockWgsl(p, mode, reuseU, KC, trimDiagonal, fuse, trimScores, sm, {
            prefetch: pf,
            rowFirst: rf,
            ...(sd !== KC ? { stateDepth: sd } : {}),
            ...(dbs ? { doubleState: true } : {}),
            ...(dbk ? { doubleScores: true } : {}),
            ...((ut && mode === "stats") || (utc && mode === "dkdv") ? { stateTermIn: true } : {}),
            ...(readX && mode === "stats" ? { scoresFromForward: true } : {}),
          }, useSaved),
        blockSharedBytes(DQK, DHV, KC, mode, sd, dbs),
        256,
      );
    }
    const k = `mlstm-bw-${mode}:${key}:${geoKey}`;
    return pipe(
      gpu,
      k,
      () => tileWgsl(p, mode as TileMode, geo),
      tshared,
      (geo.BT / geo.RT) * geo.G,
    );
  };
  // A state term's own kernel (`u` reads the states before the chunks: saved or recomputed).
  const termPipe = (pr: StateTermProduct) => {
    const t = termTiles(pr), saved = pr === "u" && useSaved;
    return pipe(
      gpu,
      `mlstm-bw-state-term${pr === "u" ? "" : `-${pr}`}:${key}:${t.TM}:${t.BK}${
        saved ? ":saved" : ""
      }`,
      () => stateTermWgsl(p, saved, pr, t),
      stateTermSharedBytes(DQK, t, pr, DHV),
      stateTermThreads(t),
    );
  };
  const [prepP, statsP, dqP, dkdvP, dvP, gatesP, utP, utDkP, utDvP] = await Promise.all([
    pipe(gpu, `mlstm-bw-prep:${rkey}`, () => prepWgsl(p), 0, 64),
    tilePipe("stats"),
    // Fused: stats computes dq, no dq pipeline.
    fuse ? undefined : tilePipe("dq"),
    tilePipe(split ? "dk" : "dkdv"),
    split ? tilePipe("dv") : undefined,
    (checkStorageBuffers(
      gpu,
      6 + (withInit ? 6 : 0) + (withLast ? 3 : 0) + (mPath(p) ? 3 + (withLast ? 1 : 0) : 0) +
        (p.resets ? 1 : 0),
      `mlstm-bw-gates:${rkey}`,
    ),
      gatesWide
        ? pipe(
          gpu,
          `mlstm-bw-gates-wide:${rkey}:${withInit}:${withLast}`,
          () => gatesWideWgsl(p, withInit, withLast),
          gatesWideSharedBytes(p),
          GATES_WIDE_THREADS,
        )
        : pipe(
          gpu,
          `mlstm-bw-gates:${rkey}:${withInit}:${withLast}`,
          () => gatesWgsl(p, withInit, withLast),
          260 + (mPath(p) ? 512 : 0),
          64,
        )),
    ut ? termPipe("u") : undefined,
    utc ? termPipe("dk") : undefined,
    utc ? termPipe("dv") : undefined,
  ]);
  const f32 = (shape: number[]) => {
    const t = GpuTensor.empty(gpu, shape, "f32", { poison });
    scratch.push(t);
    return t;
  };
  const out = (shape: readonly number[], dt: "f32" | "f16") =>
    GpuTensor.empty(gpu, shape, dt, { poison });
  // With saved states the forward's gate scratch (8 floats per row or more, which this pass does
  // not read) holds the per-row gate statistics gi (4 floats per row), where it is still alive.
  const sg = saved?.gates;
  const hostGi = useSaved && sg instanceof GpuTensor && sg.gpu === gpu && !sg.destroyed &&
    sg.byteSize >= 16 * BH * S;
  const gi = hostGi ? sg : f32([BH * S, 4]);
  const giBytes = 16 * BH * S;
  const rs = f32([BH * S, 4]);
  // The gradient reaching each stabilizer m_t (exact convention, exponential gate).
  const dmt = mPath(p) ? f32([BH * S]) : undefined;
  const dmtB = dmt ? [dmt] : [];
  const dmtBytes = dmt ? dmt.byteSize : 0;
  const rsum = f32([BH * S]);
  const csum = f32([2 * BH * S]);
  // Gradients are f32 whatever the storage of the inputs: in f16 they would overflow to ±Inf
  // (|g| > 65504) or flush to 0 (|g| < 6e-8) without a word.
  const dq = out([B, NH, S, DQK], "f32");
  // With the forward's score blocks, their tensor: stats reads them, dkdv writes dk over them.
  const dk = readX ? fws! : out([B, NH, S, DQK], "f32");
  const dv = out([B, NH, S, DHV], "f32");
  const di = out([B, NH, S], "f32");
  const df = out([B, NH, S], "f32");
  const scale = 1 / Math.sqrt(DQK), eps = options.eps ?? 1e-6;
  const u = packUniforms(S, L, NC, BH, scale, eps, 0, NH);
  // Packed sequences: the document-start flags, read by prep and gates (one pass for any number
  // of documents).
  const rst = p.resets ? uploadDocumentStarts(gpu, options.documentStarts, B, S) : undefined;
  if (rst) scratch.push(rst);
  const rstB = rst ? [rst] : [];
  const batch = new DispatchBatch(gpu);
  const tiles = Math.ceil(Math.min(L, S) / (blocked ? BLOCK_ROWS : geo.BT));
  const fl = (rows: number, d: number) => 2 * BH * rows * d;
  const tag = name === "the backward pass" ? `${variant.form}-${variant.gate}` : name;
  batch.dispatch({
    label: `${tag} bw prep`,
    pipeline: prepP,
    buffers: [x.i, x.f, gi, ...rstB],
    uniforms: u,
    workgroups: [Math.ceil((BH * NC) / 64)],
    bytes: x.i.byteSize + x.f.byteSize + giBytes,
  });
  let outs: { dcInitial?: GpuTensor; dnInitial?: GpuTensor; dmInitial?: GpuTensor } = {};
  if (withInit) {
    outs = {
      dcInitial: out([B, NH, DQK, DHV], "f32"),
      dnInitial: out([B, NH, DQK], "f32"),
      dmInitial: out(x.m!.shape, "f32"),
    };
  }
  const intra = S * Math.min(L, S); // per head, ≈ 2× the causal pairs
  // Head groups: the per-chunk state buffers of one group must fit one storage binding; with
  // saved states, the forward's groups (each fits: savedHeads).
  const GH = chunk
    ? backwardHeadGroup(BH, NC, E, groupLimit ?? gpu.limits.maxStorageBufferBindingSize)
    : BH;
  const groups: Pick<ChunkwiseSavedGroup, "h0" | "heads">[] = useSaved ? saved!.groups : [];
  for (let h0 = 0; !useSaved && h0 < BH; h0 += GH) {
    groups.push({ h0, heads: Math.min(GH, BH - h0) });
  }
  const maxGH = Math.max(...groups.map((g) => g.heads));
  // The fused state recomputation (one pass) on the register-blocked path.
  const maxSb = gpu.limits.maxStorageBuffersPerShaderStage;
  // (None with saved states: the forward's are read instead.)
  const stateScan = chunk && blocked && fuseStateScan && !useSaved &&
    stateScanStorageBuffers("fwd", withInit, withLast) <= maxSb;
  const reverseScan = chunk && blocked && fuseStateScan &&
    stateScanStorageBuffers("bwd", withInit, withLast) <= maxSb;
  let stP: GPUComputePipeline | undefined, sfP: GPUComputePipeline | undefined;
  let dstP: GPUComputePipeline | undefined, sbP: GPUComputePipeline | undefined;
  let chat: GpuTensor | undefined, cprev: GpuTensor | undefined, mp: GpuTensor | undefined;
  let clast: GpuTensor | undefined;
  if (chunk) {
    [stP, sfP, dstP, sbP] = await Promise.all([
      stateScan || useSaved ? undefined : blocked
        ? pipe(
          gpu,
          `mlstm-bw-block-outer-state:${key}`,
          () => outerBlockWgsl(p, "state"),
          outerBlockShared,
          256,
        )
        : pipe(gpu, `mlstm-bw-outer-state:${key}`, () => outerWgsl(p, "state"), 512, 64),
      useSaved ? undefined : stateScan
        ? pipe(
          gpu,
          `mlstm-bw-state-scan:${key}:${withInit}:${withLast}:${!!pf.scan}${scanKey}`,
          () => stateScanWgsl(p, withInit, withLast, "fwd", pf.scan, false, scanRows),
          stateScanSharedBytes(DHV, scanRows),
          256,
        )
        : pipe(
          gpu,
          `mlstm-bw-scanf:${key}:${withInit}:${withLast}`,
          () => scanWgsl(p, "fwd", withInit, withLast),
          0,
          64,
        ),
      reverseScan ? undefined : blocked
        ? pipe(
          gpu,
          `mlstm-bw-block-outer-dstate:${key}`,
          () => outerBlockWgsl(p, "dstate"),
          outerBlockShared,
          256,
        )
        : pipe(gpu, `mlstm-bw-outer-dstate:${key}`, () => outerWgsl(p, "dstate"), 512, 64),
      reverseScan
        ? pipe(
          gpu,
          `mlstm-bw-state-scan-bwd:${key}:${withLast}:${!!pf.scan}${
            useSaved ? ":saved" : ""
          }${scanKey}`,
          () => stateScanWgsl(p, false, withLast, "bwd", pf.scan, useSaved, scanRows),
          stateScanSharedBytes(DHV, scanRows),
          256,
        )
        : pipe(
          gpu,
          `mlstm-bw-scanb:${key}:${withLast}`,
          () => scanWgsl(p, "bwd", false, withLast),
          0,
          64,
        ),
    ]);
    // One buffer: Ĉ per chunk, then Ĝ per chunk, then (in place) the state gradients.
    chat = f32([maxGH * (NC + 1), E]);
    if (!useSaved) {
      cprev = f32([GH * NC, E]);
      mp = f32([GH * (NC + 1)]);
    }
    if (withLast) clast = f32([BH, E]);
  }
  for (const [j, { h0, heads: gh }] of groups.entries()) {
    const ug = h0 === 0 ? u : packUniforms(S, L, NC, BH, scale, eps, h0, NH);
    const share = gh / BH; // of the cost-model FLOPs
    // The states before every chunk: recomputed (cprev, mp) or the forward's (statesC, statesNM).
    const stC = useSaved ? saved!.groups[j]!.statesC : cprev;
    const stM = useSaved ? saved!.groups[j]!.statesNM : mp;
    if (chunk) {
      const init = withInit ? [x.c!, x.n!, x.m!] : [];
      // (With saved states nothing is recomputed: stateScan is false, the two passes skipped.)
      if (stateScan) {
        batch.dispatch({
          label: `${tag} bw state scan`,
          pipeline: sfP!,
          buffers: [x.k, x.v, gi, ...init, cprev!, mp!, ...(withLast ? [clast!] : [])],
          uniforms: ug,
          workgroups: [stateScanTiles(DQK, DHV), 1, gh],
          flops: share * fl(S, DQK * DHV),
          bytes: share * (x.k.byteSize + x.v.byteSize + giBytes) +
            4 * gh * (NC * E + NC + 1 + (withLast ? E : 0)) +
            (withInit ? share * (x.c!.byteSize + x.n!.byteSize + x.m!.byteSize) : 0),
        });
      } else if (!useSaved) {
        batch.dispatch({
          label: `${tag} bw outer state`,
          pipeline: stP!,
          buffers: [x.k, x.v, gi, chat!],
          uniforms: ug,
          workgroups: [oTiles, NC, gh],
          flops: share * fl(S, DQK * DHV),
          bytes: share * (x.k.byteSize + x.v.byteSize + giBytes) + 4 * gh * NC * E,
        });
      }
      if (!stateScan && !useSaved) {
        batch.dispatch({
          label: `${tag} bw scan fwd`,
          pipeline: sfP!,
          buffers: [chat!, gi, ...init, cprev!, mp!, ...(withLast ? [clast!] : [])],
          uniforms: ug,
          workgroups: [Math.ceil(E / 64), gh],
          bytes: 4 * gh * (2 * NC * E + 5 * NC + 1 + (withLast ? E : 0)) +
            (withInit ? share * (x.c!.byteSize + x.n!.byteSize + x.m!.byteSize) : 0),
        });
      }
      if (utP) {
        batch.dispatch({
          label: `${tag} bw state term`,
          pipeline: utP,
          buffers: [dhG, stC!, dq],
          uniforms: ug,
          workgroups: [tiles, NC, gh],
          flops: share * fl(S, DQK * DHV),
          bytes: share * (dhG.byteSize + dq.byteSize) + 4 * gh * NC * DQK * DHV,
        });
      }
      batch.dispatch({
        label: `${tag} bw stats`,
        pipeline: statsP,
        buffers: [
          x.q,
          x.k,
          x.v,
          dhG,
          gi,
          stC!,
          stM!,
          rs,
          ...(reuseU ? [dq] : []),
          ...dmtB,
          ...(fuse ? [dq, rsum] : []),
          ...(readX ? [dk] : []),
        ],
        uniforms: ug,
        workgroups: [tiles, NC, gh],
        // With the forward's score blocks: no q·kᵀ product, 64 × 64 floats read per chunk.
        flops: share * (fl(intra, (readX ? 0 : DQK) + DHV + (fuse ? 2 * DQK : 0)) / 2 +
          (utP ? 0 : fl(S, DQK * DHV))),
        bytes: share * (x.q.byteSize + x.k.byteSize + x.v.byteSize + dhG.byteSize +
              giBytes + rs.byteSize + (reuseU || utP ? dq.byteSize : 0) + dmtBytes) +
          4 * gh * NC * (E + 1 + (shareBlocks ? 2 * 64 * 64 : 0) + (readX ? 64 * 64 : 0)),
      });
      if (reverseScan) {
        batch.dispatch({
          label: `${tag} bw state scan bwd`,
          pipeline: sbP!,
          buffers: [x.q, dhG, gi, rs, stM!, ...(withLast ? [dlc!, dln!] : []), chat!],
          uniforms: ug,
          workgroups: [stateScanTiles(DQK, DHV), 1, gh],
          flops: share * fl(S, DQK * DHV),
          bytes: share * (x.q.byteSize + dhG.byteSize + giBytes + rs.byteSize) +
            4 * gh * ((NC + 1) * E + NC + 1) +
            (withLast ? share * (dlc!.byteSize + dln!.byteSize) : 0),
        });
      } else {
        batch.dispatch({
          label: `${tag} bw outer dstate`,
          pipeline: dstP!,
          buffers: [x.q, dhG, gi, rs, chat!],
          uniforms: ug,
          workgroups: [oTiles, NC, gh],
          flops: share * fl(S, DQK * DHV),
          bytes: share * (x.q.byteSize + dhG.byteSize + giBytes + rs.byteSize) +
            4 * gh * NC * E,
        });
        batch.dispatch({
          label: `${tag} bw scan bwd`,
          pipeline: sbP!,
          buffers: withLast ? [gi, mp!, dlc!, dln!, chat!] : [gi, mp!, chat!],
          uniforms: ug,
          workgroups: [Math.ceil(E / 64), gh],
          bytes: 4 * gh * ((2 * NC + 1) * E + 5 * NC + 1) +
            (withLast ? share * (dlc!.byteSize + dln!.byteSize) : 0),
        });
      }
    } else {
      batch.dispatch({
        label: `${tag} bw stats`,
        pipeline: statsP,
        buffers: [x.q, x.k, x.v, dhG, gi, rs, ...dmtB],
        uniforms: ug,
        workgroups: [tiles, NC, gh],
        flops: share * fl(intra, DQK + DHV) / 2,
        bytes: share * (x.q.byteSize + x.k.byteSize + x.v.byteSize + dhG.byteSize +
          giBytes + rs.byteSize + dmtBytes),
      });
    }
    const st = chunk ? [stC!, stM!] : [];
    // Fused: stats has written dq and its row sums.
    if (!fuse) {
      batch.dispatch({
        label: `${tag} bw dq`,
        pipeline: dqP!,
        buffers: [x.q, x.k, x.v, dhG, gi, rs, ...st, dq, rsum],
        uniforms: ug,
        workgroups: [tiles, NC, gh],
        flops: share * (fl(intra, 2 * DQK + DHV) / 2 + (chunk ? fl(S, DQK * DHV) : 0)),
        bytes: share * (x.q.byteSize + x.k.byteSize + x.v.byteSize + dhG.byteSize + giBytes +
              rs.byteSize + (reuseU ? 2 : 1) * dq.byteSize + rsum.byteSize) +
          (chunk ? 4 * gh * NC * ((reuseU ? DQK : E) + 1) : 0),
      });
    }
    const dst = chunk ? [chat!, stM!] : [];
    if (split) {
      // dk (with the column sums), then dv over its column tiles (q·kᵀ formed again per tile).
      batch.dispatch({
        label: `${tag} bw dk`,
        pipeline: dkdvP,
        buffers: [x.q, x.k, x.v, dhG, gi, rs, ...dst, dk, csum],
        uniforms: ug,
        workgroups: [tiles, NC, gh],
        flops: share * (fl(intra, 2 * DQK + DHV) / 2 + (chunk ? fl(S, DQK * DHV) : 0)),
        bytes: share * (x.q.byteSize + x.k.byteSize + x.v.byteSize + dhG.byteSize + giBytes +
              rs.byteSize + dk.byteSize + csum.byteSize) +
          (chunk ? 4 * gh * NC * (E + 1) : 0),
      });
      batch.dispatch({
        label: `${tag} bw dv`,
        pipeline: dvP!,
        buffers: [x.q, x.k, dhG, gi, rs, ...dst, dv],
        uniforms: ug,
        workgroups: [tiles * dvTiles, NC, gh],
        flops: share * (fl(intra, dvTiles * DQK + DHV) / 2 + (chunk ? fl(S, DQK * DHV) : 0)),
        bytes: share * (dvTiles * (x.q.byteSize + x.k.byteSize) + dhG.byteSize + giBytes +
              rs.byteSize + dv.byteSize) + (chunk ? 4 * gh * NC * DQK * DHV : 0),
      });
    } else {
      if (utDkP && utDvP) {
        for (const [pr, pl, a, o] of [["dk", utDkP, x.v, dk], ["dv", utDvP, x.k, dv]] as const) {
          batch.dispatch({
            label: `${tag} bw state term ${pr}`,
            pipeline: pl,
            buffers: [a, chat!, o],
            uniforms: ug,
            workgroups: [tiles * stateTermColTiles(pr, DQK, DHV, termTiles(pr)), NC, gh],
            flops: share * fl(S, DQK * DHV),
            bytes: share * (a.byteSize + o.byteSize) + 4 * gh * NC * DQK * DHV,
          });
        }
      }
      batch.dispatch({
        label: `${tag} bw dkdv`,
        pipeline: dkdvP,
        buffers: [
          x.q,
          x.k,
          x.v,
          dhG,
          gi,
          rs,
          ...dst,
          ...(shareBlocks ? [stC!] : []),
          dk,
          dv,
          csum,
        ],
        uniforms: ug,
        workgroups: [tiles, NC, gh],
        // With stats' score blocks: no q·kᵀ, dh·vᵀ products, 2 · 64 × 64 floats read per chunk.
        flops: share * (fl(intra, (shareBlocks ? 1 : 2) * (DQK + DHV)) / 2 +
          (chunk && !utc ? 2 * fl(S, DQK * DHV) : 0)),
        bytes: share * (x.q.byteSize + x.k.byteSize + x.v.byteSize + dhG.byteSize + giBytes +
              rs.byteSize + (utc ? 2 : 1) * (dk.byteSize + dv.byteSize) + csum.byteSize) +
          (chunk ? 4 * gh * NC * (E + 1 + (shareBlocks ? 2 * 64 * 64 : 0)) : 0),
      });
    }
    const gb: GpuTensor[] = [x.i, x.f, rsum, csum, di, df];
    if (withInit) {
      gb.push(chat!, x.c!, x.n!, outs.dcInitial!, outs.dnInitial!, outs.dmInitial!);
    }
    if (withLast) gb.push(dlc!, dln!, clast!);
    if (dmt) gb.push(gi, rs, dmt, ...(withLast ? [dlm!] : []));
    gb.push(...rstB);
    batch.dispatch({
      label: `${tag} bw gates`,
      pipeline: gatesP,
      buffers: gb,
      uniforms: ug,
      workgroups: [gh],
      bytes: share * ((variant.gate === "sig" ? x.i.byteSize : 0) + x.f.byteSize +
            rsum.byteSize + csum.byteSize + di.byteSize + df.byteSize +
            (dmt ? giBytes + rs.byteSize + dmtBytes + (withLast ? dlm!.byteSize : 0) : 0)) +
        4 * gh * ((withInit ? 3 * E + 1 : 0) + (withLast ? 2 * E : 0)),
    });
  }
  await batch.submit();
  // The pass wrote into them (shared score blocks): they serve one pass.
  if (useSaved) { for (const g of saved!.groups) consumedStates.add(g.statesC); }
  if (readX) consumedScores.add(fws!);
  const r = await finish(x, { dq, dk, dv, di, df, ...outs }, scratch);
  return r as MlstmGradients;
}

/**
 * A copy of a forward kernel object with a `backward` added (the forward is delegated unchanged).
 *
 * @example
 * ```ts
 * import { withBackward } from "./backward.ts";
 * import { referenceKernels } from "../../reference/kernels.ts";
 * const k = withBackward(referenceKernels[0]!, () => Promise.reject(new Error("none")));
 * console.assert(typeof k.backward === "function" && k.name === referenceKernels[0]!.name);
 * ```
 *
 * @param kernel The forward kernel.
 * @param backward The backward pass.
 * @returns A kernel with both.
 */
export function withBackward(
  kernel: MlstmKernel,
  backward: NonNullable<MlstmKernel["backward"]>,
): MlstmKernel {
  return {
    name: kernel.name,
    backend: kernel.backend,
    form: kernel.form,
    inputGate: kernel.inputGate,
    supportsStates: kernel.supportsStates,
    forward: (inputs, options) => kernel.forward(inputs, options),
    backward,
  };
}

/**
 * Gives every kernel named in {@linkcode BACKWARD_VARIANTS} its WebGPU backward pass; other kernels
 * pass through unchanged. This is the one call `kernels/mod.ts` needs:
 * `export const webgpuKernels = attachBackwards([...])`.
 *
 * @example
 * ```ts
 * import { attachBackwards } from "./backward.ts";
 * import { parallelKernels } from "../parallel.ts";
 * const ks = attachBackwards(parallelKernels);
 * console.assert(ks.every((k) => typeof k.backward === "function"));
 * ```
 *
 * @param kernels Forward kernels.
 * @returns The kernels, with backward passes where one exists.
 */
export function attachBackwards(kernels: readonly MlstmKernel[]): MlstmKernel[] {
  return kernels.map((k) => {
    const v = BACKWARD_VARIANTS[k.name];
    if (!v || k.backward) return k;
    return withBackward(
      k,
      (inputs, dh, options = {}) => mlstmBackwardWebGpu(inputs, dh, options, v, k.name),
    );
  });
}
