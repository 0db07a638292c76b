/**
 * Row norms of the model, one WGSL template: RMSNorm `x·rsqrt(mean(x²) + eps)·w (+ b)` over D, and
 * the per-head LayerNorm of the mLSTM layer (mean-centred, biased variance, over each head's DH
 * values, `·w (+ b)`), optionally times the output gate `sigmoid(o)` read from a column range of
 * the fused projection. One workgroup per (token, group) row; each thread keeps its elements in
 * registers (`vec4` when the row length allows) between the reductions (shared-memory trees) and
 * the write, so x is read once; statistics in f32. The input may be token-major (M, G·R) or, for
 * the mLSTM cell's h, head-major (B, G, S, R); the output is token-major (M, G·R).
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import { type BufferLike, type DispatchBatch, getPipeline, type GpuTensor } from "../runtime.ts";
import { grid, GRID_BUILTINS, lit, storageThenUniform } from "./_common.ts";

/** Which norm. */
export type NormKind = "rms" | "layer";

/**
 * Parameters of one norm pipeline.
 *
 * @example
 * ```ts
 * import { normWgsl } from "./norm.ts";
 * const w = normWgsl({ kind: "layer", R: 16, G: 2, headMajor: true, weight: true, bias: false, gate: { ld: 40, off: 8 }, eps: 1e-6 });
 * console.assert(w.includes("exp(-o)"));
 * ```
 */
export interface NormParams {
  /** RMSNorm or LayerNorm. */
  readonly kind: NormKind;
  /** Elements per normalized row (D, or DH per head). */
  readonly R: number;
  /** Rows per token (1, or NH heads). */
  readonly G: number;
  /** Input is (B, G, S, R) instead of (M, G·R). */
  readonly headMajor: boolean;
  /** Scale of size G·R bound. */
  readonly weight: boolean;
  /** Bias of size G·R bound. */
  readonly bias: boolean;
  /** Multiply by sigmoid(o[token, off + g·R + j]) with o of row stride `ld`. */
  readonly gate?: { readonly ld: number; readonly off: number };
  /** eps inside the square root. */
  readonly eps: number;
}

function shapeOf(p: NormParams) {
  const vec = p.R % 4 === 0 && (!p.gate || (p.gate.ld % 4 === 0 && p.gate.off % 4 === 0));
  const V = vec ? 4 : 1;
  const units = p.R / V;
  let WG = 32;
  while (WG < units && WG < 256) WG *= 2;
  return { V, units, WG, U: Math.ceil(units / WG) };
}

/**
 * Generates the WGSL of one norm pipeline. Bindings: x, [weight], [bias], [o], out, uniforms
 * `{ M, S }` (tokens, sequence length for the head-major layout).
 *
 * @example
 * ```ts
 * import { normWgsl } from "./norm.ts";
 * console.assert(normWgsl({ kind: "rms", R: 7, G: 1, headMajor: false, weight: true, bias: false, eps: 1e-6 }).includes("inverseSqrt"));
 * ```
 *
 * @param p The norm and the layout.
 * @returns The WGSL source.
 */
export function normWgsl(p: NormParams): string {
  const { V, units, WG, U } = shapeOf(p);
  const T = V === 4 ? "vec4<f32>" : "f32";
  const sum = (e: string) => (V === 4 ? `dot(${e}, vec4<f32>(1.0))` : e);
  const RV = p.R / V, GRV = (p.G * p.R) / V;
  const L: string[] = [];
  let b = 0;
  L.push(
    `// norm ${p.kind}: R=${p.R} G=${p.G} ${p.headMajor ? "head-major" : "token-major"} vec${V}`,
  );
  L.push(`struct U { M: u32, S: u32, p0: u32, p1: u32 }`);
  L.push(`@group(0) @binding(${b++}) var<storage, read> X: array<${T}>;`);
  if (p.weight) L.push(`@group(0) @binding(${b++}) var<storage, read> Wt: array<${T}>;`);
  if (p.bias) L.push(`@group(0) @binding(${b++}) var<storage, read> Bs: array<${T}>;`);
  if (p.gate) L.push(`@group(0) @binding(${b++}) var<storage, read> Og: array<${T}>;`);
  L.push(`@group(0) @binding(${b++}) var<storage, read_write> Y: array<${T}>;`);
  L.push(`@group(0) @binding(${b++}) var<uniform> u: U;`);
  L.push(`const WG = ${WG}u;`);
  L.push(`var<workgroup> red: array<f32, ${WG}>;`);
  L.push(`fn reduce(v: f32, t: u32) -> f32 {`);
  L.push(`  red[t] = v;`);
  L.push(`  workgroupBarrier();`);
  for (let s = WG / 2; s >= 1; s /= 2) {
    L.push(`  if (t < ${s}u) { red[t] = red[t] + red[t + ${s}u]; }`);
    L.push(`  workgroupBarrier();`);
  }
  L.push(`  let r = red[0];`);
  L.push(`  workgroupBarrier();`);
  L.push(`  return r;`);
  L.push(`}`);
  L.push(`@compute @workgroup_size(${WG})`);
  L.push(`fn main(${GRID_BUILTINS}) {`);
  L.push(`  let row = wid.y * nwg.x + wid.x;`);
  L.push(`  if (row >= u.M * ${p.G}u) { return; }`);
  L.push(`  let tok = row / ${p.G}u;`);
  L.push(`  let g = row % ${p.G}u;`);
  L.push(`  let t = lid.x;`);
  if (p.headMajor) {
    L.push(`  let bb = tok / u.S;`);
    L.push(`  let s = tok % u.S;`);
    L.push(`  let xb = ((bb * ${p.G}u + g) * u.S + s) * ${RV}u;`);
  } else {
    L.push(`  let xb = tok * ${GRV}u + g * ${RV}u;`);
  }
  L.push(`  let yb = tok * ${GRV}u + g * ${RV}u;`);
  for (let i = 0; i < U; i++) {
    const j = `t + ${i * WG}u`;
    const guard = (i + 1) * WG > units;
    L.push(
      guard
        ? `  var x${i} = ${T}(0.0); if (${j} < ${units}u) { x${i} = X[xb + ${j}]; }`
        : `  var x${i} = X[xb + ${j}];`,
    );
  }
  if (p.kind === "layer") {
    L.push(
      `  let mean = reduce(${Array.from({ length: U }, (_, i) => sum(`x${i}`)).join(" + ")}, t) * ${
        lit(1 / p.R)
      };`,
    );
    for (let i = 0; i < U; i++) {
      const guard = (i + 1) * WG > units;
      L.push(
        guard
          ? `  if (t + ${i * WG}u < ${units}u) { x${i} = x${i} - ${T}(mean); }`
          : `  x${i} = x${i} - ${T}(mean);`,
      );
    }
  }
  const sq = Array.from({ length: U }, (_, i) => sum(`x${i} * x${i}`)).join(" + ");
  L.push(`  let inv = inverseSqrt(reduce(${sq}, t) * ${lit(1 / p.R)} + ${lit(p.eps)});`);
  for (let i = 0; i < U; i++) {
    const j = `t + ${i * WG}u`;
    const body: string[] = [];
    body.push(`var y = x${i} * inv;`);
    if (p.weight) body.push(`y = y * Wt[g * ${RV}u + ${j}];`);
    if (p.bias) body.push(`y = y + Bs[g * ${RV}u + ${j}];`);
    if (p.gate) {
      body.push(
        `let o = Og[tok * ${p.gate.ld / V}u + ${p.gate.off / V}u + g * ${RV}u + ${j}];`,
      );
      body.push(`y = y / (${T}(1.0) + exp(-o));`);
    }
    body.push(`Y[yb + ${j}] = y;`);
    const guard = (i + 1) * WG > units;
    L.push(guard ? `  if (${j} < ${units}u) { ${body.join(" ")} }` : `  { ${body.join(" ")} }`);
  }
  L.push(`}`);
  return L.join("\n");
}

/** Options of {@linkcode encodeNorm}. */
export interface NormOptions {
  /** RMSNorm or per-group LayerNorm. */
  kind: NormKind;
  /** Groups (heads) per token. @default {1} */
  groups?: number;
  /** x is head-major (B, G, S, R) (the mLSTM cell's h). @default {false} */
  headMajor?: boolean;
  /** Scale (G·R), f32. */
  weight?: GpuTensor;
  /** Bias (G·R), f32. */
  bias?: GpuTensor;
  /** Output gate: multiply by sigmoid of columns `off …` of the rows of `t` (row stride `ld`). */
  gate?: { t: GpuTensor; ld: number; off: number };
  /** eps. @default {1e-6} */
  eps?: number;
}

/**
 * Encodes a norm into `batch`: `out (M, G·R)` from x ((M, G·R), or (B, G, S, R) head-major).
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { encodeNorm } from "./norm.ts";
 * const gpu = await getGpu();
 * const x = GpuTensor.fromTensor(gpu, { shape: [1, 2], data: new Float64Array([3, 4]) });
 * const y = GpuTensor.empty(gpu, [1, 2]);
 * const batch = new DispatchBatch(gpu);
 * await encodeNorm(batch, x, y, { kind: "rms", eps: 0 });
 * await batch.submit();
 * ```
 *
 * @param batch The batch.
 * @param x The input, f32.
 * @param out The output (M, G·R), f32.
 * @param options Kind, groups, layout, weight, bias, gate, eps.
 * @throws {TypeError} If shapes or dtypes disagree (naming them).
 */
export async function encodeNorm(
  batch: DispatchBatch,
  x: GpuTensor,
  out: GpuTensor,
  options: NormOptions,
): Promise<void> {
  const G = options.groups ?? 1;
  const F = out.shape[out.shape.length - 1]!;
  if (!Number.isInteger(G) || G < 1 || F % G !== 0) {
    throw new RangeError(`Norm groups must divide the row length ${F}, received ${G}`);
  }
  const R = F / G;
  const M = out.size / F;
  const headMajor = options.headMajor ?? false;
  if (x.dtype !== "f32" || out.dtype !== "f32" || x.size !== out.size) {
    throw new TypeError(
      `Norm x ${formatShape(x.shape)} ${x.dtype} and out ${
        formatShape(out.shape)
      } ${out.dtype} must be f32 of one size`,
    );
  }
  let S = 1;
  if (headMajor) {
    if (x.shape.length !== 4 || x.shape[1] !== G || x.shape[3] !== R) {
      throw new TypeError(
        `Head-major norm input must be (B, ${G}, S, ${R}), received ${formatShape(x.shape)}`,
      );
    }
    S = x.shape[2]!;
  } else if (x.shape[x.shape.length - 1] !== F) {
    throw new TypeError(`Norm input must be (…, ${F}), received ${formatShape(x.shape)}`);
  }
  for (const [name, t] of [["weight", options.weight], ["bias", options.bias]] as const) {
    if (t && (t.size !== F || t.dtype !== "f32")) {
      throw new TypeError(
        `Norm ${name} must be f32 of size ${F}, received ${formatShape(t.shape)}`,
      );
    }
  }
  const gate = options.gate;
  if (gate && (gate.t.size !== M * gate.ld || gate.off + F > gate.ld || gate.t.dtype !== "f32")) {
    throw new TypeError(
      `Norm gate must be f32 with ${M} rows of stride ${gate.ld} covering ${gate.off}..${
        gate.off + F - 1
      }, received ${formatShape(gate.t.shape)}`,
    );
  }
  if (M === 0) return;
  const p: NormParams = {
    kind: options.kind,
    R,
    G,
    headMajor,
    weight: options.weight !== undefined,
    bias: options.bias !== undefined,
    ...(gate ? { gate: { ld: gate.ld, off: gate.off } } : {}),
    eps: options.eps ?? 1e-6,
  };
  const gpu = batch.gpu;
  const buffers: BufferLike[] = [x];
  if (options.weight) buffers.push(options.weight);
  if (options.bias) buffers.push(options.bias);
  if (gate) buffers.push(gate.t);
  buffers.push(out);
  // Explicit layout (uniforms at a dynamic offset): a batch of many decoding steps reuses one bind
  // group per distinct set of buffers instead of creating one per dispatch.
  const pipeline = await getPipeline(
    gpu,
    `norm:${JSON.stringify(p)}`,
    () => normWgsl(p),
    "main",
    storageThenUniform(buffers.length),
  );
  batch.dispatch({
    label: `norm ${p.kind} R=${R} G=${G}${gate ? " gated" : ""}`,
    pipeline,
    buffers,
    uniforms: new Uint32Array([M, S, 0, 0]),
    workgroups: grid(M * G, 1, gpu.limits.maxComputeWorkgroupsPerDimension),
    bytes: 8 * M * F,
  });
}
