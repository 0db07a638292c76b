// Shared plumbing of the WebGPU kernels: moving inputs to the device (CPU tensors are uploaded,
// GpuTensors are checked), WGSL snippets, and the tile-size helpers. Not exported from mod.ts.

import { documentStartFlags } from "../core/documents.ts";
import { formatShape, sizeOf, type Tensor } from "../core/tensor.ts";
import type { MlstmInputs, MlstmOptions, TensorLike } from "../core/types.ts";
import { assertFinite, isCpuTensor } from "../core/validate.ts";
import {
  getGpu,
  type Gpu,
  GpuError,
  GpuTensor,
  readTensors,
  type StorageDtype,
} from "./runtime.ts";

/** Storage dtype of a device tensor. */
export type Dtype = StorageDtype;

/** Inputs on the device, plus what to clean up and how to return results. */
export interface DeviceInputs {
  gpu: Gpu;
  /** Storage dtype of q, k, v (and h). */
  dtype: Dtype;
  /** Storage dtype of i and f. */
  gateDtype: Dtype;
  /** Whether the caller passed CPU tensors (results go back to the CPU). */
  cpu: boolean;
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
  i: GpuTensor;
  f: GpuTensor;
  c?: GpuTensor;
  n?: GpuTensor;
  m?: GpuTensor;
  /** Tensors this call uploaded (destroyed after CPU results were read). */
  temps: GpuTensor[];
  /** `options.checkFinite`: outputs are checked (device outputs are read back for it). */
  checkFinite: boolean;
}

type Named = [string, TensorLike | undefined];

/**
 * Uploads CPU inputs (q, k, v in `options.dtype`, gates and states in f32) or checks device inputs
 * (one device; q, k, v of one dtype; i, f of one dtype; states f32). Mixed CPU and device inputs are
 * rejected.
 */
export async function toDevice(
  inputs: MlstmInputs,
  options: MlstmOptions,
  states: { c?: TensorLike; n?: TensorLike; m?: TensorLike },
): Promise<DeviceInputs> {
  const all: Named[] = [
    ["q", inputs.q],
    ["k", inputs.k],
    ["v", inputs.v],
    ["i", inputs.i],
    ["f", inputs.f],
    ["c", states.c],
    ["n", states.n],
    ["m", states.m],
  ];
  const given = all.filter(([, t]) => t !== undefined) as [string, TensorLike][];
  const cpuCount = given.filter(([, t]) => isCpuTensor(t)).length;
  if (cpuCount !== 0 && cpuCount !== given.length) {
    throw new TypeError(
      `Inputs must be all CPU tensors or all GpuTensors; CPU: ${
        given.filter(([, t]) => isCpuTensor(t)).map(([n]) => n).join(", ")
      }, device: ${given.filter(([, t]) => !isCpuTensor(t)).map(([n]) => n).join(", ")}`,
    );
  }
  const dtypeOpt = options.dtype;
  if (dtypeOpt !== undefined && dtypeOpt !== "f32" && dtypeOpt !== "f16") {
    throw new RangeError(
      `Option dtype must be "f32" or "f16", received ${JSON.stringify(dtypeOpt)}`,
    );
  }
  if (cpuCount > 0) {
    const gpu = await getGpu();
    const dtype = dtypeOpt ?? "f32";
    if (dtype === "f16" && !gpu.hasF16) {
      throw new GpuError(
        `Option dtype "f16" needs the shader-f16 feature, which ${gpu.adapterName} does not offer: use dtype "f32"`,
      );
    }
    const temps: GpuTensor[] = [];
    const up = (t: TensorLike, dt: Dtype) => {
      const g = GpuTensor.fromTensor(gpu, t as Tensor, dt);
      temps.push(g);
      return g;
    };
    const out: DeviceInputs = {
      gpu,
      dtype,
      gateDtype: "f32",
      cpu: true,
      q: up(inputs.q, dtype),
      k: up(inputs.k, dtype),
      v: up(inputs.v, dtype),
      i: up(inputs.i, "f32"),
      f: up(inputs.f, "f32"),
      temps,
      checkFinite: options.checkFinite ?? false,
    };
    if (states.c) out.c = up(states.c, "f32");
    if (states.n) out.n = up(states.n, "f32");
    if (states.m) out.m = up(states.m, "f32");
    return out;
  }
  for (const [name, t] of given) {
    if (!(t instanceof GpuTensor)) {
      throw new TypeError(`Argument ${name} must be a CPU tensor or a GpuTensor of this toolkit`);
    }
    if (t.destroyed) throw new GpuError(`Argument ${name} is a destroyed GpuTensor`);
  }
  const g = Object.fromEntries(given) as Record<string, GpuTensor>;
  const gpu = g.q!.gpu;
  for (const [name, t] of Object.entries(g)) {
    if (t.gpu !== gpu) throw new GpuError(`Argument ${name} lives on another device than q`);
  }
  const dtype = g.q!.dtype;
  for (const name of ["k", "v"]) {
    if (g[name]!.dtype !== dtype) {
      throw new TypeError(
        `q, k and v must share one dtype: q is ${dtype}, ${name} is ${g[name]!.dtype}`,
      );
    }
  }
  if (dtypeOpt !== undefined && dtypeOpt !== dtype) {
    throw new TypeError(
      `Option dtype is ${JSON.stringify(dtypeOpt)} but the GpuTensor inputs are ${dtype}: ` +
        "drop the option or upload the inputs with that dtype",
    );
  }
  if (g.i!.dtype !== g.f!.dtype) {
    throw new TypeError(`i and f must share one dtype: i is ${g.i!.dtype}, f is ${g.f!.dtype}`);
  }
  for (const name of ["c", "n", "m"]) {
    if (g[name] && g[name]!.dtype !== "f32") {
      throw new TypeError(
        `State ${name} must be an f32 GpuTensor (states are kept in f32), received ${
          g[name]!.dtype
        }`,
      );
    }
  }
  if (options.checkFinite) await assertDeviceInputsFinite(given as [string, GpuTensor][]);
  const out: DeviceInputs = {
    gpu,
    dtype,
    gateDtype: g.i!.dtype,
    cpu: false,
    q: g.q!,
    k: g.k!,
    v: g.v!,
    i: g.i!,
    f: g.f!,
    temps: [],
    checkFinite: options.checkFinite ?? false,
  };
  if (g.c) out.c = g.c;
  if (g.n) out.n = g.n;
  if (g.m) out.m = g.m;
  return out;
}

/**
 * `options.checkFinite` for device inputs: reads them back (one submit, one wait: a debugging
 * aid, not for hot paths) and throws naming the first non-finite argument.
 */
export async function assertDeviceInputsFinite(named: [string, GpuTensor][]): Promise<void> {
  if (named.length === 0) return;
  const read = await readTensors(named.map(([, t]) => t));
  named.forEach(([name], j) => assertFinite(read[j]!, name));
}

/**
 * Reads outputs back when the caller passed CPU tensors (then frees every device buffer of the
 * call), or returns the device tensors unchanged.
 */
export async function finish<T extends Record<string, GpuTensor | undefined>>(
  x: DeviceInputs,
  outs: T,
  extra: GpuTensor[] = [],
): Promise<{ [K in keyof T]: T[K] extends GpuTensor ? TensorLike : T[K] }> {
  for (const t of extra) t.destroy();
  const keys = Object.keys(outs).filter((k) => outs[k] !== undefined);
  if (!x.cpu) {
    if (x.checkFinite) {
      const read = await readTensors(keys.map((k) => outs[k]!));
      keys.forEach((k, j) => assertFiniteOutput(read[j]!, k));
    }
    return outs as never;
  }
  const read = await readTensors(keys.map((k) => outs[k]!));
  for (const k of keys) outs[k]!.destroy();
  for (const t of x.temps) t.destroy();
  if (x.checkFinite) keys.forEach((k, j) => assertFiniteOutput(read[j]!, k));
  return Object.fromEntries(keys.map((k, j) => [k, read[j]])) as never;
}

function assertFiniteOutput(t: Tensor, name: string): void {
  const j = t.data.findIndex((v) => !Number.isFinite(v));
  if (j >= 0) {
    throw new RangeError(
      `Output ${name} holds a non-finite value ${t.data[j]} at flat index ${j}: ` +
        "the inputs overflow float32 (or f16 storage) or are themselves non-finite",
    );
  }
}

/** A view of a device tensor with another shape of the same size (shares the buffer). */
export function reshape(t: TensorLike, shape: readonly number[]): TensorLike {
  if (sizeOf(shape) !== sizeOf(t.shape)) {
    throw new RangeError(`Cannot view shape ${formatShape(t.shape)} as ${formatShape(shape)}`);
  }
  if (isCpuTensor(t)) return { shape: [...shape], data: t.data };
  const g = t as GpuTensor;
  return new GpuTensor(g.gpu, shape, g.dtype, g.buffer);
}

/**
 * Whether `t` is a live f32 GpuTensor of `gpu` with exactly this shape: the check of a scratch
 * tensor one pass hands to another (the forward's score blocks for the backward's dk).
 */
export function isLiveF32(t: unknown, gpu: Gpu, shape: readonly number[]): t is GpuTensor {
  return t instanceof GpuTensor && t.gpu === gpu && !t.destroyed && t.dtype === "f32" &&
    t.shape.length === shape.length && shape.every((n, j) => t.shape[j] === n);
}

/** Throws if a kernel needs more storage buffers than the device allows per shader stage. */
export function checkStorageBuffers(gpu: Gpu, count: number, what: string): void {
  const lim = gpu.limits.maxStorageBuffersPerShaderStage;
  if (count > lim) {
    throw new GpuError(
      `${what} binds ${count} storage buffers, above this device's maxStorageBuffersPerShaderStage of ${lim} (${gpu.adapterName})`,
    );
  }
}

/** The largest divisor of n that is at most `max`. */
export function largestDivisor(n: number, max: number): number {
  for (let d = Math.min(n, max); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/** `enable f16;` when any storage uses f16. */
export function enableF16(...dtypes: Dtype[]): string {
  return dtypes.includes("f16") ? "enable f16;\n" : "";
}

/** Formats a number as a WGSL f32 literal. */
export function f32Lit(x: number): string {
  const s = Math.fround(x).toPrecision(9);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * WGSL: `opaque(x)`, which is x, but through a select on the uniform `u.S` that no compiler can
 * fold. Compensated sums (TwoSum, Kahan) are algebraically zero corrections, and a shader compiler
 * that reassociates floating-point arithmetic deletes them: lavapipe's did (the correction of
 * 1 + 1e-8 came out 0, so long sequences lost the stable forget-gate sums' accuracy). Routing the
 * sum and its partial differences through `opaque` keeps every operation as written. Needs a
 * uniform `u` with a u32 field `S` declared before it.
 */
export const WGSL_OPAQUE = `
fn opaque(x: f32) -> f32 { return select(x, 0.0, u.S == 0xFFFFFFFFu); }
`;

/**
 * WGSL: `logsig(x) = log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`, accurate to a few ulp
 * relative for every x (the one implementation of every kernel family: step, recurrent, parallel,
 * chunkwise, backward). Two parts are accurate where the GPU's built-ins are not:
 * - `exp_neg(a) = exp(-a)` reduces the argument, a = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in a
 *   16-bit head, so that k·head is exact, and a tail), and scales exp(-r) by 2^-k: the built-in
 *   exp(-a) rounds a·log2(e) in f32 first, ~|a|·2^-24 relative error (1e-6 at a = 15, 5e-6 at 87);
 * - log1p(e) for e in [0, 1] is 2·atanh(e / (2 + e)) by its odd series (z ≤ 1/3, 9 terms): log(1 + e)
 *   loses e below 1e-7 and the GPU's log is only accurate to ~2^-21 absolute near 1.
 * For x ≥ 15 logsig(x) ≈ -exp(-x) is tiny, and only this keeps it accurate relative to itself (the
 * former log1p of `1 + e` had ~6e-8 absolute error: 100% relative there). Beyond x ≈ 87.3 the
 * result is below f32's normal range (subnormal, or 0 where the GPU flushes subnormals).
 * Floored at −1e30: a gate of −∞ (a reset) then keeps every sum and difference of log gates finite
 * (no −∞ − (−∞) = NaN) and still weighs the state by exactly exp(−1e30 + …) = 0.
 */
export const WGSL_LOGSIG = `
fn exp_neg(a: f32) -> f32 {
  let k = min(floor(a * 1.44269504 + 0.5), 200.0);
  let r = (a - k * 0.693145751953125) - k * 1.42860677e-6;
  return ldexp(exp(-r), -i32(k));
}
fn logsig(x: f32) -> f32 {
  let e = exp_neg(abs(x));
  // t = 2z with z = e / (2 + e), formed without z: where e is just above the smallest normal
  // (x ≈ 87), z is subnormal and NVIDIA flushed it to 0 (logsig came out 0, not -e).
  let t = e / (1.0 + 0.5 * e);
  let z = 0.5 * t;
  let z2 = z * z;
  var p = 1.0 / 17.0;
  p = p * z2 + 1.0 / 15.0;
  p = p * z2 + 1.0 / 13.0;
  p = p * z2 + 1.0 / 11.0;
  p = p * z2 + 1.0 / 9.0;
  p = p * z2 + 1.0 / 7.0;
  p = p * z2 + 1.0 / 5.0;
  p = p * z2 + 1.0 / 3.0;
  p = p * z2 + 1.0;
  return max(min(x, 0.0) - t * p, -1.0e30);
}
`;

/**
 * WGSL: {@linkcode WGSL_LOGSIG} (`logsig`, `exp_neg`) and `NEG_BIG`, a stand-in for -infinity that
 * stays finite through sums.
 */
export const WGSL_GATES = `
const NEG_BIG: f32 = -3.0e38;
${WGSL_LOGSIG}`;

/**
 * Uploads the document-start flags of `MlstmOptions.documentStarts` (validated) as a (B, S)
 * buffer of u32 (1 where a document starts, states zeroed before the step), the layout every
 * WebGPU kernel with packed sequences reads. The tensor's dtype says f32 (the runtime's storage
 * types); the kernels bind it as `array<u32>`. The caller destroys it after the submit.
 *
 * @example
 * ```ts no-eval
 * import { uploadDocumentStarts } from "./_common.ts";
 * import { getGpu } from "./runtime.ts";
 * const flags = uploadDocumentStarts(await getGpu(), [[3]], 1, 5);
 * flags.destroy();
 * ```
 *
 * @param gpu The device.
 * @param starts The option's value.
 * @param B Batch size.
 * @param S Sequence length.
 * @returns The flags on the device.
 */
export function uploadDocumentStarts(
  gpu: Gpu,
  starts: readonly (readonly number[])[] | undefined,
  B: number,
  S: number,
): GpuTensor {
  const t = GpuTensor.empty(gpu, [B, S], "f32");
  gpu.device.queue.writeBuffer(t.buffer, 0, documentStartFlags(starts, B, S));
  return t;
}
