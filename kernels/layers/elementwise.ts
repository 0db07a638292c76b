/**
 * Elementwise layer kernels, one WGSL template: SwiGLU `silu(a)·b`, the output gate
 * `sigmoid(a)·b`, the residual add `a + b` and the soft-cap `cap·tanh(a/cap)`. Operands are read
 * row by row with a row stride and a column offset, so that they can be column ranges of a fused
 * projection (e.g. the gate and up halves of one FFN GEMM output); the output is contiguous
 * (M, F). `vec4` loads and stores when F, the strides and the offsets are multiples of 4.
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import { type DispatchBatch, getPipeline, type GpuTensor } from "../runtime.ts";
import { grid, GRID_BUILTINS, lit, storageThenUniform } from "./_common.ts";

/** An elementwise operation. */
export type ElementwiseOp = "swiglu" | "sigmoid_gate" | "add" | "softcap";

/**
 * Parameters of one elementwise pipeline.
 *
 * @example
 * ```ts
 * import { elementwiseWgsl } from "./elementwise.ts";
 * const w = elementwiseWgsl({ op: "swiglu", F: 8, ldA: 16, offA: 0, ldB: 16, offB: 8, cap: 0 });
 * console.assert(w.includes("vec4<f32>"));
 * ```
 */
export interface ElementwiseParams {
  /** The operation. */
  readonly op: ElementwiseOp;
  /** Row length of the output. */
  readonly F: number;
  /** Row stride of a. */
  readonly ldA: number;
  /** Column offset of a. */
  readonly offA: number;
  /** Row stride of b (binary ops). */
  readonly ldB: number;
  /** Column offset of b (binary ops). */
  readonly offB: number;
  /** Soft-cap value (op "softcap"). */
  readonly cap: number;
}

const WG = 256;
const unary = (op: ElementwiseOp) => op === "softcap";
const vecWidth = (p: ElementwiseParams) =>
  p.F % 4 === 0 && p.ldA % 4 === 0 && p.offA % 4 === 0 &&
    (unary(p.op) || (p.ldB % 4 === 0 && p.offB % 4 === 0))
    ? 4
    : 1;

/**
 * Generates the WGSL of one elementwise pipeline. Bindings: a, [b], out, uniforms `{ M }`.
 *
 * @example
 * ```ts
 * import { elementwiseWgsl } from "./elementwise.ts";
 * const w = elementwiseWgsl({ op: "softcap", F: 5, ldA: 5, offA: 0, ldB: 0, offB: 0, cap: 30 });
 * console.assert(w.includes("tanh") && !w.includes("vec4"));
 * ```
 *
 * @param p The operation and the addressing.
 * @returns The WGSL source.
 */
export function elementwiseWgsl(p: ElementwiseParams): string {
  const un = unary(p.op);
  const V = vecWidth(p);
  const T = V === 4 ? "vec4<f32>" : "f32";
  const one = V === 4 ? "vec4<f32>(1.0)" : "1.0";
  const Fv = p.F / V;
  let expr: string;
  switch (p.op) {
    case "swiglu":
      expr = `a / (${one} + exp(-a)) * b`;
      break;
    case "sigmoid_gate":
      expr = `b / (${one} + exp(-a))`;
      break;
    case "add":
      expr = `a + b`;
      break;
    case "softcap":
      expr = `${lit(p.cap)} * tanh(clamp(a * ${lit(1 / p.cap)}, ${T}(-20.0), ${T}(20.0)))`;
      break;
  }
  let b = 0;
  return [
    `// elementwise ${p.op}: F=${p.F} a(ld ${p.ldA}, +${p.offA}) b(ld ${p.ldB}, +${p.offB}) vec${V}`,
    `struct U { M: u32, p0: u32, p1: u32, p2: u32 }`,
    `@group(0) @binding(${b++}) var<storage, read> A: array<${T}>;`,
    un ? "" : `@group(0) @binding(${b++}) var<storage, read> B: array<${T}>;`,
    `@group(0) @binding(${b++}) var<storage, read_write> O: array<${T}>;`,
    `@group(0) @binding(${b++}) var<uniform> u: U;`,
    `const WG = ${WG}u;`,
    `@compute @workgroup_size(${WG})`,
    `fn main(${GRID_BUILTINS}) {`,
    `  let g = (wid.y * nwg.x + wid.x) * WG + lid.x;`,
    `  if (g >= u.M * ${Fv}u) { return; }`,
    `  let m = g / ${Fv}u;`,
    `  let j = g % ${Fv}u;`,
    `  let a = A[m * ${p.ldA / V}u + ${p.offA / V}u + j];`,
    un ? "" : `  let b = B[m * ${p.ldB / V}u + ${p.offB / V}u + j];`,
    `  O[g] = ${expr};`,
    `}`,
  ].filter((l) => l !== "").join("\n");
}

/** An operand: a tensor and, optionally, the column range of its rows to read. */
export interface Operand {
  /** The tensor (rows × row stride), f32. */
  readonly t: GpuTensor;
  /** Row stride. @default {the tensor's last dimension} */
  readonly ld?: number;
  /** First column. @default {0} */
  readonly off?: number;
}

/**
 * Encodes `out (M, F) = op(a, b)` into `batch`. Operands are (M, ld) tensors read at columns
 * `off … off + F - 1` of each row.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { encodeElementwise } from "./elementwise.ts";
 * const gpu = await getGpu();
 * const ab = GpuTensor.fromTensor(gpu, { shape: [1, 2], data: new Float64Array([0, 3]) });
 * const out = GpuTensor.empty(gpu, [1, 1]);
 * const batch = new DispatchBatch(gpu);
 * await encodeElementwise(batch, "sigmoid_gate", out, { t: ab, off: 0 }, { t: ab, off: 1 });
 * await batch.submit();
 * console.assert((await out.read()).data[0] === 1.5);
 * ```
 *
 * @param batch The batch.
 * @param op The operation.
 * @param out Output (M, F), f32.
 * @param a First operand.
 * @param b Second operand (binary ops).
 * @param cap Soft-cap value (op "softcap").
 * @throws {TypeError | RangeError} If an operand does not cover M rows of F columns.
 */
export async function encodeElementwise(
  batch: DispatchBatch,
  op: ElementwiseOp,
  out: GpuTensor,
  a: Operand,
  b?: Operand,
  cap = 0,
): Promise<void> {
  const F = out.shape[out.shape.length - 1]!;
  const M = F === 0 ? 0 : out.size / F;
  const un = unary(op);
  if (!un && !b) throw new TypeError(`Elementwise ${op} needs a second operand b`);
  if (op === "softcap" && !(cap > 0)) {
    throw new RangeError(`Elementwise softcap needs a cap > 0, received ${cap}`);
  }
  const check = (x: Operand, name: string) => {
    const ld = x.ld ?? x.t.shape[x.t.shape.length - 1]!;
    const off = x.off ?? 0;
    if (x.t.dtype !== "f32" || off + F > ld || x.t.size !== M * ld) {
      throw new TypeError(
        `Elementwise ${op} operand ${name} must be f32 with ${M} rows of stride ${ld} covering columns ${off}..${
          off + F - 1
        }, received ${formatShape(x.t.shape)} ${x.t.dtype}`,
      );
    }
    return { ld, off };
  };
  if (out.dtype !== "f32") throw new TypeError(`Elementwise ${op} output must be f32`);
  const pa = check(a, "a");
  const pb = un ? { ld: 0, off: 0 } : check(b!, "b");
  if (M === 0) return;
  const p: ElementwiseParams = {
    op,
    F,
    ldA: pa.ld,
    offA: pa.off,
    ldB: pb.ld,
    offB: pb.off,
    cap: op === "softcap" ? cap : 0,
  };
  const gpu = batch.gpu;
  const pipeline = await getPipeline(
    gpu,
    `elementwise:${JSON.stringify(p)}`,
    () => elementwiseWgsl(p),
    "main",
    storageThenUniform(un ? 2 : 3),
  );
  const V = vecWidth(p);
  batch.dispatch({
    label: `elementwise ${op} F=${F}`,
    pipeline,
    buffers: un ? [a.t, out] : [a.t, b!.t, out],
    uniforms: new Uint32Array([M, 0, 0, 0]),
    workgroups: grid((M * F) / V, WG, gpu.limits.maxComputeWorkgroupsPerDimension),
    bytes: 4 * M * F * (un ? 2 : 3),
  });
}
