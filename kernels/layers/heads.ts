/**
 * Layout change of the mLSTM layer: column ranges of the fused projection (M = B·S token rows)
 * into the head-major tensors the mLSTM cell takes, q, k (B, NH, S, DQK), v (B, NH, S, DHV) and
 * the gate pre-activations i, f (B, NH, S), the latter soft-capped on the way
 * (`cap·tanh(x/cap)`, the layer's `gate_soft_cap`). `vec4` copies where the head size allows.
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import { type DispatchBatch, getPipeline, type GpuTensor } from "../runtime.ts";
import { grid, GRID_BUILTINS, lit, storageThenUniform } from "./_common.ts";

/**
 * Parameters of one head-split pipeline.
 *
 * @example
 * ```ts
 * import { toHeadsWgsl } from "./heads.ts";
 * console.assert(toHeadsWgsl({ NH: 2, DH: 8, ld: 64, off: 16, cap: 0 }).includes("vec4"));
 * ```
 */
export interface ToHeadsParams {
  /** Heads. */
  readonly NH: number;
  /** Head size (1 for the gates). */
  readonly DH: number;
  /** Row stride of the projection. */
  readonly ld: number;
  /** First column. */
  readonly off: number;
  /** Soft-cap (0: none). */
  readonly cap: number;
}

const WG = 256;
const vecOf = (p: ToHeadsParams) => (p.DH % 4 === 0 && p.ld % 4 === 0 && p.off % 4 === 0 ? 4 : 1);

/**
 * Generates the WGSL of one head split. Bindings: P, out, uniforms `{ M, S }`.
 *
 * @example
 * ```ts
 * import { toHeadsWgsl } from "./heads.ts";
 * console.assert(toHeadsWgsl({ NH: 3, DH: 1, ld: 10, off: 4, cap: 15 }).includes("tanh"));
 * ```
 *
 * @param p Heads, head size, addressing, cap.
 * @returns The WGSL source.
 */
export function toHeadsWgsl(p: ToHeadsParams): string {
  const V = vecOf(p);
  const T = V === 4 ? "vec4<f32>" : "f32";
  const DV = p.DH / V;
  const val = p.cap > 0
    ? `${lit(p.cap)} * tanh(clamp(x * ${lit(1 / p.cap)}, ${T}(-20.0), ${T}(20.0)))`
    : "x";
  return [
    `// to heads NH=${p.NH} DH=${p.DH} ld=${p.ld} off=${p.off} cap=${p.cap}`,
    `struct U { M: u32, S: u32, p0: u32, p1: u32 }`,
    `@group(0) @binding(0) var<storage, read> P: array<${T}>;`,
    `@group(0) @binding(1) var<storage, read_write> O: array<${T}>;`,
    `@group(0) @binding(2) var<uniform> u: U;`,
    `const WG = ${WG}u;`,
    `@compute @workgroup_size(${WG})`,
    `fn main(${GRID_BUILTINS}) {`,
    `  let g = (wid.y * nwg.x + wid.x) * WG + lid.x;`,
    `  if (g >= u.M * ${p.NH * DV}u) { return; }`,
    `  let j = g % ${DV}u;`,
    `  let r = g / ${DV}u;`,
    `  let s = r % u.S;`,
    `  let bh = r / u.S;`,
    `  let h = bh % ${p.NH}u;`,
    `  let b = bh / ${p.NH}u;`,
    `  let x = P[(b * u.S + s) * ${p.ld / V}u + ${p.off / V}u + h * ${DV}u + j];`,
    `  O[g] = ${val};`,
    `}`,
  ].join("\n");
}

/**
 * Encodes the split of columns `off … off + NH·DH - 1` of the projection P (B, S, ld) into the
 * head-major `out` (B, NH, S, DH) (or (B, NH, S) when DH is 1), soft-capped when `cap` > 0.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { encodeToHeads } from "./heads.ts";
 * const gpu = await getGpu();
 * const p = GpuTensor.fromTensor(gpu, { shape: [1, 2, 4], data: new Float64Array([0, 1, 2, 3, 4, 5, 6, 7]) });
 * const q = GpuTensor.empty(gpu, [1, 2, 2, 1]);
 * const batch = new DispatchBatch(gpu);
 * await encodeToHeads(batch, p, q, { off: 0, cap: 0 });
 * await batch.submit();
 * console.assert((await q.read()).data.join() === "0,4,1,5");
 * ```
 *
 * @param batch The batch.
 * @param P The projection (B, S, ld), f32.
 * @param out (B, NH, S, DH) or (B, NH, S), f32.
 * @param options First column and soft-cap.
 * @throws {TypeError} If the shapes disagree.
 */
export async function encodeToHeads(
  batch: DispatchBatch,
  P: GpuTensor,
  out: GpuTensor,
  options: { off: number; cap: number },
): Promise<void> {
  if (P.shape.length !== 3 || out.shape.length < 3 || out.shape.length > 4) {
    throw new TypeError(
      `Head split takes P (B, S, ld) and out (B, NH, S[, DH]), received ${
        formatShape(P.shape)
      } and ${formatShape(out.shape)}`,
    );
  }
  const [B, S, ld] = P.shape as [number, number, number];
  const NH = out.shape[1]!, DH = out.shape[3] ?? 1;
  if (out.shape[0] !== B || out.shape[2] !== S || options.off + NH * DH > ld) {
    throw new TypeError(
      `Head split out ${formatShape(out.shape)} does not fit P ${
        formatShape(P.shape)
      } at column ${options.off}`,
    );
  }
  const p: ToHeadsParams = { NH, DH, ld, off: options.off, cap: options.cap };
  const gpu = batch.gpu;
  const pipeline = await getPipeline(
    gpu,
    `toheads:${JSON.stringify(p)}`,
    () => toHeadsWgsl(p),
    "main",
    storageThenUniform(2),
  );
  batch.dispatch({
    label: `to heads NH=${NH} DH=${DH}`,
    pipeline,
    buffers: [P, out],
    uniforms: new Uint32Array([B * S, S, 0, 0]),
    workgroups: grid(
      (B * S * NH * DH) / vecOf(p),
      WG,
      gpu.limits.maxComputeWorkgroupsPerDimension,
    ),
    bytes: 8 * B * S * NH * DH,
  });
}
