/**
 * Float64 sLSTM (SPEC §8): the sequence with initial and last states, and its exact backward
 * through time. This is the oracle the WebGPU kernel `slstm--fused` is checked against; its
 * backward is checked by central differences.
 *
 * Semantics (those of the xlstm package's vanilla sLSTM, `xlstm/blocks/slstm/src/vanilla`): per
 * step, raw = wx_t + R·y_{t-1} + bias, gates i, f, z, o;
 * m_t = max(raw_i, logsig(raw_f) + m_{t-1}), except m_t = raw_i at a step whose n_{t-1} is all
 * zeros (all DH entries of that batch row and head: the first step from zero states);
 * ia = min(exp(raw_i - m_t), 1), fa = min(exp(logsig(raw_f) + m_{t-1} - m_t), 1) (the clamp only acts
 * at such a first step, where the max is skipped); c_t = fa·c_{t-1} + ia·tanh(raw_z);
 * n_t = fa·n_{t-1} + ia; y_t = sigmoid(raw_o)·c_t/n_t. The xlstm package tests "n all zeros" over
 * its whole state tensor at once (every batch row and head); per (batch, head) agrees with it
 * whenever the initial n is all zero or nowhere all zero within a head.
 *
 * Gradients are exact: m is differentiated as taken (through the branch of the max that won, raw_i
 * on ties; through raw_i at a zero-n step), the clamps likewise (no gradient where exp(·) > 1).
 *
 * @module
 */

import type { Tensor } from "../core/tensor.ts";
import type { TensorLike } from "../core/types.ts";
import type {
  SlstmForwardResult,
  SlstmGradients,
  SlstmInputs,
  SlstmKernel,
  SlstmOptions,
} from "../core/slstm_types.ts";
import { type SlstmDims, validateSlstmDy, validateSlstmInputs } from "../core/slstm_validate.ts";
import { logsig, readF64, sigmoid } from "./_common.ts";

interface F64Slstm extends SlstmDims {
  wx: Float64Array;
  r: Float64Array;
  bias: Float64Array;
  y0?: Float64Array;
  c0?: Float64Array;
  n0?: Float64Array;
  m0?: Float64Array;
}

async function read(inputs: SlstmInputs, options: SlstmOptions): Promise<F64Slstm> {
  const dims = validateSlstmInputs(inputs, options);
  const out: F64Slstm = {
    ...dims,
    wx: await readF64(inputs.wx),
    r: await readF64(inputs.r),
    bias: await readF64(inputs.bias),
  };
  if (dims.hasInitialStates) {
    out.y0 = await readF64(inputs.yInitial!);
    out.c0 = await readF64(inputs.cInitial!);
    out.n0 = await readF64(inputs.nInitial!);
    out.m0 = await readF64(inputs.mInitial!);
  }
  return out;
}

/** Everything the backward needs from the forward, per (b, t, h, j) (raw per gate as well). */
interface Trace {
  /** y (B, S, NH, DH) */
  y: Float64Array;
  /** raw gates (B, S, 4, NH, DH) */
  raw: Float64Array;
  /** c_t, n_t, m_t (B, S, NH, DH) each */
  c: Float64Array;
  n: Float64Array;
  m: Float64Array;
  /** Per (b, t, h): whether n_{t-1} was all zeros (m_t = raw_i). */
  zeroN: Uint8Array;
}

function run(x: F64Slstm): Trace {
  const { B, S, NH, DH } = x;
  const y = new Float64Array(B * S * NH * DH);
  const raw = new Float64Array(B * S * 4 * NH * DH);
  const c = new Float64Array(y.length), n = new Float64Array(y.length);
  const m = new Float64Array(y.length);
  const zeroN = new Uint8Array(B * S * NH);
  const yp = new Float64Array(DH), cp = new Float64Array(DH), np = new Float64Array(DH);
  const mp = new Float64Array(DH);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const s0 = (b * NH + h) * DH;
      for (let j = 0; j < DH; j++) {
        yp[j] = x.y0 ? x.y0[s0 + j]! : 0;
        cp[j] = x.c0 ? x.c0[s0 + j]! : 0;
        np[j] = x.n0 ? x.n0[s0 + j]! : 0;
        mp[j] = x.m0 ? x.m0[s0 + j]! : 0;
      }
      for (let t = 0; t < S; t++) {
        const zero = np.every((v) => v === 0);
        zeroN[(b * S + t) * NH + h] = zero ? 1 : 0;
        const out = ((b * S + t) * NH + h) * DH;
        for (let g = 0; g < 4; g++) {
          const ro = (((b * S + t) * 4 + g) * NH + h) * DH;
          for (let j = 0; j < DH; j++) {
            let s = x.wx[ro + j]! + x.bias[(h * 4 + g) * DH + j]!;
            for (let d = 0; d < DH; d++) s += yp[d]! * x.r[((h * DH + d) * 4 + g) * DH + j]!;
            raw[ro + j] = s;
          }
        }
        for (let j = 0; j < DH; j++) {
          const g = (k: number) => raw[(((b * S + t) * 4 + k) * NH + h) * DH + j]!;
          const iR = g(0), fR = g(1), zR = g(2), oR = g(3);
          const a = logsig(fR) + mp[j]!;
          const mt = zero ? iR : Math.max(iR, a);
          const ia = Math.min(Math.exp(iR - mt), 1), fa = Math.min(Math.exp(a - mt), 1);
          const ct = fa * cp[j]! + ia * Math.tanh(zR);
          const nt = fa * np[j]! + ia;
          c[out + j] = ct;
          n[out + j] = nt;
          m[out + j] = mt;
          y[out + j] = sigmoid(oR) * ct / nt;
        }
        for (let j = 0; j < DH; j++) {
          yp[j] = y[out + j]!;
          cp[j] = c[out + j]!;
          np[j] = n[out + j]!;
          mp[j] = m[out + j]!;
        }
      }
    }
  }
  return { y, raw, c, n, m, zeroN };
}

const t64 = (shape: number[], data: Float64Array): Tensor => ({ shape, data });

function lastStates(x: F64Slstm, tr: Trace): Record<"y" | "c" | "n" | "m", Tensor> {
  const { B, S, NH, DH } = x;
  const pick = (src: Float64Array) => {
    const out = new Float64Array(B * NH * DH);
    for (let b = 0; b < B; b++) {
      out.set(src.subarray(((b * S + S - 1) * NH) * DH, ((b * S + S) * NH) * DH), b * NH * DH);
    }
    return t64([B, NH, DH], out);
  };
  return { y: pick(tr.y), c: pick(tr.c), n: pick(tr.n), m: pick(tr.m) };
}

function checkFinite(options: SlstmOptions, named: Record<string, Tensor>): void {
  if (!options.checkFinite) return;
  for (const [name, t] of Object.entries(named)) {
    const j = t.data.findIndex((v) => !Number.isFinite(v));
    if (j >= 0) {
      throw new RangeError(
        `Output ${name} holds a non-finite value ${t.data[j]} at flat index ${j}: ` +
          "the inputs overflow float64 or are themselves non-finite",
      );
    }
  }
}

/**
 * The float64 sLSTM forward (SPEC §8; semantics in the module documentation): y for every step and,
 * with `returnLastStates`, the last states (y, c, n, m) that seed the next call. Device tensors
 * are read back; results are CPU float64 tensors.
 *
 * @example Two calls with states equal one call
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random, randomSlstmInputs, slstmReference } from "../mod.ts";
 * const x = randomSlstmInputs({ B: 1, S: 4, NH: 2, DH: 3 }, new Random(0));
 * const whole = await slstmReference(x);
 * assert.ok(whole.y.shape.join() === "1,4,2,3");
 * const half = (t: number) => ({ shape: [1, 2, 4, 2, 3], data: x.wx.data.slice(t * 24, t * 24 + 48) });
 * const a = await slstmReference({ ...x, wx: half(0) }, { returnLastStates: true });
 * const s = a.last!;
 * const b = await slstmReference({ ...x, wx: half(2), yInitial: s.y, cInitial: s.c, nInitial: s.n, mInitial: s.m });
 * assert.ok(Math.abs(b.y.data[0]! - (whole.y as { data: Float64Array }).data[12]!) < 1e-14);
 * ```
 *
 * @param inputs wx (B, S, 4, NH, DH), r (NH, DH, 4, DH), bias (NH, 4, DH), optional initial states.
 * @param options `returnLastStates`, `checkFinite`.
 * @returns y (B, S, NH, DH) and the last states when asked for.
 * @throws {TypeError | RangeError} On bad inputs (naming the argument), or non-finite outputs with
 * `checkFinite`.
 */
export async function slstmReference(
  inputs: SlstmInputs,
  options: SlstmOptions = {},
): Promise<SlstmForwardResult<Tensor>> {
  const x = await read(inputs, options);
  const tr = run(x);
  const y = t64([x.B, x.S, x.NH, x.DH], tr.y);
  if (!options.returnLastStates) {
    checkFinite(options, { y });
    return { y };
  }
  const last = lastStates(x, tr);
  checkFinite(options, { y, lastY: last.y, lastC: last.c, lastN: last.n, lastM: last.m });
  return { y, last };
}

/**
 * The exact float64 sLSTM backward through time: from dL/dy (B, S, NH, DH) the gradients of wx, r,
 * bias and, when initial states were given, of each initial state. It reruns the forward.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random, randomSlstmInputs, randomTensor, slstmBackwardReference } from "../mod.ts";
 * const x = randomSlstmInputs({ B: 1, S: 3, NH: 1, DH: 2, states: true }, new Random(0));
 * const g = await slstmBackwardReference(x, randomTensor([1, 3, 1, 2], new Random(1)));
 * assert.ok(g.dr.shape.join() === "1,2,4,2" && g.dmInitial!.shape.join() === "1,1,2");
 * ```
 *
 * @param inputs As for {@linkcode slstmReference}.
 * @param dy Gradient of the loss with respect to y, (B, S, NH, DH).
 * @param options `checkFinite`.
 * @returns dwx, dr, dbias and the initial states' gradients when those were given.
 * @throws {TypeError | RangeError} On bad inputs or a dy of the wrong shape.
 */
export async function slstmBackwardReference(
  inputs: SlstmInputs,
  dy: TensorLike,
  options: SlstmOptions = {},
): Promise<SlstmGradients<Tensor>> {
  const x = await read(inputs, options);
  validateSlstmDy(dy, x);
  const dyd = await readF64(dy);
  const { B, S, NH, DH } = x;
  const tr = run(x);
  const dwx = new Float64Array(x.wx.length), dr = new Float64Array(x.r.length);
  const dbias = new Float64Array(x.bias.length);
  const dS = [0, 1, 2, 3].map(() => new Float64Array(B * NH * DH));
  const dyRec = new Float64Array(DH), dc = new Float64Array(DH), dn = new Float64Array(DH);
  const dm = new Float64Array(DH);
  const draw = new Float64Array(4 * DH);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const s0 = (b * NH + h) * DH;
      dyRec.fill(0), dc.fill(0), dn.fill(0), dm.fill(0);
      for (let t = S - 1; t >= 0; t--) {
        const at = ((b * S + t) * NH + h) * DH;
        const prev = t > 0 ? ((b * S + t - 1) * NH + h) * DH : -1;
        const st = (arr: Float64Array, init: Float64Array | undefined, j: number) =>
          prev >= 0 ? arr[prev + j]! : init ? init[s0 + j]! : 0;
        const zero = tr.zeroN[(b * S + t) * NH + h] === 1;
        for (let j = 0; j < DH; j++) {
          const g = (k: number) => tr.raw[(((b * S + t) * 4 + k) * NH + h) * DH + j]!;
          const iR = g(0), fR = g(1), zR = g(2), oR = g(3);
          const cPrev = st(tr.c, x.c0, j), nPrev = st(tr.n, x.n0, j), mPrev = st(tr.m, x.m0, j);
          const ct = tr.c[at + j]!, nt = tr.n[at + j]!, mt = tr.m[at + j]!;
          const a = logsig(fR) + mPrev;
          const eI = Math.exp(iR - mt), eF = Math.exp(a - mt);
          const ia = Math.min(eI, 1), fa = Math.min(eF, 1);
          const zt = Math.tanh(zR), og = sigmoid(oR);
          const dyt = dyd[at + j]! + dyRec[j]!;
          const dcT = dc[j]! + dyt * og / nt;
          const dnT = dn[j]! - dyt * og * ct / (nt * nt);
          const dia = dcT * zt + dnT, dfa = dcT * cPrev + dnT * nPrev;
          let diR = 0, da = 0, dmT = dm[j]!;
          if (eI <= 1) (diR += dia * ia), (dmT -= dia * ia);
          if (eF <= 1) (da += dfa * fa), (dmT -= dfa * fa);
          if (zero || iR >= a) diR += dmT;
          else da += dmT;
          draw[j] = diR;
          draw[DH + j] = da * sigmoid(-fR);
          draw[2 * DH + j] = dcT * ia * (1 - zt * zt);
          draw[3 * DH + j] = dyt * (ct / nt) * og * (1 - og);
          dc[j] = dcT * fa;
          dn[j] = dnT * fa;
          dm[j] = da;
        }
        dyRec.fill(0);
        for (let g = 0; g < 4; g++) {
          const ro = (((b * S + t) * 4 + g) * NH + h) * DH;
          for (let j = 0; j < DH; j++) {
            const v = draw[g * DH + j]!;
            dwx[ro + j] = v;
            dbias[(h * 4 + g) * DH + j] += v;
            for (let d = 0; d < DH; d++) {
              const ri = ((h * DH + d) * 4 + g) * DH + j;
              dr[ri] += st(tr.y, x.y0, d) * v;
              dyRec[d] += x.r[ri]! * v;
            }
          }
        }
      }
      for (let j = 0; j < DH; j++) {
        dS[0]![s0 + j] = dyRec[j]!;
        dS[1]![s0 + j] = dc[j]!;
        dS[2]![s0 + j] = dn[j]!;
        dS[3]![s0 + j] = dm[j]!;
      }
    }
  }
  const out: SlstmGradients<Tensor> = {
    dwx: t64([B, S, 4, NH, DH], dwx),
    dr: t64([NH, DH, 4, DH], dr),
    dbias: t64([NH, 4, DH], dbias),
  };
  if (x.hasInitialStates) {
    out.dyInitial = t64([B, NH, DH], dS[0]!);
    out.dcInitial = t64([B, NH, DH], dS[1]!);
    out.dnInitial = t64([B, NH, DH], dS[2]!);
    out.dmInitial = t64([B, NH, DH], dS[3]!);
  }
  checkFinite(options, out as unknown as Record<string, Tensor>);
  return out;
}

/**
 * The float64 reference as a registry kernel, `reference--slstm`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slstmReferenceKernel } from "./slstm.ts";
 * assert.ok(slstmReferenceKernel.name === "reference--slstm");
 * ```
 */
export const slstmReferenceKernel: SlstmKernel = {
  name: "reference--slstm",
  backend: "cpu-float64",
  forward: (inputs, options) => slstmReference(inputs, options),
  backward: (inputs, dy, options) => slstmBackwardReference(inputs, dy, options),
};
