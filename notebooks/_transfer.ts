/**
 * Transfer behaviour of one mLSTM cell (SPEC §7, the TFLA paper's analysis), in float64.
 *
 * With the gate pre-activations held at constants i0 and f0 at every step, the stabilized parallel
 * form of SPEC §1/§2 factorizes. With lf = logsig(f0), the decay D[t,s] = exp((t−s)·lf) (times
 * exp(i0 − m_t) = 1 for the exponential gate, whose stabilizer is m_t = i0, or σ(i0) for the sigmoid
 * gate), and two quantities that depend on f0 only:
 *
 *     N_t = Σ_{s≤t} scale·(q_t·k_s)·exp((t−s)·lf)·v_s        B_t = Σ_{s≤t} scale·(q_t·k_s)·exp((t−s)·lf)
 *
 * every variant is a per-step scalar times N_t:
 *
 * | variant | h_t | normalizer's lower bound |
 * | --- | --- | --- |
 * | exp, normalized (default) | N_t / (max(\|B_t\|, e^{−i0}) + eps) | e^{−m} = e^{−i0} |
 * | exp, unnormalized (stabilized numerator, "denom_one") | N_t | — |
 * | sig, normalized (default) | σ(i0)·N_t / (max(σ(i0)·\|B_t\|, 1) + eps) | 1 |
 * | sig, unnormalized | σ(i0)·N_t | — |
 *
 * So one O(S²·DHV) pass per f0 gives the whole i0 column, and the per-head RMS norm that follows the
 * cell (h_t / sqrt(mean_j h_t,j² + eps_norm)) acts on per-step statistics. {@linkcode checkAgainstKernel}
 * confirms the factorized output against any registered kernel's forward pass.
 *
 * @module
 */

import {
  getMlstmKernel,
  type MlstmKernel,
  Random,
  randomTensor,
  type Tensor,
  tensor,
} from "../mod.ts";

/** Which statistic of h (and of v) the gain uses; each is averaged over heads and steps. */
export type GainMetric = "abs-max" | "max" | "std";

/** One cell variant of the sweep. */
export interface TransferVariant {
  /** The input gate. */
  gate: "exp" | "sig";
  /** Divide by the normalizer (exp unnormalized = the stabilized numerator alone). */
  normalize: boolean;
}

/** The four variants of the paper's figure, in panel order. */
export const TRANSFER_VARIANTS: readonly TransferVariant[] = [
  { gate: "exp", normalize: true },
  { gate: "exp", normalize: false },
  { gate: "sig", normalize: true },
  { gate: "sig", normalize: false },
];

/** A short label of a variant, e.g. `mLSTMexp, normalized`. */
export function variantLabel(v: TransferVariant): string {
  return `mLSTM${v.gate}, ${v.normalize ? "normalized" : "unnormalized"}`;
}

/** Inputs of the sweep. */
export interface TransferConfig {
  /** Heads (B = 1). @default {1} */
  NH?: number;
  /** Sequence length. @default {256} */
  S?: number;
  /** Query/key head dimension. @default {64} */
  DQK?: number;
  /** Value head dimension. @default {64} */
  DHV?: number;
  /** Standard deviation of q and k. @default {1} */
  qkStd?: number;
  /** Standard deviation of v. @default {1} */
  vStd?: number;
  /** Seed of the generator. @default {0} */
  seed?: number;
  /** The cell's eps (added to the normalizer). @default {1e-6} */
  eps?: number;
}

/** Random q, k, v (B = 1) with constant gates i0, f0 filled in later. */
export interface TransferInputs {
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
  eps: number;
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

/**
 * Draws the sweep's inputs.
 *
 * @param config Shapes, standard deviations and seed.
 * @returns q, k (1, NH, S, DQK) and v (1, NH, S, DHV), float64.
 */
export function transferInputs(config: TransferConfig = {}): TransferInputs {
  const { NH = 1, S = 256, DQK = 64, DHV = 64, qkStd = 1, vStd = 1, seed = 0, eps = 1e-6 } =
    config;
  const rng = new Random(seed);
  return {
    NH,
    S,
    DQK,
    DHV,
    eps,
    q: randomTensor([1, NH, S, DQK], rng, { std: qkStd }),
    k: randomTensor([1, NH, S, DQK], rng, { std: qkStd }),
    v: randomTensor([1, NH, S, DHV], rng, { std: vStd }),
  };
}

function logsig(x: number): number {
  return Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Statistic of one row (one step's DHV values). */
function rowStat(x: Float64Array, off: number, n: number, metric: GainMetric): number {
  if (metric === "std") {
    let m = 0;
    for (let j = 0; j < n; j++) m += x[off + j];
    m /= n;
    let s = 0;
    for (let j = 0; j < n; j++) s += (x[off + j] - m) ** 2;
    return Math.sqrt(s / n);
  }
  let r = -Infinity;
  for (let j = 0; j < n; j++) {
    const y = metric === "abs-max" ? Math.abs(x[off + j]) : x[off + j];
    if (y > r) r = y;
  }
  return r;
}

/**
 * The gain statistic of a (…, S, D) array: the mean over all steps of each step's statistic.
 *
 * @param data The elements, rows of `D`.
 * @param D Row length.
 * @param metric The statistic.
 * @returns The mean.
 */
export function meanRowStat(data: ArrayLike<number>, D: number, metric: GainMetric): number {
  const x = data instanceof Float64Array ? data : Float64Array.from(data);
  const rows = x.length / D;
  let s = 0;
  for (let r = 0; r < rows; r++) s += rowStat(x, r * D, D, metric);
  return s / rows;
}

/**
 * Per-head RMS norm over the last dimension: x / sqrt(mean x² + eps), no affine weight.
 *
 * @param data The elements, rows of `D`.
 * @param D Row length.
 * @param eps Added under the root.
 * @returns A new array.
 */
export function rmsNorm(data: ArrayLike<number>, D: number, eps: number): Float64Array {
  const out = Float64Array.from(data);
  for (let off = 0; off < out.length; off += D) {
    let ms = 0;
    for (let j = 0; j < D; j++) ms += out[off + j] ** 2;
    const inv = 1 / Math.sqrt(ms / D + eps);
    for (let j = 0; j < D; j++) out[off + j] *= inv;
  }
  return out;
}

/** Per-f0 statistics of N_t and B_t, for every head and step (index head·S + t). */
interface F0Column {
  B: Float64Array;
  stat: Float64Array;
  ms: Float64Array;
}

/** Scaled q·k products of each head, (NH, S, S) causal (upper triangle unused). */
function qkProducts(x: TransferInputs): Float64Array[] {
  const { NH, S, DQK } = x, scale = 1 / Math.sqrt(DQK);
  const out: Float64Array[] = [];
  for (let h = 0; h < NH; h++) {
    const qk = new Float64Array(S * S);
    const base = h * S * DQK;
    for (let t = 0; t < S; t++) {
      for (let s = 0; s <= t; s++) {
        let d = 0;
        for (let a = 0; a < DQK; a++) d += x.q.data[base + t * DQK + a] * x.k.data[base + s * DQK + a];
        qk[t * S + s] = scale * d;
      }
    }
    out.push(qk);
  }
  return out;
}

function f0Column(
  x: TransferInputs,
  qk: Float64Array[],
  f0: number,
  metric: GainMetric,
): F0Column {
  const { NH, S, DHV } = x;
  const lf = logsig(f0);
  const w = new Float64Array(S);
  for (let d = 0; d < S; d++) w[d] = Math.exp(d * lf);
  const B = new Float64Array(NH * S), stat = new Float64Array(NH * S), ms = new Float64Array(NH * S);
  const row = new Float64Array(DHV);
  for (let h = 0; h < NH; h++) {
    const vb = h * S * DHV, m = qk[h];
    for (let t = 0; t < S; t++) {
      row.fill(0);
      let b = 0;
      for (let s = 0; s <= t; s++) {
        const c = m[t * S + s] * w[t - s];
        if (c === 0) continue;
        b += c;
        const vo = vb + s * DHV;
        for (let j = 0; j < DHV; j++) row[j] += c * x.v.data[vo + j];
      }
      let sq = 0;
      for (let j = 0; j < DHV; j++) sq += row[j] * row[j];
      B[h * S + t] = b;
      stat[h * S + t] = rowStat(row, 0, DHV, metric);
      ms[h * S + t] = sq / DHV;
    }
  }
  return { B, stat, ms };
}

/** Results of {@linkcode transferSweep} for one variant; grids are indexed [i-row][f-column]. */
export interface TransferResult {
  variant: TransferVariant;
  /** Gain of the cell output relative to v. */
  gain: number[][];
  /** Gain after the per-head RMS norm, one grid per norm eps (same order as `normEps`). */
  gainAfterNorm: number[][][];
  /** log10 of the mean normalizer max(|b_t|, bound) (normalized variants; NaN otherwise). */
  log10Normalizer: number[][];
  /** Fraction of steps where the lower bound wins the max (normalized variants; NaN otherwise). */
  boundFraction: number[][];
}

/** Options of {@linkcode transferSweep}. */
export interface SweepOptions {
  /** Input-gate offsets (rows of every grid). */
  iGrid: number[];
  /** Forget-gate offsets (columns). */
  fGrid: number[];
  /** The statistic. @default {"abs-max"} */
  metric?: GainMetric;
  /** Eps values of the RMS norm. @default {[1e-2, 1e-6, 1e-8]} */
  normEps?: number[];
  /** Variants. @default {TRANSFER_VARIANTS} */
  variants?: readonly TransferVariant[];
}

/**
 * Sweeps constant gate offsets and returns gain, post-norm gain and normalizer statistics per variant.
 *
 * @param x The inputs from {@linkcode transferInputs}.
 * @param options Grids, metric, norm eps values, variants.
 * @returns One result per variant.
 */
export function transferSweep(x: TransferInputs, options: SweepOptions): TransferResult[] {
  const { iGrid, fGrid, metric = "abs-max", normEps = [1e-2, 1e-6, 1e-8] } = options;
  const variants = options.variants ?? TRANSFER_VARIANTS;
  const { NH, S, DHV, eps } = x;
  const vStat = meanRowStat(x.v.data, DHV, metric);
  const qk = qkProducts(x);
  const grid = () => iGrid.map(() => new Array<number>(fGrid.length).fill(NaN));
  const results: TransferResult[] = variants.map((variant) => ({
    variant,
    gain: grid(),
    gainAfterNorm: normEps.map(grid),
    log10Normalizer: grid(),
    boundFraction: grid(),
  }));
  const n = NH * S;
  fGrid.forEach((f0, fc) => {
    const col = f0Column(x, qk, f0, metric);
    iGrid.forEach((i0, ir) => {
      const sg = sigmoid(i0);
      for (const res of results) {
        const { gate, normalize } = res.variant;
        const c = gate === "exp" ? 1 : sg;
        const bound = gate === "exp" ? Math.exp(-i0) : 1;
        let g = 0, nrmSum = 0, bounded = 0;
        const gn = new Float64Array(normEps.length);
        for (let j = 0; j < n; j++) {
          const absb = c * Math.abs(col.B[j]);
          const nrm = Math.max(absb, bound);
          nrmSum += nrm;
          if (bound > absb) bounded++;
          const alpha = normalize ? c / (nrm + eps) : c;
          // alpha > 0, so every statistic scales by alpha (the "max" statistic keeps its sign).
          g += alpha * col.stat[j];
          const msh = alpha * alpha * col.ms[j];
          normEps.forEach((e, k) => (gn[k] += (alpha * col.stat[j]) / Math.sqrt(msh + e)));
        }
        res.gain[ir][fc] = g / n / vStat;
        normEps.forEach((_, k) => (res.gainAfterNorm[k][ir][fc] = gn[k] / n / vStat));
        res.log10Normalizer[ir][fc] = normalize ? Math.log10(nrmSum / n) : NaN;
        res.boundFraction[ir][fc] = normalize ? bounded / n : NaN;
      }
    });
  });
  return results;
}

/**
 * `count` evenly spaced values from `lo` to `hi` inclusive.
 *
 * @param lo First value.
 * @param hi Last value.
 * @param count How many (≥ 2).
 * @returns The values.
 */
export function linspace(lo: number, hi: number, count: number): number[] {
  return Array.from({ length: count }, (_, j) => lo + ((hi - lo) * j) / (count - 1));
}

/** The cell output of the factorized form at one grid point, (1, NH, S, DHV). */
export function factorizedOutput(
  x: TransferInputs,
  variant: TransferVariant,
  i0: number,
  f0: number,
): Float64Array {
  const { NH, S, DHV, eps } = x;
  const qk = qkProducts(x), lf = logsig(f0), sg = sigmoid(i0);
  const c = variant.gate === "exp" ? 1 : sg;
  const bound = variant.gate === "exp" ? Math.exp(-i0) : 1;
  const h = new Float64Array(NH * S * DHV);
  for (let hd = 0; hd < NH; hd++) {
    for (let t = 0; t < S; t++) {
      let b = 0;
      const o = (hd * S + t) * DHV;
      for (let s = 0; s <= t; s++) {
        const w = qk[hd][t * S + s] * Math.exp((t - s) * lf);
        b += w;
        for (let j = 0; j < DHV; j++) h[o + j] += w * x.v.data[(hd * S + s) * DHV + j];
      }
      const alpha = variant.normalize ? c / (Math.max(c * Math.abs(b), bound) + eps) : c;
      for (let j = 0; j < DHV; j++) h[o + j] *= alpha;
    }
  }
  return h;
}

/** Result of {@linkcode checkAgainstKernel}. */
export interface KernelCheck {
  kernel: string;
  variant: string;
  i0: number;
  f0: number;
  relL2: number;
}

/**
 * Runs a registered kernel's forward pass at grid points and compares h with the factorized form.
 * Exponential-gate kernels are compared with the normalized exp variant, sigmoid-gate kernels with
 * both sigmoid variants (`normalize: false` for the unnormalized one).
 *
 * @param x The inputs.
 * @param kernelName A registry name (`reference--parallel`, `chunkwise--xl_chunk`, ...).
 * @param points (i0, f0) pairs.
 * @param toDevice Optional upload of CPU tensors (for GPU kernels that want device tensors).
 * @returns One row per point and variant.
 */
export async function checkAgainstKernel(
  x: TransferInputs,
  kernelName: string,
  points: [number, number][],
  toDevice?: (t: Tensor) => unknown,
): Promise<KernelCheck[]> {
  const kernel: MlstmKernel = getMlstmKernel(kernelName);
  const rows: KernelCheck[] = [];
  const variants = TRANSFER_VARIANTS.filter((v) =>
    v.gate === kernel.inputGate && (v.normalize || v.gate === "sig")
  );
  for (const [i0, f0] of points) {
    const gate = (c: number) => tensor([1, x.NH, x.S], new Float64Array(x.NH * x.S).fill(c));
    const cpu = { q: x.q, k: x.k, v: x.v, i: gate(i0), f: gate(f0) };
    const inputs = toDevice
      ? Object.fromEntries(Object.entries(cpu).map(([k, t]) => [k, toDevice(t)]))
      : cpu;
    for (const variant of variants) {
      // deno-lint-ignore no-explicit-any
      const { h } = await kernel.forward(inputs as any, {
        eps: x.eps,
        normalize: variant.normalize,
        chunkSize: Math.min(64, x.S),
      });
      const hd = "data" in h ? h.data : (await h.read()).data;
      const ref = factorizedOutput(x, variant, i0, f0);
      let num = 0, den = 0;
      for (let j = 0; j < ref.length; j++) {
        num += (hd[j] - ref[j]) ** 2;
        den += ref[j] ** 2;
      }
      rows.push({
        kernel: kernelName,
        variant: variantLabel(variant),
        i0,
        f0,
        relL2: Math.sqrt(num / Math.max(den, 1e-300)),
      });
    }
  }
  return rows;
}

/** Gains computed from a registered kernel's own forward passes (see {@linkcode kernelGainGrid}). */
export interface KernelGainGrid {
  kernel: string;
  variant: TransferVariant;
  /** [i-row][f-column]. */
  gain: number[][];
  /** One grid per norm eps. */
  gainAfterNorm: number[][][];
}

/**
 * The transfer sweep run through a registered kernel: one forward pass per grid point with constant
 * gates, the gain measured on the kernel's h. Slower than {@linkcode transferSweep} (which it should
 * match to the kernel's precision), but it measures the kernel itself.
 *
 * @param x The inputs.
 * @param kernelName A registry name.
 * @param options Grids, metric, norm eps values, `normalize` (sigmoid gate), optional device upload.
 * @returns The gain grids.
 */
export async function kernelGainGrid(
  x: TransferInputs,
  kernelName: string,
  options: SweepOptions & { normalize?: boolean; toDevice?: (t: Tensor) => unknown },
): Promise<KernelGainGrid> {
  const { iGrid, fGrid, metric = "abs-max", normEps = [1e-2, 1e-6, 1e-8], normalize = true } = options;
  const kernel = getMlstmKernel(kernelName);
  const variant: TransferVariant = { gate: kernel.inputGate, normalize: kernel.inputGate === "exp" || normalize };
  const vStat = meanRowStat(x.v.data, x.DHV, metric);
  const up = (t: Tensor) => (options.toDevice ? options.toDevice(t) : t);
  const q = up(x.q), k = up(x.k), v = up(x.v);
  const gain = iGrid.map(() => new Array<number>(fGrid.length).fill(NaN));
  const gainAfterNorm = normEps.map(() => iGrid.map(() => new Array<number>(fGrid.length).fill(NaN)));
  for (const [ir, i0] of iGrid.entries()) {
    for (const [fc, f0] of fGrid.entries()) {
      const gate = (c: number) => up(tensor([1, x.NH, x.S], new Float64Array(x.NH * x.S).fill(c)));
      // deno-lint-ignore no-explicit-any
      const inputs = { q, k, v, i: gate(i0), f: gate(f0) } as any;
      const { h } = await kernel.forward(inputs, {
        eps: x.eps,
        normalize: variant.normalize,
        chunkSize: Math.min(64, x.S),
      });
      const hd = "data" in h ? h.data : (await h.read()).data;
      gain[ir][fc] = meanRowStat(hd, x.DHV, metric) / vStat;
      normEps.forEach((e, j) => {
        gainAfterNorm[j][ir][fc] = meanRowStat(rmsNorm(hd, x.DHV, e), x.DHV, metric) / vStat;
      });
    }
  }
  return { kernel: kernelName, variant, gain, gainAfterNorm };
}
