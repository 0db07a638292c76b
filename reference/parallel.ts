/**
 * Float64 parallel (quadratic) mLSTM (SPEC §1–§3): the stable forget-gate form, for the exponential
 * and the sigmoid input gate, and its backward pass in both gradient conventions. No states.
 *
 * @module
 */

import { backwardByDocuments, forwardByDocuments, packed } from "../core/_documents.ts";
import type { Tensor } from "../core/tensor.ts";
import type {
  InputGate,
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmOptions,
  TensorLike,
} from "../core/types.ts";
import { validateDh } from "../core/validate.ts";
import {
  checkOutputs,
  type F64Inputs,
  logsig,
  lowerBound,
  readF64,
  readInputs,
  resolve,
  type Resolved,
  sigmoid,
} from "./_common.ts";

function rejectStates(x: F64Inputs, options: MlstmOptions): void {
  if (x.hasInitialStates) {
    throw new TypeError(
      "The parallel form takes no initial states: drop cInitial/nInitial/mInitial or use a chunkwise or recurrent kernel",
    );
  }
  if (options.returnLastStates) {
    throw new TypeError(
      "The parallel form returns no last states: set returnLastStates to false or use a chunkwise or recurrent kernel",
    );
  }
}

/** Per-head quantities of the parallel form (S×S row-major, causal). */
interface HeadParallel {
  /** logD[t,s] for s ≤ t (−Infinity above the diagonal). */
  logD: Float64Array;
  /** Row stabilizer m_t (0 for the sigmoid gate). */
  m: Float64Array;
  /** The s that wins m_t = max_s logD[t,s] (exp gate; the exact backward routes dm_t to it). */
  argm: Int32Array;
  /** S̃[t,s] = scale · q_t·k_s · exp(logD − m_t). */
  St: Float64Array;
  /** b_t = Σ_s S̃[t,s]. */
  b: Float64Array;
  /** max(|b_t|, bound) (0 when unnormalized). */
  nrm: Float64Array;
}

function headForward(x: F64Inputs, r: Resolved, bh: number, h: Float64Array): HeadParallel {
  const { S, DQK, DHV } = x;
  const logD = new Float64Array(S * S).fill(-Infinity);
  const m = new Float64Array(S), St = new Float64Array(S * S);
  const argm = new Int32Array(S);
  const b = new Float64Array(S), nrm = new Float64Array(S);
  const base = bh * S;
  for (let t = 0; t < S; t++) {
    // Stable forget gate: logD[t,s] = Σ_{s<r≤t} logsig(f_r) + ĩ_s, summed term by term.
    let acc = 0, mt = -Infinity;
    for (let s = t; s >= 0; s--) {
      const ig = r.gate === "exp" ? x.i[base + s] : logsig(x.i[base + s]);
      const l = acc + ig;
      logD[t * S + s] = l;
      if (l > mt) {
        mt = l;
        argm[t] = s;
      }
      acc += logsig(x.f[base + s]);
    }
    if (r.gate === "sig") mt = 0;
    m[t] = mt;
    let bt = 0;
    for (let s = 0; s <= t; s++) {
      let dot = 0;
      const qo = (base + t) * DQK, ko = (base + s) * DQK;
      for (let a = 0; a < DQK; a++) dot += x.q[qo + a] * x.k[ko + a];
      const v = r.scale * dot * Math.exp(logD[t * S + s] - mt);
      St[t * S + s] = v;
      bt += v;
    }
    b[t] = bt;
    const nt = r.normalize ? Math.max(Math.abs(bt), lowerBound(r.gate, mt)) : 0;
    nrm[t] = nt;
    const inv = r.normalize ? 1 / (nt + r.eps) : 1;
    const ho = (base + t) * DHV;
    for (let c = 0; c < DHV; c++) h[ho + c] = 0;
    for (let s = 0; s <= t; s++) {
      const w = St[t * S + s] * inv, vo = (base + s) * DHV;
      for (let c = 0; c < DHV; c++) h[ho + c] += w * x.v[vo + c];
    }
  }
  return { logD, m, argm, St, b, nrm };
}

/**
 * The parallel (quadratic) mLSTM in float64 with the stable forget-gate accumulation.
 * Exponential gate: `normalize` is always on; sigmoid gate: `normalize` (default true) chooses
 * between h = Σ S̃v / (max(|b|, 1) + eps) and h = Σ S̃v.
 *
 * @example Agrees with the recurrent form (eps = 0 makes the forms identical)
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmParallelReference } from "./parallel.ts";
 * import { mlstmRecurrentReference } from "./recurrent.ts";
 * import { Random, randomTensor } from "../core/random.ts";
 * const rng = new Random(3);
 * const r = (...s: number[]) => randomTensor(s, rng);
 * const x = { q: r(1, 2, 5, 4), k: r(1, 2, 5, 4), v: r(1, 2, 5, 3), i: r(1, 2, 5), f: r(1, 2, 5) };
 * const a = await mlstmParallelReference(x, { eps: 0 });
 * const b = await mlstmRecurrentReference(x, { eps: 0 });
 * assert.ok(a.h.data.every((y, j) => Math.abs(y - b.h.data[j]) < 1e-12));
 * ```
 *
 * @param inputs q, k, v, i, f (initial states are rejected).
 * @param options `eps` (1e-6), `normalize` (sigmoid gate), `checkFinite`, `documentStarts` (each
 * document run separately).
 * @param gate The input gate. @default {"exp"}
 * @returns h.
 * @throws {TypeError} If initial states or `returnLastStates` are given.
 */
export async function mlstmParallelReference(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmForwardResult<Tensor>> {
  if (packed(options)) {
    return forwardByDocuments(inputs, options, (x, o) => mlstmParallelReference(x, o, gate));
  }
  const x = await readInputs(inputs, options);
  rejectStates(x, options);
  const r = resolve(options, gate, x.DQK);
  const h = new Float64Array(x.B * x.NH * x.S * x.DHV);
  for (let bh = 0; bh < x.B * x.NH; bh++) headForward(x, r, bh, h);
  const out = { h: { shape: [x.B, x.NH, x.S, x.DHV], data: h } };
  checkOutputs(options, out);
  return out;
}

/**
 * Backward pass of the parallel form in float64 (SPEC §3). With P = S̃/(nrm+eps) and h = P v:
 * dv = Pᵀ dh; dS̃ = dh vᵀ/(nrm+eps) + ∂nrm terms (exact convention only: |b| through sign(b)
 * where it wins the max); dq, dk from dS̃ ⊙ D; dlogD = dS̃ ⊙ S̃ gives di (column sums, times
 * σ(−i) for the sigmoid gate) and df (each logsig(f_r) enters every pair s < r ≤ t, times σ(−f_r)).
 * Exact convention, exponential gate: the stabilizer m_t = max_s logD[t,s] is differentiated as
 * taken (SPEC §3). Unstabilized, h_t = num_t / (max(|den_t|, 1) + eps·exp(m_t)), so
 * ∂L/∂m_t = −eps/(nrm_t + eps) · Σ dh_t·h_t (the only place m_t survives), and it flows to
 * dlogD[t, s*] of the winning s* (hence to i_{s*} and to the forget gates between s* and t). The
 * normalizer-constant convention holds m constant, as mlstm_kernels' backward does.
 *
 * @example Exact and normalizer-constant gradients share dv
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmParallelBackwardReference } from "./parallel.ts";
 * import { Random, randomTensor } from "../core/random.ts";
 * const rng = new Random(5);
 * const r = (...s: number[]) => randomTensor(s, rng);
 * const x = { q: r(1, 1, 4, 3), k: r(1, 1, 4, 3), v: r(1, 1, 4, 2), i: r(1, 1, 4), f: r(1, 1, 4) };
 * const dh = r(1, 1, 4, 2);
 * const a = await mlstmParallelBackwardReference(x, dh);
 * const b = await mlstmParallelBackwardReference(x, dh, { gradient: "normalizer-constant" });
 * assert.ok(a.dv.data.every((y, j) => Math.abs(y - b.dv.data[j]) < 1e-12));
 * ```
 *
 * @param inputs The forward inputs.
 * @param dh Output gradient (B, NH, S, DHV).
 * @param options `eps`, `normalize`, `gradient` ("exact" by default), `documentStarts` (each
 * document separately).
 * @param gate The input gate. @default {"exp"}
 * @returns dq, dk, dv, di, df.
 * @throws {RangeError} If dh has the wrong shape.
 */
export async function mlstmParallelBackwardReference(
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmGradients<Tensor>> {
  if (packed(options)) {
    return backwardByDocuments(
      inputs,
      dh,
      options,
      (x, d, o) => mlstmParallelBackwardReference(x, d, o, gate),
    );
  }
  const x = await readInputs(inputs, options);
  rejectStates(x, options);
  validateDh(dh, x, options);
  const dH = await readF64(dh);
  const r = resolve(options, gate, x.DQK);
  const exact = (options.gradient ?? "exact") === "exact";
  const { B, NH, S, DQK, DHV } = x;
  const h = new Float64Array(B * NH * S * DHV);
  const dq = new Float64Array(B * NH * S * DQK), dk = new Float64Array(B * NH * S * DQK);
  const dv = new Float64Array(B * NH * S * DHV);
  const di = new Float64Array(B * NH * S), df = new Float64Array(B * NH * S);
  const dS = new Float64Array(S * S), dlogD = new Float64Array(S * S);
  for (let bh = 0; bh < B * NH; bh++) {
    const hp = headForward(x, r, bh, h);
    const base = bh * S;
    for (let t = 0; t < S; t++) {
      const ho = (base + t) * DHV;
      const inv = r.normalize ? 1 / (hp.nrm[t] + r.eps) : 1;
      // d(nrm) = −Σ dh·h/(nrm+eps); flows into b only where |b| beats the bound.
      let dden = 0;
      if (r.normalize && exact && Math.abs(hp.b[t]) > lowerBound(r.gate, hp.m[t])) {
        let dnrm = 0;
        for (let c = 0; c < DHV; c++) dnrm -= dH[ho + c] * h[ho + c] * inv;
        dden = dnrm * Math.sign(hp.b[t]);
      }
      for (let s = 0; s <= t; s++) {
        const vo = (base + s) * DHV;
        let dot = 0;
        for (let c = 0; c < DHV; c++) dot += dH[ho + c] * x.v[vo + c];
        const g = dot * inv + dden;
        dS[t * S + s] = g;
        dlogD[t * S + s] = g * hp.St[t * S + s];
        const w = hp.St[t * S + s] * inv;
        for (let c = 0; c < DHV; c++) dv[vo + c] += w * dH[ho + c];
      }
      // The stabilizer's path (exact, exponential gate; issue #10): dm_t = −eps·inv·(dh_t·h_t),
      // routed to the s that won the max.
      if (exact && r.gate === "exp") {
        let dhh = 0;
        for (let c = 0; c < DHV; c++) dhh += dH[ho + c] * h[ho + c];
        dlogD[t * S + hp.argm[t]] -= r.eps * inv * dhh;
      }
    }
    // S̃[t,s] = scale · q_t·k_s · D[t,s]
    for (let t = 0; t < S; t++) {
      const qo = (base + t) * DQK;
      for (let s = 0; s <= t; s++) {
        const ko = (base + s) * DQK;
        const w = r.scale * dS[t * S + s] * Math.exp(hp.logD[t * S + s] - hp.m[t]);
        for (let a = 0; a < DQK; a++) {
          dq[qo + a] += w * x.k[ko + a];
          dk[ko + a] += w * x.q[qo + a];
        }
      }
    }
    // Gates: di_s = Σ_t dlogD[t,s]; dlf_r = Σ_{t≥r} Σ_{s<r} dlogD[t,s].
    for (let s = 0; s < S; s++) {
      let col = 0;
      for (let t = s; t < S; t++) col += dlogD[t * S + s];
      di[base + s] = r.gate === "exp" ? col : col * sigmoid(-x.i[base + s]);
    }
    const dlf = new Float64Array(S);
    for (let t = 0; t < S; t++) {
      let prefix = 0; // Σ_{s<r} dlogD[t,s]
      for (let rr = 0; rr <= t; rr++) {
        dlf[rr] += prefix;
        prefix += dlogD[t * S + rr];
      }
    }
    for (let rr = 0; rr < S; rr++) df[base + rr] = dlf[rr] * sigmoid(-x.f[base + rr]);
  }
  const out: MlstmGradients<Tensor> = {
    dq: { shape: [B, NH, S, DQK], data: dq },
    dk: { shape: [B, NH, S, DQK], data: dk },
    dv: { shape: [B, NH, S, DHV], data: dv },
    di: { shape: [B, NH, S], data: di },
    df: { shape: [B, NH, S], data: df },
  };
  checkOutputs(options, out as unknown as Record<string, Tensor>);
  return out;
}
