/**
 * The sLSTM on WebGPU (`slstm--fused`, SPEC §8): the whole sequence in one dispatch, one workgroup
 * per (batch, head) looping over time inside the kernel with the states in registers and r on chip
 * (in registers, in workgroup memory as f32 or f16) or read through the caches at every step for
 * large heads (as f32, or as an f16 copy); and its backward through time: the forward again
 * (writing the gates and states of every step), the reverse loop (one dispatch, one workgroup per
 * (batch, head)), and the sums of dR and dbias over batch and time (partial sums over splits of
 * the B·S rows, then their sum in split order: two dispatches), all in one command buffer.
 *
 * Why one workgroup per (batch, head): the recurrence through y makes every step wait for the
 * previous one, so the forward costs S × (the latency of one step: a DH × 4·DH matrix-vector
 * product, two workgroup barriers and the gates), whatever the FMA rate; the B·NH chains run side
 * by side, one per SM.
 *
 * @module
 */

import type { Tensor } from "../../core/tensor.ts";
import type { TensorLike } from "../../core/types.ts";
import type {
  SlstmForwardResult,
  SlstmGradients,
  SlstmInputs,
  SlstmKernel,
  SlstmOptions,
  SlstmRStorage,
} from "../../core/slstm_types.ts";
import {
  SLSTM_STATE_NAMES,
  type SlstmDims,
  validateSlstmDy,
  validateSlstmInputs,
} from "../../core/slstm_validate.ts";
import { isCpuTensor } from "../../core/validate.ts";
import { assertDeviceInputsFinite, checkStorageBuffers, largestDivisor } from "../_common.ts";
import {
  checkWorkgroupLimits,
  DispatchBatch,
  getGpu,
  getPipeline,
  type Gpu,
  GpuError,
  GpuTensor,
  poisonOutputsEnabled,
  readTensors,
  type StorageDtype,
} from "../runtime.ts";
import {
  backwardWgsl,
  drPartSize,
  drReduceWgsl,
  drWgsl,
  forwardStepFlops,
  forwardWgsl,
  loopWorkgroupBytes,
  rCopyWgsl,
  type RPlace,
  type SlstmDrParams,
  type SlstmLoopParams,
} from "./_wgsl.ts";

/** Most elements of the recurrent sum per thread and gate (L = DH/P). */
const MAX_SLICE = 16;
/** Most elements of the recurrent sum per thread that the threads are chosen for (tuning). */
let sliceTarget = MAX_SLICE;

/**
 * Sets how many elements of the recurrent sum each thread takes at most when the time loops choose
 * their threads per state element P (the smallest divisor of DH with DH/P ≤ n; 16 by default, null
 * restores it): fewer threads mean fewer threads per barrier but longer dot products per step. For
 * tuning on a given GPU; r in registers still holds at most 16 elements per thread. Applies to
 * calls made afterwards (each P is its own cached pipeline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setSlstmMaxSlice, slstmLoopParams } from "./fused.ts";
 * const lim = { maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupStorageSize: 49152 };
 * setSlstmMaxSlice(64);
 * assert.ok(slstmLoopParams(lim, 4, 64, "f32", "global").P === 1);
 * setSlstmMaxSlice(null);
 * assert.ok(slstmLoopParams(lim, 4, 64, "f32", "global").P === 4);
 * ```
 *
 * @param n A positive integer, or null for the default.
 * @throws {RangeError} If n is not a positive integer.
 */
export function setSlstmMaxSlice(n: number | null): void {
  if (n !== null && !(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`The slice limit must be a positive integer, received ${n}`);
  }
  sliceTarget = n ?? MAX_SLICE;
}

/**
 * The launch parameters of the time loops for a head size on a device: threads per state element
 * P (the smallest divisor of DH with DH/P ≤ 16 within the device's threads per workgroup, at most
 * 1024; see {@linkcode setSlstmMaxSlice}) and where r lives (see {@linkcode SlstmOptions.rStorage}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slstmLoopParams } from "./fused.ts";
 * const lim = { maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupStorageSize: 49152 };
 * const p = slstmLoopParams(lim, 4, 64, "f32", "auto");
 * assert.ok(p.P === 4 && p.place === "registers");
 * assert.ok(slstmLoopParams(lim, 4, 256, "f32", "auto").place === "global");
 * assert.ok(slstmLoopParams(lim, 4, 128, "f16", "auto").place === "global-f16");
 * assert.ok(slstmLoopParams(lim, 4, 32, "f32", "workgroup").place === "workgroup");
 * ```
 *
 * @param limits The device's threads per workgroup and workgroup storage.
 * @param NH Heads.
 * @param DH Head size.
 * @param dtype Storage of wx and y.
 * @param rStorage The option (`"auto"` picks).
 * @param save Forward only: write the trace for the backward. @default {false}
 * @returns The parameters.
 * @throws {GpuError} If the requested placement does not fit the device.
 */
export function slstmLoopParams(
  limits: { maxComputeInvocationsPerWorkgroup: number; maxComputeWorkgroupStorageSize: number },
  NH: number,
  DH: number,
  dtype: StorageDtype,
  rStorage: SlstmRStorage,
  save = false,
): SlstmLoopParams {
  const maxThreads = Math.min(1024, limits.maxComputeInvocationsPerWorkgroup);
  if (DH > maxThreads) {
    throw new GpuError(
      `slstm--fused needs at least DH = ${DH} threads per workgroup; this device allows ${maxThreads}`,
    );
  }
  let P = 1;
  for (let q = 1; q <= DH; q++) {
    if (DH % q !== 0 || DH * q > maxThreads) continue;
    P = q;
    if (DH / q <= sliceTarget) break;
  }
  if (DH / P > sliceTarget) P = largestDivisor(DH, Math.floor(maxThreads / DH));
  const base = { NH, DH, P, dtype, save };
  const fits = (place: RPlace) =>
    Math.max(
      loopWorkgroupBytes({ ...base, place }, false),
      loopWorkgroupBytes({ ...base, place }, true),
    ) <= limits.maxComputeWorkgroupStorageSize;
  let place: RPlace;
  if (rStorage === "auto") {
    place = DH <= 64 && DH / P <= MAX_SLICE
      ? "registers"
      : fits("workgroup")
      ? "workgroup"
      : dtype === "f16"
      ? (fits("workgroup-f16") ? "workgroup-f16" : "global-f16")
      : "global";
  } else {
    place = rStorage;
    if (place === "registers" && DH / P > MAX_SLICE) {
      throw new GpuError(
        `rStorage "registers" holds ${4 * DH / P} floats of r per thread at DH = ${DH} (at most ${
          4 * MAX_SLICE
        }): use "workgroup" or "global"`,
      );
    }
    if ((place === "workgroup" || place === "workgroup-f16") && !fits(place)) {
      throw new GpuError(
        `rStorage "${place}" needs ${
          loopWorkgroupBytes({ ...base, place }, true)
        } bytes of workgroup storage at DH = ${DH}, above this device's maxComputeWorkgroupStorageSize of ${limits.maxComputeWorkgroupStorageSize}: use "workgroup-f16" or "global"`,
      );
    }
  }
  return { ...base, place };
}

const loopKey = (p: SlstmLoopParams, dir: "fw" | "bw") =>
  `slstm--fused:${dir}:nh${p.NH}:dh${p.DH}:p${p.P}:${p.dtype}:${p.place}${
    dir === "fw" && p.save ? ":save" : ""
  }`;

async function loopPipeline(gpu: Gpu, p: SlstmLoopParams, dir: "fw" | "bw") {
  const key = loopKey(p, dir);
  checkWorkgroupLimits(gpu, {
    storageBytes: loopWorkgroupBytes(p, dir === "bw"),
    invocations: p.DH * p.P,
  }, key);
  checkStorageBuffers(gpu, dir === "fw" ? (p.save ? 7 : 6) : 6, key);
  return await getPipeline(gpu, key, () => (dir === "fw" ? forwardWgsl : backwardWgsl)(p, key));
}

async function drPipeline(gpu: Gpu, p: SlstmDrParams) {
  const key = `slstm--fused:dr:nh${p.NH}:dh${p.DH}:${p.dtype}:tm${p.TM}:tn${p.TN}`;
  return await getPipeline(gpu, key, () => drWgsl(p, key));
}

function uniforms(S: number, B: number): Uint32Array {
  return new Uint32Array([S, B, 0, 0]);
}

/** Inputs on the device: wx (dtype), r, bias and the packed initial states (4, B, NH, DH), f32. */
interface OnDevice {
  gpu: Gpu;
  dtype: StorageDtype;
  cpu: boolean;
  wx: GpuTensor;
  r: GpuTensor;
  bias: GpuTensor;
  s0: GpuTensor;
  /** Tensors this call allocated for its inputs (destroyed at the end). */
  temps: GpuTensor[];
  /** Copies of device initial states into s0, recorded into the call's batch. */
  stateCopies: [GpuTensor, number][];
}

async function toDevice(
  inputs: SlstmInputs,
  dims: SlstmDims,
  options: SlstmOptions,
  extra: [string, TensorLike][] = [],
): Promise<OnDevice> {
  const named: [string, TensorLike][] = [
    ["wx", inputs.wx],
    ["r", inputs.r],
    ["bias", inputs.bias],
    ...SLSTM_STATE_NAMES.filter((n) => inputs[n] !== undefined).map((n) =>
      [n, inputs[n]!] as [string, TensorLike]
    ),
    ...extra,
  ];
  const cpu = named.filter(([, t]) => isCpuTensor(t)).map(([n]) => n);
  if (cpu.length !== 0 && cpu.length !== named.length) {
    throw new TypeError(
      `Inputs must be all CPU tensors or all GpuTensors; CPU: ${cpu.join(", ")}, device: ${
        named.filter(([, t]) => !isCpuTensor(t)).map(([n]) => n).join(", ")
      }`,
    );
  }
  const { B, NH, DH } = dims;
  const stateSize = B * NH * DH;
  if (cpu.length > 0) {
    const gpu = await getGpu();
    const dtype = options.dtype ?? "f32";
    if (dtype === "f16" && !gpu.hasF16) {
      throw new GpuError(
        `Option dtype "f16" needs the shader-f16 feature, which ${gpu.adapterName} does not offer: use dtype "f32"`,
      );
    }
    const packed = new Float32Array(4 * stateSize);
    if (dims.hasInitialStates) {
      SLSTM_STATE_NAMES.forEach((n, k) => packed.set((inputs[n] as Tensor).data, k * stateSize));
    }
    const up = (t: TensorLike, dt: StorageDtype) => GpuTensor.fromTensor(gpu, t as Tensor, dt);
    const out: OnDevice = {
      gpu,
      dtype,
      cpu: true,
      wx: up(inputs.wx, dtype),
      r: up(inputs.r, "f32"),
      bias: up(inputs.bias, "f32"),
      s0: GpuTensor.fromTensor(gpu, { shape: [4, B, NH, DH], data: packed }),
      temps: [],
      stateCopies: [],
    };
    out.temps.push(out.wx, out.r, out.bias, out.s0);
    return out;
  }
  for (const [name, t] of named) {
    if (!(t instanceof GpuTensor)) {
      throw new TypeError(`Argument ${name} must be a CPU tensor or a GpuTensor of this toolkit`);
    }
    if (t.destroyed) throw new GpuError(`Argument ${name} is a destroyed GpuTensor`);
  }
  const g = Object.fromEntries(named) as Record<string, GpuTensor>;
  const gpu = g.wx!.gpu;
  for (const [name, t] of Object.entries(g)) {
    if (t.gpu !== gpu) throw new GpuError(`Argument ${name} lives on another device than wx`);
  }
  const dtype = g.wx!.dtype;
  if (options.dtype !== undefined && options.dtype !== dtype) {
    throw new TypeError(
      `Option dtype is ${JSON.stringify(options.dtype)} but the GpuTensor wx is ${dtype}: ` +
        "drop the option or upload wx with that dtype",
    );
  }
  for (const name of ["r", "bias", ...SLSTM_STATE_NAMES]) {
    if (g[name] && g[name]!.dtype !== "f32") {
      throw new TypeError(
        `Argument ${name} must be an f32 GpuTensor (r, bias and states are kept in f32), received ${
          g[name]!.dtype
        }`,
      );
    }
  }
  for (const [name, t] of extra) {
    if ((t as GpuTensor).dtype !== dtype) {
      throw new TypeError(
        `Argument ${name} must have the dtype of wx (${dtype}), received ${(t as GpuTensor).dtype}`,
      );
    }
  }
  if (options.checkFinite) await assertDeviceInputsFinite(named as [string, GpuTensor][]);
  const s0 = GpuTensor.empty(gpu, [4, B, NH, DH]);
  return {
    gpu,
    dtype,
    cpu: false,
    wx: g.wx!,
    r: g.r!,
    bias: g.bias!,
    s0,
    temps: [s0],
    stateCopies: dims.hasInitialStates
      ? SLSTM_STATE_NAMES.map((n, k) => [g[n]!, k * stateSize * 4] as [GpuTensor, number])
      : [],
  };
}

/** Reads results back for CPU callers (freeing every buffer of the call) and checks finiteness. */
async function finish(
  x: OnDevice,
  options: SlstmOptions,
  outs: Record<string, GpuTensor>,
): Promise<Record<string, TensorLike>> {
  const keys = Object.keys(outs);
  const check = (t: Tensor, k: string) => {
    const j = t.data.findIndex((v) => !Number.isFinite(v));
    if (j >= 0) {
      throw new RangeError(
        `Output ${k} holds a non-finite value ${t.data[j]} at flat index ${j}: ` +
          "the inputs overflow float32 (or f16 storage) or are themselves non-finite",
      );
    }
  };
  if (!x.cpu) {
    for (const t of x.temps) t.destroy();
    if (options.checkFinite) {
      const read = await readTensors(keys.map((k) => outs[k]!));
      keys.forEach((k, j) => check(read[j]!, k));
    }
    return outs;
  }
  const read = await readTensors(keys.map((k) => outs[k]!));
  for (const k of keys) outs[k]!.destroy();
  for (const t of x.temps) t.destroy();
  if (options.checkFinite) keys.forEach((k, j) => check(read[j]!, k));
  return Object.fromEntries(keys.map((k, j) => [k, read[j]!]));
}

function recordStateCopies(batch: DispatchBatch, x: OnDevice): void {
  for (const [t, off] of x.stateCopies) batch.copy(t, 0, x.s0, off, t.byteSize);
}

/**
 * The r a loop binds: r itself, or a copy made by one dispatch of this batch (freed with the call's
 * temporaries): f16 for global-f16, and transposed for the backward of the global placements.
 */
async function loopR(
  batch: DispatchBatch,
  x: OnDevice,
  p: SlstmLoopParams,
  dir: "fw" | "bw",
): Promise<GpuTensor> {
  if (p.place.endsWith("f16") && !x.gpu.hasF16) {
    throw new GpuError(
      `rStorage "${p.place}" needs the shader-f16 feature, which ${x.gpu.adapterName} does not offer: use "global"`,
    );
  }
  const f16 = p.place === "global-f16";
  const transpose = dir === "bw" && p.place.startsWith("global");
  if (!f16 && !transpose) return x.r;
  const { NH, DH } = p;
  const key = `slstm--fused:r_copy:nh${NH}:dh${DH}:${f16 ? "f16" : "f32"}${transpose ? ":t" : ""}`;
  const copy = GpuTensor.empty(x.gpu, x.r.shape, f16 ? "f16" : "f32");
  x.temps.push(copy);
  const wgs = Math.ceil(x.r.size / 256);
  batch.dispatch({
    label: key,
    pipeline: await getPipeline(x.gpu, key, () => rCopyWgsl(NH, DH, f16, transpose, key)),
    buffers: [x.r, copy],
    workgroups: [Math.min(wgs, 65535), Math.ceil(wgs / 65535)],
    bytes: (f16 ? 6 : 8) * x.r.size,
  });
  return copy;
}

/** Records the forward loop; returns y and the packed last states. */
async function recordForward(
  batch: DispatchBatch,
  x: OnDevice,
  dims: SlstmDims,
  p: SlstmLoopParams,
  r: GpuTensor,
  trace?: GpuTensor,
): Promise<{ y: GpuTensor; sLast: GpuTensor }> {
  const { B, S, NH, DH } = dims;
  const gpu = x.gpu;
  const pipeline = await loopPipeline(gpu, p, "fw");
  const poison = { poison: poisonOutputsEnabled() };
  const y = GpuTensor.empty(gpu, [B, S, NH, DH], x.dtype, poison);
  const sLast = GpuTensor.empty(gpu, [4, B, NH, DH], "f32", poison);
  const bytesIn = B * S * 4 * NH * DH * (x.dtype === "f16" ? 2 : 4);
  batch.dispatch({
    label: loopKey(p, "fw"),
    pipeline,
    buffers: [x.wx, r, x.bias, x.s0, y, sLast, ...(trace ? [trace] : [])],
    uniforms: uniforms(S, B),
    workgroups: [B * NH],
    flops: B * NH * S * forwardStepFlops(DH),
    bytes: bytesIn * 1.25 + 4 * NH * DH * 4 * DH + (trace ? trace.byteSize : 0),
    meta: { B, S, NH, DH, P: p.P, place: p.place },
  });
  return { y, sLast };
}

function unpackStates(
  batch: DispatchBatch,
  x: OnDevice,
  packed: GpuTensor,
  dims: SlstmDims,
  names: readonly string[],
): Record<string, GpuTensor> {
  const { B, NH, DH } = dims;
  const out: Record<string, GpuTensor> = {};
  names.forEach((n, k) => {
    const t = GpuTensor.empty(x.gpu, [B, NH, DH]);
    batch.copy(packed, k * B * NH * DH * 4, t, 0, t.byteSize);
    out[n] = t;
  });
  return out;
}

/**
 * The sLSTM forward on WebGPU (SPEC §8): all S steps in one dispatch of B·NH workgroups. CPU tensors
 * in give CPU tensors (f32 data) out; GpuTensors in give GpuTensors out. wx and y are stored as
 * `options.dtype` (f32 default); r, bias and the states are f32 and all arithmetic is f32.
 *
 * @example
 * ```ts no-eval
 * import { Random, randomSlstmInputs, slstmForwardWebGpu } from "../../mod.ts";
 * const x = randomSlstmInputs({ B: 2, S: 16, NH: 4, DH: 32 }, new Random(0));
 * const { y, last } = await slstmForwardWebGpu(x, { returnLastStates: true });
 * console.assert(y.shape.join() === "2,16,4,32" && last!.m.shape.join() === "2,4,32");
 * ```
 *
 * @param inputs wx (B, S, 4, NH, DH), r (NH, DH, 4, DH), bias (NH, 4, DH), optional initial states
 * (B, NH, DH) each, all four or none.
 * @param options `returnLastStates`, `dtype`, `rStorage`, `checkFinite`.
 * @returns y (B, S, NH, DH) and, when asked, the last states (y, c, n, m).
 * @throws {TypeError | RangeError} On bad inputs or options (before anything reaches the GPU);
 * {@linkcode GpuError} on device limits.
 */
export async function slstmForwardWebGpu(
  inputs: SlstmInputs,
  options: SlstmOptions = {},
): Promise<SlstmForwardResult> {
  const dims = validateSlstmInputs(inputs, options);
  const x = await toDevice(inputs, dims, options);
  const p = slstmLoopParams(x.gpu.limits, dims.NH, dims.DH, x.dtype, options.rStorage ?? "auto");
  const batch = new DispatchBatch(x.gpu);
  recordStateCopies(batch, x);
  const { y, sLast } = await recordForward(batch, x, dims, p, await loopR(batch, x, p, "fw"));
  const states = options.returnLastStates
    ? unpackStates(batch, x, sLast, dims, ["last.y", "last.c", "last.n", "last.m"])
    : {};
  await batch.submit();
  x.temps.push(sLast);
  const r = await finish(x, options, { y, ...states });
  if (!options.returnLastStates) return { y: r.y! };
  return { y: r.y!, last: { y: r["last.y"]!, c: r["last.c"]!, n: r["last.n"]!, m: r["last.m"]! } };
}

/**
 * The sLSTM backward on WebGPU: from dL/dy (B, S, NH, DH) the gradients of wx (in the storage type
 * of wx), r and bias (f32) and, when initial states were given, of each initial state (f32). One
 * command buffer: the forward again, writing every step's gates and states (B·S·7·NH·DH f32), the
 * reverse loop over time (B·NH workgroups), and the sums of dR and dbias over batch and time.
 *
 * @example
 * ```ts no-eval
 * import { Random, randomSlstmInputs, randomTensor, slstmBackwardWebGpu } from "../../mod.ts";
 * const x = randomSlstmInputs({ B: 1, S: 8, NH: 2, DH: 16 }, new Random(0));
 * const g = await slstmBackwardWebGpu(x, randomTensor([1, 8, 2, 16], new Random(1)));
 * console.assert(g.dr.shape.join() === "2,16,4,16");
 * ```
 *
 * @param inputs As for {@linkcode slstmForwardWebGpu}.
 * @param dy Gradient of the loss with respect to y, (B, S, NH, DH), stored like wx.
 * @param options `dtype`, `rStorage`, `checkFinite`.
 * @returns dwx, dr, dbias and the initial states' gradients when those were given.
 * @throws {TypeError | RangeError} On bad inputs; {@linkcode GpuError} on device limits.
 */
export async function slstmBackwardWebGpu(
  inputs: SlstmInputs,
  dy: TensorLike,
  options: SlstmOptions = {},
): Promise<SlstmGradients> {
  const dims = validateSlstmInputs(inputs, options);
  validateSlstmDy(dy, dims);
  const x = await toDevice(inputs, dims, options, [["dy", dy]]);
  const { B, S, NH, DH } = dims;
  const gpu = x.gpu;
  const dyDev = x.cpu ? GpuTensor.fromTensor(gpu, dy as Tensor, x.dtype) : (dy as GpuTensor);
  if (x.cpu) x.temps.push(dyDev);
  const p = slstmLoopParams(gpu.limits, NH, DH, x.dtype, options.rStorage ?? "auto", true);
  const poison = { poison: poisonOutputsEnabled() };
  const trace = GpuTensor.empty(gpu, [B, S, 7, NH, DH], "f32", poison);
  const batch = new DispatchBatch(gpu);
  recordStateCopies(batch, x);
  const { y, sLast } = await recordForward(
    batch,
    x,
    dims,
    p,
    await loopR(batch, x, p, "fw"),
    trace,
  );
  x.temps.push(trace, y, sLast);
  const dwx = GpuTensor.empty(gpu, [B, S, 4, NH, DH], x.dtype, poison);
  const dS0 = GpuTensor.empty(gpu, [4, B, NH, DH], "f32", poison);
  x.temps.push(dS0);
  const bw = await loopPipeline(gpu, p, "bw");
  batch.dispatch({
    label: loopKey(p, "bw"),
    pipeline: bw,
    buffers: [dyDev, await loopR(batch, x, p, "bw"), trace, x.s0, dwx, dS0],
    uniforms: uniforms(S, B),
    workgroups: [B * NH],
    flops: B * NH * S * forwardStepFlops(DH),
    meta: { B, S, NH, DH, P: p.P, place: p.place },
  });
  const dp: SlstmDrParams = {
    NH,
    DH,
    dtype: x.dtype,
    TM: largestDivisor(DH, 4),
    TN: 4,
  };
  const tiles = (DH / dp.TM) * ((4 * DH) / dp.TN);
  // Splits of the B·S rows: enough threads to fill the GPU (~128k), at least one row each.
  const splits = Math.max(1, Math.min(B * S, 256, Math.ceil(131072 / (tiles * NH))));
  const chunk = Math.ceil((B * S) / splits);
  const part = GpuTensor.empty(gpu, [splits, drPartSize(NH, DH)], "f32", poison);
  x.temps.push(part);
  batch.dispatch({
    label: `slstm--fused:dr:dh${DH}`,
    pipeline: await drPipeline(gpu, dp),
    buffers: [y, x.s0, dwx, part],
    uniforms: new Uint32Array([S, B, chunk, 0]),
    workgroups: [Math.ceil(tiles / 64), NH, Math.ceil((B * S) / chunk)],
    flops: 2 * B * S * NH * DH * 4 * DH,
    meta: { B, S, NH, DH, splits },
  });
  const dr = GpuTensor.empty(gpu, [NH, DH, 4, DH], "f32", poison);
  const dbias = GpuTensor.empty(gpu, [NH, 4, DH], "f32", poison);
  const reduceKey = `slstm--fused:dr_reduce:nh${NH}:dh${DH}`;
  const wgs = Math.ceil(drPartSize(NH, DH) / 256);
  batch.dispatch({
    label: reduceKey,
    pipeline: await getPipeline(gpu, reduceKey, () => drReduceWgsl(NH, DH, reduceKey)),
    buffers: [part, dr, dbias],
    uniforms: new Uint32Array([Math.ceil((B * S) / chunk), 0, 0, 0]),
    workgroups: [Math.min(wgs, 65535), Math.ceil(wgs / 65535)],
    bytes: 4 * drPartSize(NH, DH) * (splits + 1),
    meta: { NH, DH, splits },
  });
  const states = dims.hasInitialStates
    ? unpackStates(batch, x, dS0, dims, ["dyInitial", "dcInitial", "dnInitial", "dmInitial"])
    : {};
  await batch.submit();
  const grads = await finish(x, options, { dwx, dr, dbias, ...states });
  return grads as unknown as SlstmGradients;
}

/**
 * The WebGPU sLSTM as a registry kernel, `slstm--fused`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slstmFusedKernel } from "./fused.ts";
 * assert.ok(slstmFusedKernel.name === "slstm--fused" && slstmFusedKernel.backend === "webgpu");
 * ```
 */
export const slstmFusedKernel: SlstmKernel = {
  name: "slstm--fused",
  backend: "webgpu",
  forward: (inputs, options) => slstmForwardWebGpu(inputs, options),
  backward: (inputs, dy, options) => slstmBackwardWebGpu(inputs, dy, options),
};
