/**
 * Float64 chunkwise mLSTM (SPEC §1, "Chunkwise form"): an inter-chunk recurrence on the states
 * (C, n, m) at chunk boundaries and a causal parallel form inside each chunk, combined under one
 * stabilizer per step. Any chunk size; the last chunk may be shorter than the others.
 *
 * @module
 */

import { forwardByDocuments, packed } from "../core/_documents.ts";
import type { Tensor } from "../core/tensor.ts";
import type {
  InputGate,
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmOptions,
  TensorLike,
} from "../core/types.ts";
import { checkOutputs, logsig, lowerBound, readInputs, resolve } from "./_common.ts";
import { mlstmRecurrentBackwardReference } from "./recurrent.ts";

/**
 * The chunkwise mLSTM in float64. Its per-step stabilizer equals the recurrent form's m_t, so h and
 * the last states equal the recurrent form's to rounding, eps included.
 *
 * @example Chunk size 3 on a sequence of 7 steps equals the recurrent form
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmChunkwiseReference } from "./chunkwise.ts";
 * import { mlstmRecurrentReference } from "./recurrent.ts";
 * import { Random, randomTensor } from "../core/random.ts";
 * const rng = new Random(7);
 * const r = (...s: number[]) => randomTensor(s, rng);
 * const x = { q: r(1, 1, 7, 4), k: r(1, 1, 7, 4), v: r(1, 1, 7, 2), i: r(1, 1, 7), f: r(1, 1, 7) };
 * const a = await mlstmChunkwiseReference(x, { chunkSize: 3 });
 * const b = await mlstmRecurrentReference(x);
 * assert.ok(a.h.data.every((y, j) => Math.abs(y - b.h.data[j]) < 1e-12));
 * ```
 *
 * @param inputs q, k, v, i, f and optional initial states.
 * @param options `chunkSize` (64; any positive integer, buffers are sized by min(chunkSize, S)),
 * `returnLastStates`, `eps` (1e-6), `normalize`, `checkFinite`.
 * @param gate The input gate. @default {"exp"}
 * @returns h, and the last states when asked for.
 * @throws {TypeError | RangeError} On bad shapes or options.
 */
export async function mlstmChunkwiseReference(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmForwardResult<Tensor>> {
  if (packed(options)) {
    return forwardByDocuments(inputs, options, (x, o) => mlstmChunkwiseReference(x, o, gate));
  }
  const x = await readInputs(inputs, options);
  const r = resolve(options, gate, x.DQK);
  const { B, NH, S, DQK, DHV } = x;
  // A chunk never holds more than S steps: size the L×L buffers by min(chunkSize, S), so that a
  // chunk size far above S (one chunk) does not allocate chunkSize² floats.
  const L = Math.min(options.chunkSize ?? 64, S);
  const CQ = DQK * DHV;
  const h = new Float64Array(B * NH * S * DHV);
  const cLast = new Float64Array(B * NH * CQ), nLast = new Float64Array(B * NH * DQK);
  const mLast = new Float64Array(B * NH);
  const lf = new Float64Array(L), ig = new Float64Array(L);
  const bvec = new Float64Array(L), avec = new Float64Array(L);
  const logD = new Float64Array(L * L);
  for (let bh = 0; bh < B * NH; bh++) {
    const C = x.c0 ? x.c0.slice(bh * CQ, (bh + 1) * CQ) : new Float64Array(CQ);
    const n = x.n0 ? x.n0.slice(bh * DQK, (bh + 1) * DQK) : new Float64Array(DQK);
    let m = x.m0 && gate === "exp" ? x.m0[bh] : 0;
    for (let c0 = 0; c0 < S; c0 += L) {
      const Lc = Math.min(L, S - c0);
      const row0 = bh * S + c0;
      for (let j = 0; j < Lc; j++) {
        lf[j] = logsig(x.f[row0 + j]);
        ig[j] = gate === "exp" ? x.i[row0 + j] : logsig(x.i[row0 + j]);
        bvec[j] = (j > 0 ? bvec[j - 1] : 0) + lf[j];
      }
      const g = bvec[Lc - 1];
      // a_j = Σ_{j<r<Lc} logsig(f_r) + ĩ_j, accumulated as a suffix sum (stable).
      let suffix = 0;
      for (let j = Lc - 1; j >= 0; j--) {
        avec[j] = suffix + ig[j];
        suffix += lf[j];
      }
      // Intra-chunk gate matrix, summed term by term as in the stable parallel form.
      for (let j = 0; j < Lc; j++) {
        let acc = 0;
        for (let s = j; s >= 0; s--) {
          logD[j * L + s] = acc + ig[s];
          acc += lf[s];
        }
      }
      // Outputs of the chunk from the state before it (C, n, m) and the intra-chunk part.
      for (let j = 0; j < Lc; j++) {
        const row = row0 + j;
        let mComb = 0;
        if (gate === "exp") {
          mComb = bvec[j] + m;
          for (let s = 0; s <= j; s++) mComb = Math.max(mComb, logD[j * L + s]);
        }
        const qo = row * DQK, ho = row * DHV;
        const interScale = Math.exp(bvec[j] + m - mComb);
        let den = 0;
        for (let c = 0; c < DHV; c++) h[ho + c] = 0;
        for (let a = 0; a < DQK; a++) {
          const qa = r.scale * x.q[qo + a] * interScale;
          den += qa * n[a];
          for (let c = 0; c < DHV; c++) h[ho + c] += qa * C[a * DHV + c];
        }
        for (let s = 0; s <= j; s++) {
          const ko = (row0 + s) * DQK, vo = (row0 + s) * DHV;
          let dot = 0;
          for (let a = 0; a < DQK; a++) dot += x.q[qo + a] * x.k[ko + a];
          const w = r.scale * dot * Math.exp(logD[j * L + s] - mComb);
          den += w;
          for (let c = 0; c < DHV; c++) h[ho + c] += w * x.v[vo + c];
        }
        if (r.normalize) {
          const inv = 1 / (Math.max(Math.abs(den), lowerBound(gate, mComb)) + r.eps);
          for (let c = 0; c < DHV; c++) h[ho + c] *= inv;
        }
      }
      // Inter-chunk recurrence: one step per chunk.
      let mNew = 0;
      if (gate === "exp") {
        mNew = g + m;
        for (let j = 0; j < Lc; j++) mNew = Math.max(mNew, avec[j]);
      }
      const decay = Math.exp(g + m - mNew);
      for (let e = 0; e < CQ; e++) C[e] *= decay;
      for (let a = 0; a < DQK; a++) n[a] *= decay;
      for (let j = 0; j < Lc; j++) {
        const w = Math.exp(avec[j] - mNew);
        const ko = (row0 + j) * DQK, vo = (row0 + j) * DHV;
        for (let a = 0; a < DQK; a++) {
          const ka = w * x.k[ko + a];
          n[a] += ka;
          for (let c = 0; c < DHV; c++) C[a * DHV + c] += ka * x.v[vo + c];
        }
      }
      m = mNew;
    }
    cLast.set(C, bh * CQ);
    nLast.set(n, bh * DQK);
    mLast[bh] = m;
  }
  const out: MlstmForwardResult<Tensor> = { h: { shape: [B, NH, S, DHV], data: h } };
  if (options.returnLastStates) {
    out.last = {
      c: { shape: [B, NH, DQK, DHV], data: cLast },
      n: { shape: [B, NH, DQK], data: nLast },
      m: { shape: [B, NH], data: mLast },
    };
  }
  checkOutputs(options, { h: out.h });
  return out;
}

/**
 * Backward pass of the chunkwise form in float64. The chunkwise form computes exactly the
 * recurrent form's function (the same stabilizer at every step), so its gradient is the recurrent
 * backward's: this function delegates to {@linkcode mlstmRecurrentBackwardReference} (the same
 * function, not an independent chunkwise derivation), and the chunk size does not change the
 * result. Initial-state gradients when states were given.
 *
 * @example The gradients are the recurrent backward's, at any chunk size
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmChunkwiseBackwardReference } from "./chunkwise.ts";
 * import { mlstmRecurrentBackwardReference } from "./recurrent.ts";
 * import { Random, randomTensor } from "../core/random.ts";
 * const rng = new Random(1);
 * const r = (...s: number[]) => randomTensor(s, rng);
 * const x = { q: r(1, 1, 5, 2), k: r(1, 1, 5, 2), v: r(1, 1, 5, 3), i: r(1, 1, 5), f: r(1, 1, 5) };
 * const dh = r(1, 1, 5, 3);
 * const g = await mlstmChunkwiseBackwardReference(x, dh, { chunkSize: 2 });
 * const gr = await mlstmRecurrentBackwardReference(x, dh);
 * assert.ok(g.dq.shape.join() === "1,1,5,2");
 * assert.deepEqual(g.dq.data, gr.dq.data);
 * ```
 *
 * @param inputs The forward inputs.
 * @param dh Output gradient (B, NH, S, DHV).
 * @param options As for the forward, plus `gradient` (`chunkSize` is validated, then unused).
 * @param gate The input gate. @default {"exp"}
 * @returns The gradients, those of mlstmRecurrentBackwardReference.
 */
export function mlstmChunkwiseBackwardReference(
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmGradients<Tensor>> {
  return mlstmRecurrentBackwardReference(inputs, dh, options, gate);
}
