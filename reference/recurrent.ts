/**
 * Float64 recurrent mLSTM (SPEC §1 and §2): the step, the sequence as a loop of steps, and the
 * backward pass through the sequence. This is the definition every other form is checked against.
 *
 * @module
 */

import { backwardByDocuments, packed } from "../core/_documents.ts";
import { assertTensor, type Tensor } from "../core/tensor.ts";
import type {
  InputGate,
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmOptions,
  TensorLike,
} from "../core/types.ts";
import { documentStartFlags, hasDocumentStarts } from "../core/documents.ts";
import { validateDh, validateOptions, validateStepShapes } from "../core/validate.ts";
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

/** Gate values of one step: stabilized forget and input gates and the new stabilizer. */
function gates(
  gate: InputGate,
  iPre: number,
  fPre: number,
  mPrev: number,
): { fa: number; ia: number; m: number } {
  const lf = logsig(fPre);
  if (gate === "exp") {
    const m = Math.max(lf + mPrev, iPre);
    return { fa: Math.exp(lf + mPrev - m), ia: Math.exp(iPre - m), m };
  }
  return { fa: Math.exp(lf), ia: Math.exp(logsig(iPre)), m: 0 };
}

/**
 * One step for one head, in place on C (DQK×DHV), n (DQK); writes h (DHV) and returns m_t and the
 * normalizer pieces the backward needs.
 */
function stepHead(
  r: Resolved,
  DQK: number,
  DHV: number,
  q: Float64Array,
  qo: number,
  k: Float64Array,
  ko: number,
  v: Float64Array,
  vo: number,
  iPre: number,
  fPre: number,
  C: Float64Array,
  n: Float64Array,
  mPrev: number,
  h: Float64Array,
  ho: number,
): { m: number; fa: number; ia: number; den: number; nrm: number } {
  const { fa, ia, m } = gates(r.gate, iPre, fPre, mPrev);
  for (let a = 0; a < DQK; a++) {
    const ka = ia * k[ko + a];
    const row = a * DHV;
    for (let c = 0; c < DHV; c++) C[row + c] = fa * C[row + c] + ka * v[vo + c];
    n[a] = fa * n[a] + ka;
  }
  let den = 0;
  for (let c = 0; c < DHV; c++) h[ho + c] = 0;
  for (let a = 0; a < DQK; a++) {
    const qa = r.scale * q[qo + a];
    den += qa * n[a];
    const row = a * DHV;
    for (let c = 0; c < DHV; c++) h[ho + c] += qa * C[row + c];
  }
  const nrm = r.normalize ? Math.max(Math.abs(den), lowerBound(r.gate, m)) : 0;
  if (r.normalize) {
    const inv = 1 / (nrm + r.eps);
    for (let c = 0; c < DHV; c++) h[ho + c] *= inv;
  }
  return { m, fa, ia, den, nrm };
}

/** Inputs of one step: q, k (B, NH, DQK); v (B, NH, DHV); i, f (B, NH); states c, n, m. */
export interface StepInputs {
  /** (B, NH, DQK) */
  q: Tensor;
  /** (B, NH, DQK) */
  k: Tensor;
  /** (B, NH, DHV) */
  v: Tensor;
  /** (B, NH) or (B, NH, 1) */
  i: Tensor;
  /** (B, NH) or (B, NH, 1) */
  f: Tensor;
  /** (B, NH, DQK, DHV) */
  c: Tensor;
  /** (B, NH, DQK) */
  n: Tensor;
  /** (B, NH) or (B, NH, 1) */
  m: Tensor;
}

/** Checks every argument of a step: present, a tensor (data length), the right rank and shape. */
function validateStepInputs(x: StepInputs): { B: number; NH: number; DQK: number; DHV: number } {
  if (typeof x !== "object" || x === null) {
    throw new TypeError("Argument inputs must be an object { q, k, v, i, f, c, n, m }");
  }
  // Data lengths first (a missing argument is reported by validateStepShapes).
  for (const name of ["q", "k", "v", "i", "f", "c", "n", "m"] as const) {
    if (x[name] !== undefined) assertTensor(x[name], name);
  }
  return validateStepShapes(x, true);
}

/**
 * One recurrent step in float64 (SPEC §1): new states and h_t from old states.
 *
 * @example One step from zero states
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmStepReference } from "./recurrent.ts";
 * const z = (...s: number[]) => ({ shape: s, data: new Float64Array(s.reduce((a, b) => a * b, 1)) });
 * const out = mlstmStepReference({
 *   q: z(1, 1, 2), k: { shape: [1, 1, 2], data: new Float64Array([1, 0]) }, v: { shape: [1, 1, 1], data: new Float64Array([3]) },
 *   i: z(1, 1), f: z(1, 1), c: z(1, 1, 2, 1), n: z(1, 1, 2), m: z(1, 1),
 * });
 * assert.ok(out.c.data[0] === 3 && out.h.data[0] === 0);
 * ```
 *
 * @param inputs q, k, v, i, f of the step and the states before it.
 * @param options `eps` (default 1e-6); `normalize` for the sigmoid gate.
 * @param gate The input gate. @default {"exp"}
 * @returns h (B, NH, DHV) and the new states c, n, m.
 * @throws {TypeError | RangeError} If an argument is missing, is not a tensor, or has the wrong
 * rank or shape; the message names the argument, the expected and the received shape.
 */
export function mlstmStepReference(
  inputs: StepInputs,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): { h: Tensor; c: Tensor; n: Tensor; m: Tensor } {
  validateOptions(options);
  const { B, NH, DQK, DHV } = validateStepInputs(inputs);
  const { q, k, v, i, f, c, n, m } = inputs;
  const r = resolve(options, gate, DQK);
  const C = Float64Array.from(c.data), N = Float64Array.from(n.data);
  const M = new Float64Array(B * NH), H = new Float64Array(B * NH * DHV);
  const q64 = Float64Array.from(q.data), k64 = Float64Array.from(k.data);
  const v64 = Float64Array.from(v.data);
  for (let bh = 0; bh < B * NH; bh++) {
    const Cb = C.subarray(bh * DQK * DHV, (bh + 1) * DQK * DHV);
    const Nb = N.subarray(bh * DQK, (bh + 1) * DQK);
    M[bh] = stepHead(
      r,
      DQK,
      DHV,
      q64,
      bh * DQK,
      k64,
      bh * DQK,
      v64,
      bh * DHV,
      i.data[bh],
      f.data[bh],
      Cb,
      Nb,
      gate === "exp" ? m.data[bh] : 0,
      H,
      bh * DHV,
    ).m;
  }
  return {
    h: { shape: [B, NH, DHV], data: H },
    c: { shape: [B, NH, DQK, DHV], data: C },
    n: { shape: [B, NH, DQK], data: N },
    m: { shape: [B, NH], data: M },
  };
}

/** Per-step records of a forward run that the backward pass reuses. */
interface Trace {
  /** States C_t for t = 0..S, per head: (S+1)·DQK·DHV. */
  C: Float64Array;
  /** n_t for t = 0..S, per head: (S+1)·DQK. */
  n: Float64Array;
  fa: Float64Array;
  ia: Float64Array;
  den: Float64Array;
  nrm: Float64Array;
  /** Stabilizer m_t per step. */
  m: Float64Array;
}

function runSequence(
  x: F64Inputs,
  r: Resolved,
  keepTrace: boolean,
  resets?: Uint32Array,
): {
  h: Float64Array;
  cLast: Float64Array;
  nLast: Float64Array;
  mLast: Float64Array;
  traces: Trace[];
} {
  const { B, NH, S, DQK, DHV } = x;
  const h = new Float64Array(B * NH * S * DHV);
  const cLast = new Float64Array(B * NH * DQK * DHV);
  const nLast = new Float64Array(B * NH * DQK);
  const mLast = new Float64Array(B * NH);
  const traces: Trace[] = [];
  const CQ = DQK * DHV;
  for (let bh = 0; bh < B * NH; bh++) {
    const C = x.c0 ? x.c0.slice(bh * CQ, (bh + 1) * CQ) : new Float64Array(CQ);
    const n = x.n0 ? x.n0.slice(bh * DQK, (bh + 1) * DQK) : new Float64Array(DQK);
    let m = x.m0 && r.gate === "exp" ? x.m0[bh] : 0;
    const tr: Trace | undefined = keepTrace
      ? {
        C: new Float64Array((S + 1) * CQ),
        n: new Float64Array((S + 1) * DQK),
        fa: new Float64Array(S),
        ia: new Float64Array(S),
        den: new Float64Array(S),
        nrm: new Float64Array(S),
        m: new Float64Array(S),
      }
      : undefined;
    if (tr) {
      tr.C.set(C, 0);
      tr.n.set(n, 0);
    }
    for (let t = 0; t < S; t++) {
      const row = bh * S + t;
      if (resets && resets[Math.floor(bh / NH) * S + t]) {
        // A document starts: zero states, exactly as a separate call.
        C.fill(0);
        n.fill(0);
        m = 0;
      }
      const s = stepHead(
        r,
        DQK,
        DHV,
        x.q,
        row * DQK,
        x.k,
        row * DQK,
        x.v,
        row * DHV,
        x.i[row],
        x.f[row],
        C,
        n,
        m,
        h,
        row * DHV,
      );
      m = s.m;
      if (tr) {
        tr.C.set(C, (t + 1) * CQ);
        tr.n.set(n, (t + 1) * DQK);
        tr.fa[t] = s.fa;
        tr.ia[t] = s.ia;
        tr.den[t] = s.den;
        tr.nrm[t] = s.nrm;
        tr.m[t] = s.m;
      }
    }
    cLast.set(C, bh * CQ);
    nLast.set(n, bh * DQK);
    mLast[bh] = m;
    if (tr) traces.push(tr);
  }
  return { h, cLast, nLast, mLast, traces };
}

/**
 * The recurrent mLSTM over a whole sequence in float64: a loop of steps from the initial states
 * (zeros if not given), optionally returning the last states.
 *
 * @example h of a 3-step sequence, and its last states
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmRecurrentReference } from "./recurrent.ts";
 * import { Random, randomTensor } from "../core/random.ts";
 * const rng = new Random(0);
 * const r = (...s: number[]) => randomTensor(s, rng);
 * const out = await mlstmRecurrentReference(
 *   { q: r(1, 1, 3, 4), k: r(1, 1, 3, 4), v: r(1, 1, 3, 2), i: r(1, 1, 3), f: r(1, 1, 3) },
 *   { returnLastStates: true },
 * );
 * assert.ok(out.h.shape.join() === "1,1,3,2" && out.last!.c.shape.join() === "1,1,4,2");
 * ```
 *
 * @param inputs q, k, v, i, f and optional initial states.
 * @param options `returnLastStates`, `eps` (1e-6), `normalize` (sigmoid gate), `checkFinite`,
 * `documentStarts` (the states are zeroed before each start).
 * @param gate The input gate. @default {"exp"}
 * @returns h, and the last states when asked for.
 * @throws {TypeError | RangeError} On bad shapes or options (naming the argument).
 */
export async function mlstmRecurrentReference(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmForwardResult<Tensor>> {
  const x = await readInputs(inputs, options);
  const r = resolve(options, gate, x.DQK);
  const { B, NH, S, DQK, DHV } = x;
  const resets = hasDocumentStarts(options.documentStarts)
    ? documentStartFlags(options.documentStarts, B, S)
    : undefined;
  const { h, cLast, nLast, mLast } = runSequence(x, r, false, resets);
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
 * Backward pass of the recurrent form in float64 for a loss with output gradient `dh`: dq, dk,
 * dv, di, df, and the initial-state gradients when initial states were given. Exact convention,
 * exponential gate: the stabilizer is differentiated as taken (SPEC §3): unstabilized,
 * h_t = num_t / (max(|den_t|, 1) + eps·exp(m_t)), so ∂L/∂m_t = −eps/(nrm_t + eps) · Σ dh_t·h_t, and
 * it flows back through m_t = max(logsig(f_t) + m_{t−1}, i_t) to i_t or to logsig(f_t) and m_{t−1},
 * down to mInitial. `gradient: "normalizer-constant"` holds the denominator and m constant (the
 * convention of mlstm_kernels' backward).
 * Because the chunkwise form computes the very same function (same m), this is its gradient too.
 *
 * @example Gradients have the inputs' shapes
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmRecurrentBackwardReference } from "./recurrent.ts";
 * import { Random, randomTensor } from "../core/random.ts";
 * const rng = new Random(0);
 * const r = (...s: number[]) => randomTensor(s, rng);
 * const g = await mlstmRecurrentBackwardReference(
 *   { q: r(1, 1, 3, 4), k: r(1, 1, 3, 4), v: r(1, 1, 3, 2), i: r(1, 1, 3), f: r(1, 1, 3) },
 *   r(1, 1, 3, 2),
 * );
 * assert.ok(g.dv.shape.join() === "1,1,3,2" && g.df.shape.join() === "1,1,3");
 * ```
 *
 * @param inputs The forward inputs.
 * @param dh Gradient of the loss with respect to h, (B, NH, S, DHV).
 * @param options As for the forward, plus `gradient`.
 * @param gate The input gate. @default {"exp"}
 * @returns The gradients.
 * @throws {RangeError} If dh has the wrong shape.
 */
export async function mlstmRecurrentBackwardReference(
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
      (x, d, o) => mlstmRecurrentBackwardReference(x, d, o, gate),
    );
  }
  const x = await readInputs(inputs, options);
  validateDh(dh, x, options);
  const dH = await readF64(dh);
  const r = resolve(options, gate, x.DQK);
  const exact = (options.gradient ?? "exact") === "exact";
  const { B, NH, S, DQK, DHV } = x;
  const { h, traces } = runSequence(x, r, true);
  const CQ = DQK * DHV;
  const dq = new Float64Array(B * NH * S * DQK), dk = new Float64Array(B * NH * S * DQK);
  const dv = new Float64Array(B * NH * S * DHV);
  const di = new Float64Array(B * NH * S), df = new Float64Array(B * NH * S);
  const dc0 = new Float64Array(B * NH * CQ), dn0 = new Float64Array(B * NH * DQK);
  const dm0 = new Float64Array(B * NH);
  const dnum = new Float64Array(DHV), dCv = new Float64Array(DQK);
  for (let bh = 0; bh < B * NH; bh++) {
    const tr = traces[bh];
    const dC = new Float64Array(CQ), dn = new Float64Array(DQK);
    // Gradient reaching m_t from the steps after t through m_{t+1} = max(lf_{t+1} + m_t, i_{t+1})
    // (zero unless the forget branch won there).
    let dmCarry = 0;
    for (let t = S - 1; t >= 0; t--) {
      const row = bh * S + t;
      const qo = row * DQK, vo = row * DHV;
      const Ct = tr.C.subarray((t + 1) * CQ, (t + 2) * CQ);
      const nt = tr.n.subarray((t + 1) * DQK, (t + 2) * DQK);
      // Output h_t = num / (nrm + eps), num = C_tᵀ q̃, den = q̃·n_t.
      let dden = 0;
      // dm: the total gradient reaching m_t (the stabilizer's path, exact + exponential gate).
      let dm = dmCarry;
      if (r.normalize) {
        const inv = 1 / (tr.nrm[t] + r.eps);
        let dnrm = 0;
        for (let c = 0; c < DHV; c++) {
          dnum[c] = dH[vo + c] * inv;
          dnrm -= dH[vo + c] * h[vo + c] * inv;
        }
        // h_t depends on m_t through eps·exp(m_t) in the unstabilized denominator.
        if (exact && r.gate === "exp") dm += r.eps * dnrm;
        const den = tr.den[t];
        // Subgradient of max(|den|, bound): the |den| branch only where it wins strictly.
        if (exact && Math.abs(den) > lowerBound(r.gate, tr.m[t])) dden = dnrm * Math.sign(den);
      } else {
        for (let c = 0; c < DHV; c++) dnum[c] = dH[vo + c];
      }
      for (let a = 0; a < DQK; a++) {
        const qa = r.scale * x.q[qo + a];
        let dqa = nt[a] * dden;
        const rowC = a * DHV;
        for (let c = 0; c < DHV; c++) {
          dC[rowC + c] += qa * dnum[c];
          dqa += Ct[rowC + c] * dnum[c];
        }
        dn[a] += qa * dden;
        dq[qo + a] = r.scale * dqa;
      }
      // C_t = fa C_{t-1} + ia k vᵀ, n_t = fa n_{t-1} + ia k.
      const Cp = tr.C.subarray(t * CQ, (t + 1) * CQ);
      const np = tr.n.subarray(t * DQK, (t + 1) * DQK);
      const fa = tr.fa[t], ia = tr.ia[t];
      let dfa = 0, dia = 0;
      for (let a = 0; a < DQK; a++) {
        const rowC = a * DHV;
        let s = 0;
        for (let c = 0; c < DHV; c++) {
          dfa += dC[rowC + c] * Cp[rowC + c];
          s += dC[rowC + c] * x.v[vo + c];
        }
        dCv[a] = s;
        dfa += dn[a] * np[a];
        dia += x.k[qo + a] * (s + dn[a]);
        dk[qo + a] = ia * (s + dn[a]);
      }
      for (let c = 0; c < DHV; c++) {
        let s = 0;
        for (let a = 0; a < DQK; a++) s += dC[a * DHV + c] * x.k[qo + a];
        dv[vo + c] = ia * s;
      }
      let dlf = dfa * fa;
      let dii = dia * ia;
      // m_t = max(lf_t + m_{t−1}, i_t): dm goes to the branch that won (the same test as the
      // forward's max; m_t === i_t exactly when the input gate won), and on to m_{t−1}.
      if (exact && r.gate === "exp") {
        const iWon = tr.m[t] === x.i[row];
        if (iWon) dii += dm;
        else dlf += dm;
        dmCarry = iWon ? 0 : dm;
      }
      df[row] = dlf * sigmoid(-x.f[row]);
      di[row] = r.gate === "exp" ? dii : dii * sigmoid(-x.i[row]);
      // lf_1 and m_0 enter the forward only as their sum lf_1 + m_0: dm0 = dlf_1.
      if (t === 0 && r.gate === "exp") dm0[bh] = dlf;
      for (let j = 0; j < CQ; j++) dC[j] *= fa;
      for (let a = 0; a < DQK; a++) dn[a] *= fa;
    }
    dc0.set(dC, bh * CQ);
    dn0.set(dn, bh * DQK);
  }
  const out: MlstmGradients<Tensor> = {
    dq: { shape: [B, NH, S, DQK], data: dq },
    dk: { shape: [B, NH, S, DQK], data: dk },
    dv: { shape: [B, NH, S, DHV], data: dv },
    di: { shape: [B, NH, S], data: di },
    df: { shape: [B, NH, S], data: df },
  };
  if (x.hasInitialStates) {
    out.dcInitial = { shape: [B, NH, DQK, DHV], data: dc0 };
    out.dnInitial = { shape: [B, NH, DQK], data: dn0 };
    out.dmInitial = { shape: [B, NH], data: dm0 };
  }
  checkOutputs(options, out as unknown as Record<string, Tensor>);
  return out;
}
