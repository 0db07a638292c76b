/**
 * The decoding step of xLSTM Large on WebGPU: one token per sequence through every block, for B = 1
 * to 16 sequences, with the fused step kernel (`step--fused`) for the cell and the matrix-vector
 * kernels for every projection, the states updated in place on the GPU. A step reads its token ids
 * from a GPU buffer that the token-choice kernel of the previous step wrote, so any number of steps
 * can be encoded into one command buffer with no read-back in between.
 *
 * Per block (x (B, D) is the residual stream, P (B, NP) the fused projection):
 *
 *     x ──RMSNorm──▶ xn ──matvec [q|k|v|o|i|f]──▶ P ──split (one dispatch)──▶ q, k, v, cap(i), cap(f)
 *     step kernel: C (in place), n and m (ping-pong) ──▶ h (B, NH, DHV)
 *     h ──per-head LayerNorm · sigmoid(o)──▶ hn ──matvec out_proj, x += ──▶ x
 *     x ──RMSNorm──▶ xn ──matvec [up_gate|up]──▶ U ──matvec down of SwiGLU(U) (fused), x += ──▶ x
 *
 * then RMSNorm → matvec lm_head with the soft-cap fused → logits (B, V).
 *
 * The fused step (the default) makes 6 dispatches per block instead of 9: the projection writes
 * q, k, v, o and the capped gates itself (no split), and up to batch 2 each RMSNorm is the
 * prologue of the matvec after it; the step kernel's constant uniforms live in a buffer, so every
 * bind group of a replayed step is kept across command buffers. Host CPU per step is set by the
 * dispatch count (~300 dispatches took ~2.2 ms on the H100 machine).
 *
 * @module
 */

import {
  DispatchBatch,
  type DispatchSpec,
  getPipeline,
  type Gpu,
  GpuError,
  GpuTensor,
} from "../../kernels/runtime.ts";
import { type StepKernelParams, stepKernelParams, stepWgsl } from "../../kernels/recurrent.ts";
import { encodeGather, encodeNorm } from "../../kernels/layers/mod.ts";
import { f32Lit, largestDivisor } from "../../kernels/_common.ts";
import { encodeMatvec, encodeMatvecSplit, MATVEC_MAX_BATCH } from "../../kernels/layers/matvec.ts";
import type { XlstmLargeBlockState, XlstmLargeState } from "./_impl.ts";
import { projLayout, type XlstmLargeWebgpu } from "./webgpu.ts";

/**
 * WGSL of the decode split: for one token per sequence the head-major q, k, v (B, NH, 1, DH) are
 * the projection's column ranges as they are, so one dispatch copies q, k, v and soft-caps the
 * gates (five head splits of the prefill in one). Bindings: P (B, NP), q, k, v, i, f.
 *
 * @example
 * ```ts
 * import { decodeSplitWgsl } from "./decode.ts";
 * console.assert(decodeSplitWgsl({ B: 2, NP: 112, qk: 32, v: 32, NH: 2, cap: 15 }).includes("tanh"));
 * ```
 *
 * @param p Batch, projection row length, q/k and v widths, heads, gate soft cap (0: none).
 * @returns WGSL source.
 */
export function decodeSplitWgsl(
  p: { B: number; NP: number; qk: number; v: number; NH: number; cap: number },
): string {
  const E = 2 * p.qk + p.v + 2 * p.NH;
  const capped = (x: string) =>
    p.cap > 0 ? `${f32Lit(p.cap)} * tanh(clamp(${x} * ${f32Lit(1 / p.cap)}, -20.0, 20.0))` : x;
  return `// decode split: B ${p.B}, NP ${p.NP}, q/k ${p.qk}, v ${p.v}, NH ${p.NH}, cap ${p.cap}
@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> gi: array<f32>;
@group(0) @binding(5) var<storage, read_write> gf: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.x;
  if (g >= ${p.B * E}u) { return; }
  let b = g / ${E}u;
  let e = g % ${E}u;
  // P's columns: q, k, v, o (skipped: the head norm reads it in place), i, f.
  let x = P[b * ${p.NP}u + e + select(0u, ${p.v}u, e >= ${2 * p.qk + p.v}u)];
  if (e < ${p.qk}u) { q[b * ${p.qk}u + e] = x; }
  else if (e < ${2 * p.qk}u) { k[b * ${p.qk}u + e - ${p.qk}u] = x; }
  else if (e < ${2 * p.qk + p.v}u) { v[b * ${p.v}u + e - ${2 * p.qk}u] = x; }
  else if (e < ${2 * p.qk + p.v + p.NH}u) { gi[b * ${p.NH}u + e - ${2 * p.qk + p.v}u] = ${
    capped("x")
  }; }
  else { gf[b * ${p.NH}u + e - ${2 * p.qk + p.v + p.NH}u] = ${capped("x")}; }
}
`;
}

/**
 * Tiles of the step kernel for decoding: narrow column tiles (4 vectors of 4) and up to 64 row
 * groups, so that one token's state update (B·NH·DQK·DHV floats read and written) is spread over
 * many workgroups (256 at the 7B's heads for B = 1, against 64 with the sequence kernel's default
 * tiles) instead of a few long-running ones.
 *
 * @example
 * ```ts
 * import { decodeStepParams } from "./decode.ts";
 * const p = decodeStepParams(256, 512);
 * console.assert(p.TCV === 4 && p.R === 64 && p.inPlace);
 * ```
 *
 * @param DQK Query/key head dimension.
 * @param DHV Value head dimension.
 * @returns The in-place step kernel's parameters (f32, exponential input gate).
 */
export function decodeStepParams(DQK: number, DHV: number): StepKernelParams {
  const base = stepKernelParams(DQK, DHV, "f32", "f32", "exp", true, true);
  const TCV = largestDivisor(DHV / base.VW, 4);
  const R = largestDivisor(DQK, Math.min(64, Math.floor(256 / TCV)));
  return { ...base, TCV, R };
}

/** Which fusions a decoding step uses (see {@linkcode XlstmLargeDecoder}'s constructor). */
export interface DecodeFusion {
  /** Fused step: static uniforms, the projection writing q, k, v, o and the gates itself. */
  fused: boolean;
  /**
   * With `fused`: the RMSNorms as prologues of the following matvecs, for batches up to this
   * size (0: never). Each workgroup of such a matvec reads all B rows of x once more to sum the
   * squares. On the H100 (7B, f16, bench/generate_bench.ts) batch 1 ran 156.5 tokens/s with the
   * prologues at 0.7-0.8 ms host CPU per step, 165.4 tokens/s without at 1.2-2.2 ms (varying
   * between runs); batch 8 ran 60.5 with and 88.7 without. Default 1: the CPU bound (≤ 2 ms per
   * token) holds with room at batch 1; larger batches take the GPU time.
   */
  normFusionMaxBatch: number;
}

let decodeFusion: DecodeFusion = { fused: true, normFusionMaxBatch: 1 };

/**
 * Sets the fusions that decoders made from now on use by default (the benchmark compares them;
 * the results are the same up to f32 rounding).
 *
 * @example
 * ```ts
 * import { setDecodeFusion } from "./decode.ts";
 * setDecodeFusion({ fused: true, normFusionMaxBatch: 1 });
 * ```
 *
 * @param f The fusions (missing fields keep their value).
 */
export function setDecodeFusion(f: Partial<DecodeFusion>): void {
  decodeFusion = { ...decodeFusion, ...f };
}

/** One block's recurrent state on the GPU: C updated in place, n and m ping-ponged. */
interface BlockStateBuffers {
  c: GpuTensor;
  n: [GpuTensor, GpuTensor];
  m: [GpuTensor, GpuTensor];
}

/**
 * Decoding-step buffers and states of B sequences for one model: {@linkcode XlstmLargeDecoder.encodeStep}
 * records one step (embedding gather of `ids` → logits) into a batch. The states live here; load
 * them with {@linkcode XlstmLargeDecoder.setState} and take them out with
 * {@linkcode XlstmLargeDecoder.takeState}.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch } from "../../kernels/runtime.ts";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "./webgpu.ts";
 * import { XlstmLargeDecoder } from "./decode.ts";
 * const config = createXlstmLargeConfig({ vocabSize: 50, embeddingDim: 32, numBlocks: 2, numHeads: 2 });
 * const model = await webgpuXlstmLargeBackend.random!(config, { dtype: "f32", seed: 1 }) as XlstmLargeWebgpu;
 * const dec = new XlstmLargeDecoder(model, 1);
 * model.gpu.device.queue.writeBuffer(dec.ids.buffer, 0, new Uint32Array([7]));
 * const batch = new DispatchBatch(model.gpu);
 * await dec.encodeStep(batch);
 * await batch.submit();
 * const logits = await dec.logits.read(); // (1, 50)
 * dec.destroy();
 * ```
 */
export class XlstmLargeDecoder {
  /** The model. */
  readonly model: XlstmLargeWebgpu;
  /** Sequences. */
  readonly B: number;
  /** Token ids read by the next step: (B, 1) u32 words. */
  readonly ids: GpuTensor;
  /** Logits written by the last step: (B, V), soft-capped. */
  readonly logits: GpuTensor;
  /** Steps encoded so far (the parity picks the n, m buffers). */
  #steps = 0;
  readonly #states: BlockStateBuffers[];
  readonly #recorded: [DispatchSpec[] | undefined, DispatchSpec[] | undefined] = [
    undefined,
    undefined,
  ];
  readonly #temps: GpuTensor[] = [];
  readonly #x: GpuTensor;
  readonly #xn: GpuTensor;
  readonly #P: GpuTensor;
  readonly #q: GpuTensor;
  readonly #k: GpuTensor;
  readonly #v: GpuTensor;
  readonly #ig: GpuTensor;
  readonly #fg: GpuTensor;
  readonly #h: GpuTensor;
  readonly #hn: GpuTensor;
  readonly #U: GpuTensor;
  readonly #o: GpuTensor;
  #destroyed = false;
  readonly #fused: boolean;
  readonly #fuseNorms: boolean;
  #stepUniformBuffer: GPUBuffer | undefined;

  /**
   * Allocates the step buffers and zero states for B sequences.
   *
   * @param model The WebGPU model.
   * @param B Sequences (1 to 16).
   * @param options `fused` (default from {@linkcode setDecodeFusion}, true): the step kernel's
   *   constant uniforms live in a buffer written once (every bind group of a replayed step is
   *   kept across command buffers), the projection writes q, k, v, o and the capped gates itself
   *   (no split dispatch) and, with `fuseNorms` (default: B ≤ `normFusionMaxBatch`, 1), the
   *   RMSNorms are prologues of the matvecs after them: 6 dispatches per block instead of 9.
   *   false: the earlier path.
   * @throws {RangeError} If B is out of range.
   */
  constructor(
    model: XlstmLargeWebgpu,
    B: number,
    options: { fused?: boolean; fuseNorms?: boolean } = {},
  ) {
    if (!Number.isInteger(B) || B < 1 || B > MATVEC_MAX_BATCH) {
      throw new RangeError(
        `The batch of a decoding step must be 1…${MATVEC_MAX_BATCH} sequences, received ${B}`,
      );
    }
    this.model = model;
    this.B = B;
    this.#fused = options.fused ?? decodeFusion.fused;
    this.#fuseNorms = this.#fused &&
      (options.fuseNorms ?? B <= decodeFusion.normFusionMaxBatch);
    const c = model.config, gpu = model.gpu;
    const NH = c.numHeads, DQK = c.qkHeadDim, DHV = c.vHeadDim, L = projLayout(c);
    const t = (shape: number[]) => {
      const g = GpuTensor.empty(gpu, shape);
      this.#temps.push(g);
      return g;
    };
    this.ids = t([B, 1]);
    this.logits = t([B, c.vocabSize]);
    this.#x = t([B, 1, c.embeddingDim]);
    this.#xn = t([B, 1, c.embeddingDim]);
    this.#P = t([B, 1, L.NP]);
    this.#q = t([B, NH, 1, DQK]);
    this.#k = t([B, NH, 1, DQK]);
    this.#v = t([B, NH, 1, DHV]);
    this.#ig = t([B, NH, 1]);
    this.#fg = t([B, NH, 1]);
    this.#h = t([B, NH, 1, DHV]);
    this.#hn = t([B, 1, c.vDim]);
    this.#U = t([B, 1, 2 * c.ffnDim]);
    this.#o = t([B, 1, c.vDim]);
    this.#states = Array.from({ length: c.numBlocks }, () => ({
      c: t([B, NH, DQK, DHV]),
      n: [t([B, NH, DQK]), t([B, NH, DQK])],
      m: [t([B, NH]), t([B, NH])],
    }));
  }

  /** The device. */
  get gpu(): Gpu {
    return this.model.gpu;
  }

  /** Bytes of GPU memory the step buffers and states take. */
  get bytes(): number {
    return this.#temps.reduce((s, t) => s + t.byteSize, 0);
  }

  /**
   * Records copies of `state` (one (C, n, m) per block, device tensors of this batch size) into
   * the decoder's state buffers.
   *
   * @param batch The batch.
   * @param state The state to continue from.
   * @throws {RangeError} If a block state has the wrong shape or is not on the GPU.
   */
  setState(batch: DispatchBatch, state: XlstmLargeState): void {
    this.#alive();
    const c = this.model.config;
    if (state.length !== c.numBlocks) {
      throw new RangeError(
        `The state must hold one (C, n, m) per block (${c.numBlocks}), received ${state.length}`,
      );
    }
    const p = this.#steps & 1;
    state.forEach((s, j) => {
      const dst = this.#states[j]!;
      for (
        const [src, to, name] of [[s.c, dst.c, "c"], [s.n, dst.n[p], "n"], [
          s.m,
          dst.m[p],
          "m",
        ]] as const
      ) {
        if (!(src instanceof GpuTensor) || src.size !== to.size || src.dtype !== "f32") {
          throw new RangeError(
            `state[${j}].${name} must be an f32 GpuTensor of ${to.size} elements (${
              to.shape.join("×")
            })`,
          );
        }
        batch.copy(src, 0, to, 0, to.byteSize);
      }
    });
  }

  /**
   * Copies the current state out into fresh device tensors (one (C, n, m) per block, owned by the
   * caller): C (B, NH, DQK, DHV), n (B, NH, DQK), m (B, NH).
   *
   * @returns The state.
   */
  async takeState(): Promise<XlstmLargeBlockState[]> {
    this.#alive();
    const batch = new DispatchBatch(this.gpu);
    const p = this.#steps & 1;
    const out = this.#states.map((s) => {
      const copy = (t: GpuTensor) => {
        const g = GpuTensor.empty(this.gpu, t.shape);
        batch.copy(t, 0, g, 0, t.byteSize);
        return g;
      };
      return { c: copy(s.c), n: copy(s.n[p]), m: copy(s.m[p]) };
    });
    await batch.submit();
    return out;
  }

  /**
   * Records one decoding step into `batch`: gather the embeddings of `ids`, every block, the head;
   * the states advance in place and `logits` holds the result when the batch has run.
   *
   * @param batch The batch.
   * @returns The batch.
   */
  async encodeStep(batch: DispatchBatch): Promise<DispatchBatch> {
    this.#alive();
    // A step's dispatches depend only on the parity of the step (the n, m ping-pong): record them
    // once per parity and replay, so that a step costs the batch's own per-dispatch work only.
    const parity = this.#steps & 1;
    let specs = this.#recorded[parity];
    if (!specs) {
      const list: DispatchSpec[] = [];
      const recorder = {
        gpu: this.gpu,
        dispatch(spec: DispatchSpec) {
          list.push(spec);
          return recorder;
        },
        copy() {
          throw new GpuError("A decoding step records no copies");
        },
      } as unknown as DispatchBatch;
      await this.#encode(recorder, parity);
      specs = this.#recorded[parity] = list;
    }
    for (const spec of specs) batch.dispatch(spec);
    this.#steps++;
    return batch;
  }

  async #encode(batch: DispatchBatch, parity: number): Promise<void> {
    const model = this.model, c = model.config, w = model.deviceWeights;
    const NH = c.numHeads, DQK = c.qkHeadDim, DHV = c.vHeadDim, L = projLayout(c);
    const x = this.#x, xn = this.#xn, P = this.#P;
    const pIn = parity, pOut = pIn ^ 1;
    await encodeGather(batch, this.ids, w.embedding, x);
    const sp = decodeStepParams(DQK, DHV);
    const stepPipeline = await getPipeline(
      this.gpu,
      `decode-step:${JSON.stringify(sp)}`,
      () => stepWgsl(sp),
      "main",
      {
        storage: [
          "read",
          "read",
          "read",
          "read",
          "read",
          "read_write",
          "read",
          "read",
          "read_write",
          "read_write",
          "read_write",
        ],
        uniform: true,
      },
    );
    // The split relies on the fused projection's column order [q | k | v | o | i | f].
    if (L.k !== c.qkDim || L.v !== 2 * c.qkDim || L.i !== L.o + c.vDim || L.f !== L.i + NH) {
      throw new GpuError("The fused projection's column layout changed: update the decode split");
    }
    const sq = { B: this.B, NP: L.NP, qk: c.qkDim, v: c.vDim, NH, cap: c.gateSoftCap };
    const splitElems = 2 * c.qkDim + c.vDim + 2 * NH;
    const splitPipeline = await getPipeline(
      this.gpu,
      `decode-split:${JSON.stringify(sq)}`,
      () => decodeSplitWgsl(sq),
    );
    const stepUniforms = new ArrayBuffer(16);
    new Uint32Array(stepUniforms, 0, 2).set([0, 1]);
    new Float32Array(stepUniforms, 8, 1)[0] = c.eps;
    if (this.#fused && !this.#stepUniformBuffer) {
      this.#stepUniformBuffer = this.gpu.device.createBuffer({
        label: "decode step uniforms",
        size: stepUniforms.byteLength,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.gpu.device.queue.writeBuffer(this.#stepUniformBuffer, 0, stepUniforms);
    }
    const stepU = this.#stepUniformBuffer
      ? { uniformBuffer: this.#stepUniformBuffer }
      : { uniforms: stepUniforms };
    for (let bi = 0; bi < c.numBlocks; bi++) {
      const bw = w.blocks[bi]!, st = this.#states[bi]!;
      // Fused (default): the RMSNorm is the projection's prologue (unless the norm has a bias)
      // and the projection writes q, k, v, o and the capped gates itself: 1 dispatch, not 3.
      const fuseNorm = this.#fuseNorms && !bw.normMlstmBias;
      if (!fuseNorm) {
        await encodeNorm(batch, x, xn, {
          kind: "rms",
          weight: bw.normMlstm,
          ...(bw.normMlstmBias ? { bias: bw.normMlstmBias } : {}),
          eps: c.normEps,
        });
      }
      if (this.#fused) {
        const cap = c.gateSoftCap > 0 ? c.gateSoftCap : 0;
        await encodeMatvecSplit(
          batch,
          fuseNorm ? x : xn,
          bw.proj,
          [
            { y: this.#q },
            { y: this.#k },
            { y: this.#v },
            { y: this.#o },
            { y: this.#ig, cap },
            { y: this.#fg, cap },
          ],
          fuseNorm ? { norm: { weight: bw.normMlstm, eps: c.normEps } } : {},
        );
      } else {
        await encodeMatvec(batch, xn, bw.proj, P);
        batch.dispatch({
          label: "decode split",
          pipeline: splitPipeline,
          buffers: [P, this.#q, this.#k, this.#v, this.#ig, this.#fg],
          workgroups: [Math.ceil((this.B * splitElems) / 256)],
        });
      }
      batch.dispatch({
        label: `step--fused decode ${DQK}x${DHV}`,
        pipeline: stepPipeline,
        buffers: [
          this.#q,
          this.#k,
          this.#v,
          this.#ig,
          this.#fg,
          st.c,
          st.n[pIn],
          st.m[pIn],
          this.#h,
          st.n[pOut],
          st.m[pOut],
        ],
        ...stepU,
        workgroups: [DHV / (sp.VW * sp.TCV), this.B * NH],
        bytes: 8 * this.B * NH * DQK * DHV,
      });
      await encodeNorm(batch, this.#h, this.#hn, {
        kind: "layer",
        groups: NH,
        headMajor: true,
        weight: bw.headNorm,
        ...(bw.headNormBias ? { bias: bw.headNormBias } : {}),
        gate: this.#fused ? { t: this.#o, ld: c.vDim, off: 0 } : { t: P, ld: L.NP, off: L.o },
        eps: c.normEps,
      });
      await encodeMatvec(batch, this.#hn, bw.outProj, x, { epilogue: "accumulate" });
      if (this.#fuseNorms && !bw.normFfnBias) {
        await encodeMatvec(batch, x, bw.up, this.#U, {
          norm: { weight: bw.normFfn, eps: c.normEps },
        });
      } else {
        await encodeNorm(batch, x, xn, {
          kind: "rms",
          weight: bw.normFfn,
          ...(bw.normFfnBias ? { bias: bw.normFfnBias } : {}),
          eps: c.normEps,
        });
        await encodeMatvec(batch, xn, bw.up, this.#U);
      }
      // SwiGLU fused into the down projection: it reads silu(gate)·up straight from U.
      await encodeMatvec(batch, this.#U, bw.down, x, { epilogue: "accumulate", glu: true });
    }
    let hin = x;
    const headNorm = c.addOutNorm && this.#fuseNorms && !w.outNormBias
      ? { norm: { weight: w.outNorm!, eps: c.normEps } }
      : {};
    if (c.addOutNorm && !("norm" in headNorm)) {
      await encodeNorm(batch, x, xn, {
        kind: "rms",
        weight: w.outNorm!,
        ...(w.outNormBias ? { bias: w.outNormBias } : {}),
        eps: c.normEps,
      });
      hin = xn;
    }
    await encodeMatvec(
      batch,
      hin,
      w.lmHead,
      this.logits,
      {
        ...headNorm,
        ...(c.outputLogitSoftCap > 0 ? { epilogue: "softcap", cap: c.outputLogitSoftCap } : {}),
      },
    );
  }

  #alive(): void {
    if (this.#destroyed) throw new GpuError("This XlstmLargeDecoder was destroyed");
  }

  /** Frees the step buffers and states. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const t of this.#temps) t.destroy();
    this.#stepUniformBuffer?.destroy();
  }
}
