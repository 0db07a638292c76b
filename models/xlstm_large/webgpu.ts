/**
 * The WebGPU forward of xLSTM Large (backend "webgpu"), GPU-resident from the token ids to the
 * logits. Per block, in the architecture's order (M = B·S token rows, D model width):
 *
 *     x (M, D) ──RMSNorm──▶ xn ──GEMM [q|k|v|o|i|f]ᵀ──▶ P (M, NP)      one fused projection
 *     P ──head split──▶ q, k (B, NH, S, DQK), v (B, NH, S, DHV), cap(i), cap(f) (B, NH, S)
 *     mLSTM cell (chunkwise--xl_chunk; step--fused for S = 1), states carried ──▶ h (B, NH, S, DHV)
 *     h ──per-head LayerNorm · sigmoid(o)──▶ hn (M, vDim) ──GEMM out_projᵀ, x += ──▶ x
 *     x ──RMSNorm──▶ xn ──GEMM [up_gate|up]ᵀ──▶ U (M, 2F) ──SwiGLU──▶ G ──GEMM downᵀ, x += ──▶ x
 *
 * then RMSNorm → lm head (GEMM with the soft-cap fused) → logits. The q, k, v, o, i, f weights of a
 * block are concatenated at load into one (NP × D) matrix (the gate rows padded to a multiple of
 * 4), the two FFN up-projections into one (2F × D); weights are f32 or f16 (activations, states
 * and all arithmetic f32); weights beyond one storage binding are split into row blocks.
 *
 * Nothing is read back unless the caller reads the logits; temporaries return to the buffer pool
 * when a forward ends. A bad weight stream frees everything allocated so far before it throws.
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import type { MlstmForwardResult, MlstmInputs, TensorLike } from "../../core/types.ts";
import { xlChunkKernel } from "../../kernels/chunkwise/mod.ts";
import { recurrentKernels, stepStorageBuffers } from "../../kernels/recurrent.ts";
import { isCpuTensor } from "../../core/validate.ts";
import { f16ToF32 } from "../../io/dtype.ts";
import {
  DispatchBatch,
  getGpu,
  type Gpu,
  GpuError,
  GpuTensor,
  poisonOutputsEnabled,
} from "../../kernels/runtime.ts";
import {
  encodeElementwise,
  encodeGather,
  encodeGemm,
  encodeNorm,
  encodeRandomFill,
  encodeToHeads,
  type LinearWeight,
  uploadTokenIds,
  weightBlockRows,
} from "../../kernels/layers/mod.ts";
import type { XlstmLargeConfig } from "./config.ts";
import type {
  XlstmLargeBackend,
  XlstmLargeBlockState,
  XlstmLargeDtype,
  XlstmLargeImpl,
  XlstmLargeImplOptions,
  XlstmLargeImplResult,
  XlstmLargeState,
  XlstmLargeWeight,
} from "./_impl.ts";
import { xlstmLargeInit, xlstmLargeWeightShapes } from "./random_init.ts";

/** Column layout of the fused mLSTM projection P = xn · [q|k|v|o|i|f|pad]ᵀ. */
export interface ProjLayout {
  /** First column of q, k, v, o, i, f. */
  readonly q: number;
  /** See {@linkcode ProjLayout.q}. */
  readonly k: number;
  /** See {@linkcode ProjLayout.q}. */
  readonly v: number;
  /** See {@linkcode ProjLayout.q}. */
  readonly o: number;
  /** See {@linkcode ProjLayout.q}. */
  readonly i: number;
  /** See {@linkcode ProjLayout.q}. */
  readonly f: number;
  /** Columns in all (gate rows padded to a multiple of 4 so that every row stays vec4-aligned). */
  readonly NP: number;
}

/**
 * The fused projection's column layout for a configuration.
 *
 * @example
 * ```ts
 * import { projLayout } from "./webgpu.ts";
 * const l = projLayout({ qkDim: 2048, vDim: 4096, numHeads: 8 });
 * console.assert(l.NP === 12304 && l.f === 12296);
 * ```
 *
 * @param c qkDim, vDim, numHeads.
 * @returns The layout.
 */
export function projLayout(
  c: Pick<XlstmLargeConfig, "qkDim" | "vDim" | "numHeads">,
): ProjLayout {
  const q = 0, k = c.qkDim, v = 2 * c.qkDim, o = v + c.vDim, i = o + c.vDim, f = i + c.numHeads;
  return { q, k, v, o, i, f, NP: Math.ceil((f + c.numHeads) / 4) * 4 };
}

/** The weights of one block on the GPU. */
export interface BlockWeights {
  /** RMSNorm weight before the mLSTM layer (D). */
  normMlstm: GpuTensor;
  /** Its bias, with useBias. */
  normMlstmBias?: GpuTensor;
  /** The fused projection [q|k|v|o|i|f] (NP × D), gate biases included. */
  proj: LinearWeight;
  /** Per-head LayerNorm weight (vDim). */
  headNorm: GpuTensor;
  /** Its bias, with useBias. */
  headNormBias?: GpuTensor;
  /** out_proj (D × vDim). */
  outProj: LinearWeight;
  /** RMSNorm weight before the FFN (D). */
  normFfn: GpuTensor;
  /** Its bias, with useBias. */
  normFfnBias?: GpuTensor;
  /** The fused [proj_up_gate | proj_up] (2F × D). */
  up: LinearWeight;
  /** proj_down (D × F). */
  down: LinearWeight;
}

/** All weights on the GPU. */
export interface ModelWeights {
  /** The embedding table (V × D). */
  embedding: LinearWeight;
  /** Per block. */
  blocks: BlockWeights[];
  /** Output RMSNorm weight (D), with addOutNorm. */
  outNorm?: GpuTensor;
  /** Its bias, with useBias. */
  outNormBias?: GpuTensor;
  /** The lm head (V × D). */
  lmHead: LinearWeight;
}

/** Options of {@linkcode XlstmLargeWebgpu.forwardDevice}. */
export interface ForwardDeviceOptions {
  /** The state to continue from (zeros when undefined); not modified. */
  state?: XlstmLargeState;
  /** Compute the logits of each row's last position only: (B, 1, V). @default {false} */
  lastOnly?: boolean;
}

/** The result of {@linkcode XlstmLargeWebgpu.forwardDevice}: everything on the GPU. */
export interface ForwardDeviceResult {
  /** Soft-capped logits, (B, S, V), or (B, 1, V) with `lastOnly`. */
  logits: GpuTensor;
  /** One (C, n, m) per block, GpuTensors owned by the caller. */
  state: XlstmLargeBlockState[];
}

const STEP_KERNEL = recurrentKernels.find((k) => k.name === "step--fused")!;

/**
 * Whether this adapter can run the fused step kernel (its storage buffers, not in place: the
 * model's one-token forward; the decoding loop updates in place and needs one fewer).
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../../kernels/runtime.ts";
 * import { stepFits } from "./webgpu.ts";
 * console.log(stepFits(await getGpu()));
 * ```
 *
 * @param gpu The device.
 * @returns True where `step--fused` fits the device's limits.
 */
export function stepFits(gpu: Gpu): boolean {
  return gpu.limits.maxStorageBuffersPerShaderStage >= stepStorageBuffers(false, false);
}

// Tracks every tensor allocated while weights load, so that a failure frees them all.
class Allocations {
  readonly list: GpuTensor[] = [];
  add<T extends GpuTensor>(t: T): T {
    this.list.push(t);
    return t;
  }
  freeAll(): void {
    for (const t of this.list) t.destroy();
    this.list.length = 0;
  }
}

type Data = Float32Array | Uint16Array;

/** Uploads (N × K) rows (f32 values or f16 bits) as a LinearWeight split into binding-sized blocks. */
function uploadLinear(
  gpu: Gpu,
  alloc: Allocations,
  data: Data,
  N: number,
  K: number,
  dtype: XlstmLargeDtype,
  bias?: Float32Array,
): LinearWeight {
  const rows = weightBlockRows(N, K, dtype, gpu.limits.maxStorageBufferBindingSize);
  const blocks: GpuTensor[] = [];
  const biases: GpuTensor[] = [];
  for (let n0 = 0; n0 < N; n0 += rows) {
    const nb = Math.min(rows, N - n0);
    const t = alloc.add(GpuTensor.empty(gpu, [nb, K], dtype));
    writeData(gpu, t, data.subarray(n0 * K, (n0 + nb) * K));
    blocks.push(t);
    if (bias) {
      const b = alloc.add(GpuTensor.empty(gpu, [nb]));
      writeData(gpu, b, bias.subarray(n0, n0 + nb));
      biases.push(b);
    }
  }
  return { N, K, dtype, blocks, ...(bias ? { bias: biases } : {}) };
}

/** writeBuffer of raw f32 values or f16 bits, padded to a multiple of 4 bytes. */
function writeData(gpu: Gpu, t: GpuTensor, data: Data): void {
  if (data.byteLength % 4 !== 0) {
    const padded = new Uint16Array(data.length + 1);
    padded.set(data as Uint16Array);
    data = padded;
  }
  gpu.device.queue.writeBuffer(t.buffer, 0, data as Float32Array<ArrayBuffer>);
}

const asF32 = (w: XlstmLargeWeight): Float32Array =>
  w.data instanceof Uint16Array ? f16ToF32(w.data) : w.data;

/**
 * xLSTM Large on WebGPU: implements the backend contract (`forward` with CPU token ids, logits
 * as a GpuTensor) and offers {@linkcode XlstmLargeWebgpu.forwardDevice} for generation (token ids
 * already on the GPU, last-position logits only).
 *
 * @example
 * ```ts no-eval
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { webgpuXlstmLargeBackend } from "./webgpu.ts";
 * const config = createXlstmLargeConfig({ vocabSize: 50, embeddingDim: 64, numBlocks: 2, numHeads: 2 });
 * const model = await webgpuXlstmLargeBackend.random!(config, { dtype: "f32", seed: 1 });
 * const { logits } = await model.forward([[1, 2, 3]]);
 * model.destroy();
 * ```
 */
export class XlstmLargeWebgpu implements XlstmLargeImpl {
  /** The configuration. */
  readonly config: XlstmLargeConfig;
  /** Storage dtype of the weights (activations and states are f32). */
  readonly dtype: XlstmLargeDtype;
  /** The device. */
  readonly gpu: Gpu;
  readonly #w: ModelWeights;
  readonly #alloc: Allocations;
  #destroyed = false;

  /** Use {@linkcode webgpuXlstmLargeBackend} to build one. */
  constructor(
    config: XlstmLargeConfig,
    dtype: XlstmLargeDtype,
    gpu: Gpu,
    weights: ModelWeights,
    alloc: Allocations,
  ) {
    this.config = config;
    this.dtype = dtype;
    this.gpu = gpu;
    this.#w = weights;
    this.#alloc = alloc;
  }

  /**
   * The weights on the GPU, for the decoding loop (models/xlstm_large/decode.ts): read them, do
   * not free them.
   */
  get deviceWeights(): ModelWeights {
    if (this.#destroyed) throw new GpuError("This XlstmLarge model was destroyed");
    return this.#w;
  }

  /** Bytes of GPU memory the weights occupy. */
  get weightBytes(): number {
    return this.#alloc.list.reduce((s, t) => s + t.byteSize, 0);
  }

  /**
   * The backend contract's forward: CPU token ids (B, S) in; soft-capped logits (B, S, V) as a
   * GpuTensor (read it with `.read()`) and the new state (GpuTensors) out.
   *
   * @param ids Token ids (B rows of S ≥ 1).
   * @param state The state to continue from; not modified.
   * @returns Logits and state.
   */
  async forward(
    ids: readonly (readonly number[])[],
    state?: XlstmLargeState,
  ): Promise<XlstmLargeImplResult> {
    const r = await this.forwardDevice(ids, state ? { state } : {});
    return { logits: r.logits, state: r.state };
  }

  /**
   * The forward pass with everything on the GPU: ids as CPU rows or as a (B, S) GpuTensor of u32
   * words (see kernels/layers/gather.ts: a GPU sampler can write them), optional `lastOnly`
   * (logits of the last position of each row, as generation needs).
   *
   * @param ids Token ids.
   * @param options State and lastOnly.
   * @returns Logits and the new state, on the GPU, owned by the caller.
   * @throws {RangeError} On bad ids or a state of the wrong shape.
   * @throws {GpuError} If a tensor exceeds a device limit (e.g. full logits of a long prompt:
   *   use lastOnly).
   */
  async forwardDevice(
    ids: readonly (readonly number[])[] | GpuTensor,
    options: ForwardDeviceOptions = {},
  ): Promise<ForwardDeviceResult> {
    if (this.#destroyed) throw new GpuError("This XlstmLarge model was destroyed");
    const c = this.config, gpu = this.gpu, w = this.#w;
    const D = c.embeddingDim, NH = c.numHeads, DQK = c.qkHeadDim, DHV = c.vHeadDim;
    const F = c.ffnDim, V = c.vocabSize;
    const L = projLayout(c);
    const idsT = ids instanceof GpuTensor ? ids : uploadTokenIds(gpu, ids, V);
    if (idsT.shape.length !== 2) {
      throw new RangeError(`Argument ids must be (B, S), received ${formatShape(idsT.shape)}`);
    }
    const [B, S] = idsT.shape as [number, number];
    const lastOnly = options.lastOnly ?? false;
    const temps: GpuTensor[] = [];
    // With the runtime's poisoning on (tests), temporaries start as NaN: an element some kernel
    // fails to write shows up in the logits.
    const poison = poisonOutputsEnabled();
    const tmp = (shape: number[]) => {
      const t = GpuTensor.empty(gpu, shape, "f32", { poison });
      temps.push(t);
      return t;
    };
    if (!(ids instanceof GpuTensor)) temps.push(idsT);
    const given = options.state;
    if (given !== undefined && given.length !== c.numBlocks) {
      throw new RangeError(
        `Argument state must hold one (C, n, m) per block (${c.numBlocks}), received ${given.length}`,
      );
    }
    const newState: XlstmLargeBlockState[] = [];
    try {
      const x = tmp([B, S, D]);
      const xn = tmp([B, S, D]);
      const P = tmp([B, S, L.NP]);
      const q = tmp([B, NH, S, DQK]), k = tmp([B, NH, S, DQK]), v = tmp([B, NH, S, DHV]);
      const ig = tmp([B, NH, S]), fg = tmp([B, NH, S]);
      const hn = tmp([B, S, c.vDim]);
      const U = tmp([B, S, 2 * F]);
      const G = tmp([B, S, F]);
      // The mLSTM cell: the step kernel for one token where the adapter allows its storage
      // buffers (browsers often offer fewer), else and for more tokens the chunkwise kernel (which
      // masks a last partial chunk itself).
      const cell = S === 1 && stepFits(gpu) ? STEP_KERNEL : xlChunkKernel;
      let batch = new DispatchBatch(gpu);
      await encodeGather(batch, idsT, w.embedding, x);
      for (let bi = 0; bi < c.numBlocks; bi++) {
        const bw = w.blocks[bi]!;
        // mLSTM layer: norm, fused projection, heads.
        await encodeNorm(batch, x, xn, {
          kind: "rms",
          weight: bw.normMlstm,
          ...(bw.normMlstmBias ? { bias: bw.normMlstmBias } : {}),
          eps: c.normEps,
        });
        await encodeGemm(batch, xn, bw.proj, P);
        await encodeToHeads(batch, P, q, { off: L.q, cap: 0 });
        await encodeToHeads(batch, P, k, { off: L.k, cap: 0 });
        await encodeToHeads(batch, P, v, { off: L.v, cap: 0 });
        await encodeToHeads(batch, P, ig, { off: L.i, cap: c.gateSoftCap });
        await encodeToHeads(batch, P, fg, { off: L.f, cap: c.gateSoftCap });
        await batch.submit();
        // The cell (its own command buffer).
        const inputs: MlstmInputs = { q, k, v, i: ig, f: fg };
        const s0 = given?.[bi];
        const up: GpuTensor[] = [];
        if (s0) {
          const dev = (t: TensorLike, shape: number[], name: string) => {
            // m may come as (B, NH, 1), mlstm_kernels' step layout: same elements.
            const same = t.shape.length >= shape.length &&
              t.shape.slice(shape.length).every((d) => d === 1) &&
              shape.every((d, j) => d === t.shape[j]);
            if (!same) {
              throw new RangeError(
                `Argument state[${bi}].${name} must be ${formatShape(shape)}, received ${
                  formatShape(t.shape)
                }`,
              );
            }
            if (isCpuTensor(t)) {
              const g = GpuTensor.fromTensor(gpu, { shape, data: t.data });
              up.push(g);
              return g;
            }
            if (!(t instanceof GpuTensor) || t.destroyed || t.dtype !== "f32") {
              throw new TypeError(
                `Argument state[${bi}].${name} must be a CPU tensor or a live f32 GpuTensor`,
              );
            }
            // A view with the cell's shape on the caller's buffer (never destroyed here).
            return t.shape.length === shape.length ? t : new GpuTensor(gpu, shape, "f32", t.buffer);
          };
          inputs.cInitial = dev(s0.c, [B, NH, DQK, DHV], "c");
          inputs.nInitial = dev(s0.n, [B, NH, DQK], "n");
          inputs.mInitial = dev(s0.m, [B, NH], "m");
        }
        let out: MlstmForwardResult;
        try {
          out = await cell.forward(inputs, {
            chunkSize: c.chunkSize,
            eps: c.eps,
            returnLastStates: true,
          });
        } finally {
          for (const t of up) t.destroy();
        }
        const h = out.h as GpuTensor;
        temps.push(h);
        newState.push(out.last!);
        if (h.shape.length !== 4) {
          throw new GpuError(`The mLSTM cell returned h ${formatShape(h.shape)}`);
        }
        batch = new DispatchBatch(gpu);
        // Per-head LayerNorm · sigmoid(o), out_proj with the residual add in place.
        await encodeNorm(batch, h, hn, {
          kind: "layer",
          groups: NH,
          headMajor: true,
          weight: bw.headNorm,
          ...(bw.headNormBias ? { bias: bw.headNormBias } : {}),
          gate: { t: P, ld: L.NP, off: L.o },
          eps: c.normEps,
        });
        await encodeGemm(batch, hn, bw.outProj, x, { epilogue: "accumulate" });
        // FFN.
        await encodeNorm(batch, x, xn, {
          kind: "rms",
          weight: bw.normFfn,
          ...(bw.normFfnBias ? { bias: bw.normFfnBias } : {}),
          eps: c.normEps,
        });
        await encodeGemm(batch, xn, bw.up, U);
        await encodeElementwise(batch, "swiglu", G, { t: U, ld: 2 * F, off: 0 }, {
          t: U,
          ld: 2 * F,
          off: F,
        });
        await encodeGemm(batch, G, bw.down, x, { epilogue: "accumulate" });
      }
      // Head: norm, (last rows), lm head with the soft-cap fused.
      let hin = x;
      if (c.addOutNorm) {
        await encodeNorm(batch, x, xn, {
          kind: "rms",
          weight: w.outNorm!,
          ...(w.outNormBias ? { bias: w.outNormBias } : {}),
          eps: c.normEps,
        });
        hin = xn;
      }
      if (lastOnly && S > 1) {
        const last = tmp([B, 1, D]);
        for (let b = 0; b < B; b++) {
          batch.copy(hin, ((b * S + S - 1) * D) * 4, last, b * D * 4, D * 4);
        }
        hin = last;
      }
      const logits = GpuTensor.empty(gpu, [B, lastOnly ? 1 : S, V], "f32", { poison });
      try {
        await encodeGemm(
          batch,
          hin,
          w.lmHead,
          logits,
          c.outputLogitSoftCap > 0 ? { epilogue: "softcap", cap: c.outputLogitSoftCap } : {},
        );
        await batch.submit();
      } catch (e) {
        logits.destroy();
        throw e;
      }
      return { logits, state: newState };
    } catch (e) {
      for (const s of newState) for (const t of [s.c, s.n, s.m]) (t as GpuTensor).destroy?.();
      throw e;
    } finally {
      for (const t of temps) t.destroy();
    }
  }

  /** Frees every GPU buffer of the weights; the model is unusable afterwards. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#alloc.freeAll();
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

const BLOCK_RE = /^backbone\.blocks\.(\d+)\.(.+)$/;

/** The fused groups of a block: which canonical names go into which fused weight, in row order. */
const PROJ_PARTS = ["q", "k", "v", "ogate_preact", "igate_preact", "fgate_preact"] as const;
const UP_PARTS = ["proj_up_gate", "proj_up"] as const;

async function loadWeights(
  config: XlstmLargeConfig,
  dtype: XlstmLargeDtype,
  weights: AsyncIterable<XlstmLargeWeight>,
): Promise<XlstmLargeWebgpu> {
  const gpu = await getGpu();
  if (dtype === "f16" && !gpu.hasF16) {
    throw new GpuError(
      `dtype "f16" needs the shader-f16 feature, which ${gpu.adapterName} does not offer: use dtype "f32"`,
    );
  }
  const c = config, D = c.embeddingDim, F = c.ffnDim;
  const L = projLayout(c);
  const expected = xlstmLargeWeightShapes(c);
  const alloc = new Allocations();
  const seen = new Set<string>();
  // Parts of fused groups wait here until their group is complete (one block's worth at most).
  const pending = new Map<string, XlstmLargeWeight>();
  const blocks: Partial<BlockWeights>[] = Array.from({ length: c.numBlocks }, () => ({}));
  let embedding: LinearWeight | undefined, lmHead: LinearWeight | undefined;
  let outNorm: GpuTensor | undefined, outNormBias: GpuTensor | undefined;
  const vec = (wt: XlstmLargeWeight) => {
    const t = alloc.add(GpuTensor.empty(gpu, [wt.data.length]));
    writeData(gpu, t, asF32(wt));
    return t;
  };
  const tryFuseProj = (bi: number) => {
    const pre = `backbone.blocks.${bi}.mlstm_layer.`;
    const names = PROJ_PARTS.flatMap((p) => {
      const list = [`${pre}${p}.weight`];
      if (expected.has(`${pre}${p}.bias`)) list.push(`${pre}${p}.bias`);
      return list;
    });
    if (!names.every((n) => pending.has(n))) return;
    const data = dtype === "f16" ? new Uint16Array(L.NP * D) : new Float32Array(L.NP * D);
    const bias = new Float32Array(L.NP);
    const offs = [L.q, L.k, L.v, L.o, L.i, L.f];
    PROJ_PARTS.forEach((p, j) => {
      data.set(pending.get(`${pre}${p}.weight`)!.data as never, offs[j]! * D);
      const b = pending.get(`${pre}${p}.bias`);
      if (b) bias.set(asF32(b), offs[j]!);
    });
    blocks[bi]!.proj = uploadLinear(gpu, alloc, data, L.NP, D, dtype, bias);
    for (const n of names) pending.delete(n);
  };
  const tryFuseUp = (bi: number) => {
    const pre = `backbone.blocks.${bi}.ffn.`;
    const names = UP_PARTS.flatMap((p) => {
      const list = [`${pre}${p}.weight`];
      if (c.useBias) list.push(`${pre}${p}.bias`);
      return list;
    });
    if (!names.every((n) => pending.has(n))) return;
    const data = dtype === "f16" ? new Uint16Array(2 * F * D) : new Float32Array(2 * F * D);
    const bias = c.useBias ? new Float32Array(2 * F) : undefined;
    UP_PARTS.forEach((p, j) => {
      data.set(pending.get(`${pre}${p}.weight`)!.data as never, j * F * D);
      if (bias) bias.set(asF32(pending.get(`${pre}${p}.bias`)!), j * F);
    });
    blocks[bi]!.up = uploadLinear(gpu, alloc, data, 2 * F, D, dtype, bias);
    for (const n of names) pending.delete(n);
  };
  try {
    for await (const wt of weights) {
      const shape = expected.get(wt.name);
      if (!shape) throw new RangeError(`Unexpected weight ${JSON.stringify(wt.name)}`);
      if (seen.has(wt.name)) throw new RangeError(`Weight ${JSON.stringify(wt.name)} given twice`);
      const n = shape.reduce((a, b) => a * b, 1);
      if (
        wt.shape.length !== shape.length || wt.shape.some((d, j) => d !== shape[j]) ||
        wt.data.length !== n || (dtype === "f16") !== (wt.data instanceof Uint16Array)
      ) {
        throw new RangeError(
          `Weight ${wt.name} must be ${formatShape(shape)} ${dtype}, received ${
            formatShape(wt.shape)
          } with ${wt.data.length} ${wt.data instanceof Uint16Array ? "f16" : "f32"} elements`,
        );
      }
      seen.add(wt.name);
      const name = wt.name;
      if (name === "backbone.embeddings.weight") {
        embedding = uploadLinear(gpu, alloc, wt.data, c.vocabSize, D, dtype);
      } else if (name === "lm_head.weight") {
        lmHead = uploadLinear(gpu, alloc, wt.data, c.vocabSize, D, dtype);
      } else if (name === "backbone.out_norm.weight") {
        outNorm = vec(wt);
      } else if (name === "backbone.out_norm.bias") {
        outNormBias = vec(wt);
      } else {
        const m = BLOCK_RE.exec(name)!;
        const bi = Number(m[1]), rest = m[2]!;
        const bw = blocks[bi]!;
        switch (rest) {
          case "norm_mlstm.weight":
            bw.normMlstm = vec(wt);
            break;
          case "norm_mlstm.bias":
            bw.normMlstmBias = vec(wt);
            break;
          case "norm_ffn.weight":
            bw.normFfn = vec(wt);
            break;
          case "norm_ffn.bias":
            bw.normFfnBias = vec(wt);
            break;
          case "mlstm_layer.multihead_norm.weight":
            bw.headNorm = vec(wt);
            break;
          case "mlstm_layer.multihead_norm.bias":
            bw.headNormBias = vec(wt);
            break;
          case "mlstm_layer.out_proj.weight":
          case "mlstm_layer.out_proj.bias":
          case "ffn.proj_down.weight":
          case "ffn.proj_down.bias":
            pending.set(name, wt);
            for (
              const [key, part, N, K] of [
                ["outProj", "mlstm_layer.out_proj", D, c.vDim],
                ["down", "ffn.proj_down", D, F],
              ] as const
            ) {
              const wn = `backbone.blocks.${bi}.${part}.weight`;
              const bn = `backbone.blocks.${bi}.${part}.bias`;
              if (pending.has(wn) && (!c.useBias || pending.has(bn))) {
                bw[key] = uploadLinear(
                  gpu,
                  alloc,
                  pending.get(wn)!.data,
                  N,
                  K,
                  dtype,
                  c.useBias ? asF32(pending.get(bn)!) : undefined,
                );
                pending.delete(wn);
                pending.delete(bn);
              }
            }
            break;
          default:
            pending.set(name, wt);
            if (rest.startsWith("mlstm_layer.")) tryFuseProj(bi);
            else tryFuseUp(bi);
        }
      }
    }
    const missing = [...expected.keys()].filter((n) => !seen.has(n));
    if (missing.length) {
      throw new RangeError(
        `Weights missing: ${missing.slice(0, 5).join(", ")}${
          missing.length > 5 ? ` and ${missing.length - 5} more` : ""
        }`,
      );
    }
    const model: ModelWeights = {
      embedding: embedding!,
      blocks: blocks as BlockWeights[],
      lmHead: lmHead!,
      ...(outNorm ? { outNorm } : {}),
      ...(outNormBias ? { outNormBias } : {}),
    };
    return new XlstmLargeWebgpu(config, dtype, gpu, model, alloc);
  } catch (e) {
    alloc.freeAll();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Random weights on the GPU

async function randomWeights(
  config: XlstmLargeConfig,
  dtype: XlstmLargeDtype,
  seed: number,
): Promise<XlstmLargeWebgpu> {
  const gpu = await getGpu();
  if (dtype === "f16" && !gpu.hasF16) {
    throw new GpuError(
      `dtype "f16" needs the shader-f16 feature, which ${gpu.adapterName} does not offer: use dtype "f32"`,
    );
  }
  const c = config, D = c.embeddingDim, F = c.ffnDim;
  const L = projLayout(c);
  const shapes = xlstmLargeWeightShapes(c);
  const alloc = new Allocations();
  try {
    let batch = new DispatchBatch(gpu);
    // With f16 storage, the f32 norm weights and biases are f16-rounded too, as in a checkpoint
    // converted to f16 (and in the weights hashRandomXlstmLargeWeights streams).
    const spec = (name: string) => ({
      seed,
      name,
      roundToF16: dtype === "f16",
      ...xlstmLargeInit(name, shapes.get(name)!),
    });
    // A LinearWeight of N rows whose row ranges [r0, r0 + n) come from the named tensors (in
    // order; rows left over stay zero), and its bias likewise.
    const linear = async (
      N: number,
      K: number,
      parts: { name: string; row: number; rows: number }[],
      withBias: boolean,
    ): Promise<LinearWeight> => {
      const rowsPer = weightBlockRows(N, K, dtype, gpu.limits.maxStorageBufferBindingSize);
      const blocks: GpuTensor[] = [], bias: GpuTensor[] = [];
      for (let b0 = 0; b0 < N; b0 += rowsPer) {
        const nb = Math.min(rowsPer, N - b0);
        const blk = alloc.add(GpuTensor.empty(gpu, [nb, K], dtype));
        blocks.push(blk);
        const bb = withBias ? alloc.add(GpuTensor.empty(gpu, [nb])) : undefined;
        if (bb) bias.push(bb);
        for (const p of parts) {
          const lo = Math.max(p.row, b0), hi = Math.min(p.row + p.rows, b0 + nb);
          if (lo >= hi) continue;
          await encodeRandomFill(batch, blk, {
            ...spec(`${p.name}.weight`),
            offset: (lo - p.row) * K,
            dstOffset: (lo - b0) * K,
            count: (hi - lo) * K,
          });
          if (bb && shapes.has(`${p.name}.bias`)) {
            await encodeRandomFill(batch, bb, {
              ...spec(`${p.name}.bias`),
              offset: lo - p.row,
              dstOffset: lo - b0,
              count: hi - lo,
            });
          }
        }
        // Submit block by block so that the uniform buffer of one batch stays small.
        await batch.submit();
        batch = new DispatchBatch(gpu);
      }
      return { N, K, dtype, blocks, ...(withBias ? { bias } : {}) };
    };
    const vec = async (name: string) => {
      const t = alloc.add(GpuTensor.empty(gpu, shapes.get(name)!));
      await encodeRandomFill(batch, t, spec(name));
      return t;
    };
    const maybeVec = (name: string) => (shapes.has(name) ? vec(name) : Promise.resolve(undefined));
    const embedding = await linear(
      c.vocabSize,
      D,
      [{ name: "backbone.embeddings", row: 0, rows: c.vocabSize }],
      false,
    );
    const blocks: BlockWeights[] = [];
    for (let bi = 0; bi < c.numBlocks; bi++) {
      const b = `backbone.blocks.${bi}`;
      const m = `${b}.mlstm_layer`;
      const proj = await linear(L.NP, D, [
        { name: `${m}.q`, row: L.q, rows: c.qkDim },
        { name: `${m}.k`, row: L.k, rows: c.qkDim },
        { name: `${m}.v`, row: L.v, rows: c.vDim },
        { name: `${m}.ogate_preact`, row: L.o, rows: c.vDim },
        { name: `${m}.igate_preact`, row: L.i, rows: c.numHeads },
        { name: `${m}.fgate_preact`, row: L.f, rows: c.numHeads },
      ], true);
      const bw: BlockWeights = {
        normMlstm: await vec(`${b}.norm_mlstm.weight`),
        proj,
        headNorm: await vec(`${m}.multihead_norm.weight`),
        outProj: await linear(D, c.vDim, [{ name: `${m}.out_proj`, row: 0, rows: D }], c.useBias),
        normFfn: await vec(`${b}.norm_ffn.weight`),
        up: await linear(2 * F, D, [
          { name: `${b}.ffn.proj_up_gate`, row: 0, rows: F },
          { name: `${b}.ffn.proj_up`, row: F, rows: F },
        ], c.useBias),
        down: await linear(D, F, [{ name: `${b}.ffn.proj_down`, row: 0, rows: D }], c.useBias),
      };
      const nb = await maybeVec(`${b}.norm_mlstm.bias`);
      if (nb) bw.normMlstmBias = nb;
      const hb = await maybeVec(`${m}.multihead_norm.bias`);
      if (hb) bw.headNormBias = hb;
      const fb = await maybeVec(`${b}.norm_ffn.bias`);
      if (fb) bw.normFfnBias = fb;
      blocks.push(bw);
    }
    const outNorm = await maybeVec("backbone.out_norm.weight");
    const outNormBias = await maybeVec("backbone.out_norm.bias");
    const lmHead = await linear(
      c.vocabSize,
      D,
      [{ name: "lm_head", row: 0, rows: c.vocabSize }],
      false,
    );
    await batch.submit();
    const model: ModelWeights = {
      embedding,
      blocks,
      lmHead,
      ...(outNorm ? { outNorm } : {}),
      ...(outNormBias ? { outNormBias } : {}),
    };
    return new XlstmLargeWebgpu(config, dtype, gpu, model, alloc);
  } catch (e) {
    alloc.freeAll();
    throw e;
  }
}

/**
 * The "webgpu" backend of `XlstmLarge`: streamed weights are uploaded tensor by tensor (fused
 * groups of one block wait on the CPU until complete), random weights are generated on the GPU
 * with the hash of core/hash_random.ts (the same numbers `hashRandomXlstmLargeWeights` streams
 * from the CPU).
 *
 * @example
 * ```ts
 * import { webgpuXlstmLargeBackend } from "./webgpu.ts";
 * console.assert(webgpuXlstmLargeBackend.name === "webgpu");
 * ```
 */
export const webgpuXlstmLargeBackend: XlstmLargeBackend = {
  name: "webgpu",
  fromWeights(config, weights, options: XlstmLargeImplOptions) {
    return loadWeights(config, options.dtype, weights);
  },
  random(config, options) {
    return randomWeights(config, options.dtype, options.seed);
  },
};

/** Frees a state's GpuTensors (CPU tensors are left alone). */
export function destroyXlstmLargeState(state: XlstmLargeState): void {
  for (const s of state) {
    for (const t of [s.c, s.n, s.m]) if (t instanceof GpuTensor) t.destroy();
  }
}
