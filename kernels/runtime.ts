/**
 * The WebGPU runtime every kernel of the toolkit runs on: one cached device per process
 * ({@linkcode getGpu}), device tensors ({@linkcode GpuTensor}), a compiled-pipeline cache
 * ({@linkcode getPipeline}), a batch that encodes many dispatches into one command buffer
 * ({@linkcode DispatchBatch}), limit checks that fail before anything is submitted, and a hook for a
 * profiler ({@linkcode setDispatchObserver}).
 *
 * GPU errors are never silent here: pipeline creation and every submit run inside error scopes and
 * throw {@linkcode GpuError} with the driver's message; uncaught errors are recorded on the device.
 *
 * @module
 */

import { assertTensor, formatShape, sizeOf, type Tensor } from "../core/tensor.ts";
import type { DeviceTensor } from "../core/types.ts";
import { acquireBuffer, releaseBuffer } from "./buffer_pool.ts";
import { opaqueUniforms } from "./_opaque.ts";

export * from "./buffer_pool.ts";

/** How to get a WebGPU adapter on a machine without one; part of {@linkcode NoAdapterError}'s message. */
export const ADAPTER_HELP: string =
  "On Linux without a GPU install a software Vulkan driver (apt-get install -y mesa-vulkan-drivers) " +
  "and set DENO_WEBGPU_BACKEND=vulkan and XDG_RUNTIME_DIR (e.g. /tmp); with a GPU, install its Vulkan driver";

/**
 * Thrown by {@linkcode getGpu} when `navigator.gpu` is missing or yields no adapter. The message says
 * how to get one (`apt-get install -y mesa-vulkan-drivers`, `DENO_WEBGPU_BACKEND=vulkan`).
 *
 * @example
 * ```ts
 * import { NoAdapterError } from "./runtime.ts";
 * const e = new NoAdapterError("no adapter");
 * console.assert(e.name === "NoAdapterError" && e.message.includes("mesa-vulkan-drivers"));
 * ```
 */
export class NoAdapterError extends Error {
  /**
   * Creates the error.
   *
   * @param reason What went wrong; the installation hint is appended.
   */
  constructor(reason: string) {
    super(`${reason}. ${ADAPTER_HELP}`);
    this.name = "NoAdapterError";
  }
}

/**
 * A GPU validation, out-of-memory or internal error, a failed shader compilation, a lost device or
 * an exceeded limit, raised by the runtime instead of letting WebGPU drop it silently.
 *
 * @example
 * ```ts
 * import { GpuError } from "./runtime.ts";
 * const e = new GpuError("Shader failed");
 * console.assert(e instanceof Error && e.name === "GpuError");
 * ```
 */
export class GpuError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed and, where known, what to do.
   */
  constructor(message: string) {
    super(message);
    this.name = "GpuError";
  }
}

/** The device limits the kernels consult (copied from the adapter when the device is requested). */
export interface GpuLimits {
  /** Largest storage buffer binding, bytes. */
  readonly maxStorageBufferBindingSize: number;
  /** Largest buffer, bytes. */
  readonly maxBufferSize: number;
  /** Workgroup (shared) memory per workgroup, bytes. */
  readonly maxComputeWorkgroupStorageSize: number;
  /** Threads per workgroup. */
  readonly maxComputeInvocationsPerWorkgroup: number;
  /** Workgroup size in x. */
  readonly maxComputeWorkgroupSizeX: number;
  /** Workgroup size in y. */
  readonly maxComputeWorkgroupSizeY: number;
  /** Workgroup size in z. */
  readonly maxComputeWorkgroupSizeZ: number;
  /** Workgroups per dispatch dimension. */
  readonly maxComputeWorkgroupsPerDimension: number;
  /** Storage buffers one shader stage may bind. */
  readonly maxStorageBuffersPerShaderStage: number;
  /** Largest uniform buffer binding, bytes. */
  readonly maxUniformBufferBindingSize: number;
  /** Alignment of uniform buffer binding offsets, bytes. */
  readonly minUniformBufferOffsetAlignment: number;
}

const LIMIT_NAMES = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxUniformBufferBindingSize",
  "minUniformBufferOffsetAlignment",
] as const;

/** A WebGPU device with what the kernels need to know about it. Obtain it from {@linkcode getGpu}. */
export interface Gpu {
  /** The device. */
  readonly device: GPUDevice;
  /** The adapter it came from. */
  readonly adapter: GPUAdapter;
  /** Whether `shader-f16` is enabled (f16 storage kernels need it). */
  readonly hasF16: boolean;
  /** Whether `timestamp-query` is enabled (the profiler needs it). */
  readonly hasTimestamps: boolean;
  /** The device's limits (the adapter's, requested in full). */
  readonly limits: GpuLimits;
  /** The adapter's description, e.g. `"NVIDIA H200"` or `"llvmpipe (LLVM 15.0.6, 256 bits)"`. */
  readonly adapterName: string;
  /** Set when the device was lost: the reason and message. */
  readonly lost: string | undefined;
  /** GPU errors no error scope caught (recorded by `onuncapturederror`), oldest first, at most 100. */
  readonly uncapturedErrors: readonly string[];
}

/** Options of {@linkcode getGpu}. */
export interface GetGpuOptions {
  /** Adapter preference. @default {"high-performance"} */
  powerPreference?: GPUPowerPreference;
  /** Features to require beyond `shader-f16` and `timestamp-query` (which are taken when offered). */
  requiredFeatures?: GPUFeatureName[];
}

class GpuState implements Gpu {
  lost: string | undefined = undefined;
  uncapturedErrors: string[] = [];
  constructor(
    readonly device: GPUDevice,
    readonly adapter: GPUAdapter,
    readonly hasF16: boolean,
    readonly hasTimestamps: boolean,
    readonly limits: GpuLimits,
    readonly adapterName: string,
  ) {}
}

const gpuCache = new Map<string, Promise<Gpu>>();

/**
 * The process's WebGPU device, created on first call and cached per option set. Requests
 * `shader-f16` and `timestamp-query` when the adapter offers them, and the adapter's own limits
 * (binding and buffer sizes, workgroup storage, invocations; WebGPU's smaller defaults apply
 * otherwise). Installs `onuncapturederror` (errors land in `gpu.uncapturedErrors`). When the device
 * is lost, the loss is recorded, operations on it throw, and the next `getGpu()` creates a fresh one.
 *
 * @example Get the device and read a limit
 * ```ts no-eval
 * import { getGpu } from "./runtime.ts";
 * const gpu = await getGpu();
 * console.log(gpu.adapterName, gpu.limits.maxComputeWorkgroupStorageSize, gpu.hasF16);
 * ```
 *
 * @param options Adapter preference and extra features.
 * @returns The cached device.
 * @throws {NoAdapterError} If WebGPU or an adapter is unavailable (the message says how to get one).
 * @throws {GpuError} If the device cannot be created.
 */
export function getGpu(options: GetGpuOptions = {}): Promise<Gpu> {
  const key = JSON.stringify([options.powerPreference ?? "", options.requiredFeatures ?? []]);
  const cached = gpuCache.get(key);
  if (cached) return cached;
  const p = createGpu(options, key);
  gpuCache.set(key, p);
  p.catch(() => gpuCache.delete(key));
  return p;
}

async function createGpu(options: GetGpuOptions, key: string): Promise<Gpu> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) throw new NoAdapterError("WebGPU is not available (navigator.gpu is undefined)");
  const adapter = await nav.gpu.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
  });
  if (!adapter) throw new NoAdapterError("No WebGPU adapter found (requestAdapter returned null)");
  const hasF16 = adapter.features.has("shader-f16");
  const hasTimestamps = adapter.features.has("timestamp-query");
  const features = new Set<GPUFeatureName>(options.requiredFeatures ?? []);
  if (hasF16) features.add("shader-f16");
  if (hasTimestamps) features.add("timestamp-query");
  const requiredLimits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<string, number>;
  for (const name of LIMIT_NAMES) {
    if (typeof al[name] === "number") requiredLimits[name] = al[name];
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: [...features], requiredLimits });
  } catch (e) {
    throw new GpuError(
      `Could not create a WebGPU device on ${adapterNameOf(adapter)}: ${(e as Error).message}`,
    );
  }
  const dl = device.limits as unknown as Record<string, number>;
  const limits = Object.fromEntries(LIMIT_NAMES.map((n) => [n, dl[n]])) as unknown as GpuLimits;
  const gpu = new GpuState(device, adapter, hasF16, hasTimestamps, limits, adapterNameOf(adapter));
  device.addEventListener("uncapturederror", (ev) => {
    const error = (ev as GPUUncapturedErrorEvent).error;
    if (gpu.uncapturedErrors.length >= 100) gpu.uncapturedErrors.shift();
    gpu.uncapturedErrors.push(`${error.constructor.name}: ${error.message}`);
  });
  device.lost.then((info) => {
    gpu.lost = `${info.reason}: ${info.message}`;
    gpuCache.delete(key);
  });
  return gpu;
}

function adapterNameOf(adapter: GPUAdapter): string {
  const info = adapter.info;
  return info?.description || info?.device || info?.vendor || "unknown adapter";
}

/**
 * Throws if the device was lost (call {@linkcode getGpu} again for a fresh device).
 *
 * @example
 * ```ts no-eval
 * import { assertDeviceAlive, getGpu } from "./runtime.ts";
 * assertDeviceAlive(await getGpu());
 * ```
 *
 * @param gpu The device.
 * @throws {GpuError} If it was lost.
 */
export function assertDeviceAlive(gpu: Gpu): void {
  if (gpu.lost !== undefined) {
    throw new GpuError(
      `The WebGPU device (${gpu.adapterName}) was lost (${gpu.lost}); call getGpu() again for a fresh device and re-upload tensors`,
    );
  }
}

function describeGpuErrors(errors: (GPUError | null)[]): string | undefined {
  const msgs = errors.filter((e): e is GPUError => e !== null).map((e) =>
    `${e.constructor.name}: ${e.message}`
  );
  return msgs.length ? msgs.join("; ") : undefined;
}

/**
 * Runs the synchronous `fn` inside validation, out-of-memory and internal error scopes and rejects
 * on any error. Pushes and pops are issued in one synchronous run, so that concurrent async work
 * cannot interleave its own scopes with these (error scopes are a device-wide stack).
 */
function withErrorScopes<T>(gpu: Gpu, what: string, fn: () => T): Promise<T> {
  try {
    assertDeviceAlive(gpu);
  } catch (e) {
    return Promise.reject(e);
  }
  const d = gpu.device;
  d.pushErrorScope("internal");
  d.pushErrorScope("out-of-memory");
  d.pushErrorScope("validation");
  let result: T;
  let thrown: unknown = undefined;
  try {
    result = fn();
  } catch (e) {
    thrown = e;
  }
  const pops = [d.popErrorScope(), d.popErrorScope(), d.popErrorScope()];
  return Promise.all(pops).then(
    (errs) => {
      const msg = describeGpuErrors(errs);
      if (thrown !== undefined) throw asGpuError(thrown, what);
      if (msg) throw new GpuError(`${what} failed: ${msg}`);
      return result!;
    },
    (e) => {
      throw asGpuError(thrown ?? e, what);
    },
  );
}

// A device destroyed or lost a moment ago (before `device.lost` resolved) makes WebGPU calls throw
// DOMExceptions such as "Buffer with 'batch uniforms' label is invalid": report them as GpuErrors
// that say what to do.
function asGpuError(e: unknown, what: string): unknown {
  if (e instanceof GpuError || e instanceof TypeError || e instanceof RangeError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new GpuError(
    `${what} failed: ${msg} (if the device was lost or destroyed, call getGpu() again for a fresh one)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Limit checks

/**
 * Throws before anything is submitted if a storage binding of `bytes` exceeds the device's
 * `maxStorageBufferBindingSize` (or a buffer its `maxBufferSize`), naming the limit, the size and the
 * fix.
 *
 * @example
 * ```ts no-eval
 * import { checkBindingSize, getGpu } from "./runtime.ts";
 * checkBindingSize(await getGpu(), 1024, "the state C");
 * ```
 *
 * @param gpu The device.
 * @param bytes The binding's size in bytes.
 * @param what What is bound, for the message (e.g. `"q (16, 16, 8192, 128) f32"`).
 * @throws {GpuError} Naming the limit, the requested size and the fix.
 */
export function checkBindingSize(gpu: Gpu, bytes: number, what: string): void {
  const lim = gpu.limits.maxStorageBufferBindingSize;
  if (bytes > lim) {
    throw new GpuError(
      `${what} needs a storage binding of ${bytes} bytes, above this device's maxStorageBufferBindingSize of ${lim} bytes (${gpu.adapterName}): use a smaller batch, fewer heads, a shorter sequence per call or f16 storage`,
    );
  }
  const maxBuf = gpu.limits.maxBufferSize;
  if (bytes > maxBuf) {
    throw new GpuError(
      `${what} needs a buffer of ${bytes} bytes, above this device's maxBufferSize of ${maxBuf} bytes (${gpu.adapterName}): use a smaller batch, fewer heads or a shorter sequence per call`,
    );
  }
}

/**
 * Throws before a pipeline is created if a kernel variant needs more workgroup (shared) memory or
 * threads than the device allows, naming the limit, the request and the fix.
 *
 * @example
 * ```ts no-eval
 * import { checkWorkgroupLimits, getGpu } from "./runtime.ts";
 * checkWorkgroupLimits(await getGpu(), { storageBytes: 8192, invocations: 256 }, "step--fused DQK=128");
 * ```
 *
 * @param gpu The device.
 * @param need Workgroup storage in bytes and invocations per workgroup.
 * @param what The kernel variant, for the message.
 * @throws {GpuError} If a limit is exceeded.
 */
export function checkWorkgroupLimits(
  gpu: Gpu,
  need: { storageBytes: number; invocations: number },
  what: string,
): void {
  const lim = gpu.limits.maxComputeWorkgroupStorageSize;
  if (need.storageBytes > lim) {
    throw new GpuError(
      `${what} needs ${need.storageBytes} bytes of workgroup storage, above this device's maxComputeWorkgroupStorageSize of ${lim} bytes (${gpu.adapterName}): use a smaller chunk size, smaller head dimensions or f16 storage`,
    );
  }
  const inv = gpu.limits.maxComputeInvocationsPerWorkgroup;
  if (need.invocations > inv) {
    throw new GpuError(
      `${what} needs ${need.invocations} invocations per workgroup, above this device's maxComputeInvocationsPerWorkgroup of ${inv} (${gpu.adapterName}): use smaller tiles`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Tensors

/** Storage type of a device tensor: f32, or f16 (needs `shader-f16`). */
export type StorageDtype = "f32" | "f16";

/**
 * Bytes per element of a storage dtype.
 *
 * @example
 * ```ts
 * import { bytesPerElement } from "./runtime.ts";
 * console.assert(bytesPerElement("f16") === 2);
 * ```
 *
 * @param dtype The storage type.
 * @returns 2 or 4.
 */
export function bytesPerElement(dtype: "f32" | "f16"): number {
  return dtype === "f16" ? 2 : 4;
}

function paddedBytes(n: number, dtype: "f32" | "f16"): number {
  return Math.max(4, Math.ceil((n * bytesPerElement(dtype)) / 4) * 4);
}

const F16Array = (globalThis as unknown as { Float16Array?: Float32ArrayConstructor }).Float16Array;

/** Options of {@linkcode GpuTensor.empty}. */
export interface EmptyOptions {
  /** Fill with NaN so that elements a kernel fails to write show up. @default {false} (zeros) */
  poison?: boolean;
}

/**
 * A tensor in a GPU storage buffer, f32 or f16, row-major and contiguous. Kernels given GpuTensors
 * return GpuTensors, so chains of kernels stay on the device; {@linkcode GpuTensor.read} brings one
 * back (one `mapAsync`, ~11 ms in Deno). Buffers are padded to a multiple of 4 bytes.
 *
 * @example Round trip
 * ```ts no-eval
 * import { getGpu, GpuTensor } from "./runtime.ts";
 * const gpu = await getGpu();
 * const t = GpuTensor.fromTensor(gpu, { shape: [2], data: new Float64Array([1, 2]) }, "f16");
 * console.assert((await t.read()).data[1] === 2);
 * t.destroy();
 * ```
 */
export class GpuTensor implements DeviceTensor {
  /** Extent of each dimension, outermost first. */
  readonly shape: readonly number[];
  /** Storage type. */
  readonly dtype: "f32" | "f16";
  /** The storage buffer (usage STORAGE | COPY_SRC | COPY_DST). */
  readonly buffer: GPUBuffer;
  /** The buffer's size in bytes (elements × bytes per element, padded to 4). */
  readonly byteSize: number;
  /** The device it lives on. */
  readonly gpu: Gpu;
  #destroyed = false;

  /**
   * Wraps an existing buffer (prefer {@linkcode GpuTensor.fromTensor} and {@linkcode GpuTensor.empty}).
   *
   * @param gpu The device.
   * @param shape The shape.
   * @param dtype The storage type.
   * @param buffer A buffer of at least the padded size, with STORAGE | COPY_SRC usage.
   * @throws {TypeError} For a shape that is not a list of non-negative integers or a dtype other
   *   than "f32" and "f16".
   * @throws {RangeError} If the buffer is smaller than the shape needs (kernels would read past it).
   */
  constructor(gpu: Gpu, shape: readonly number[], dtype: "f32" | "f16", buffer: GPUBuffer) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new TypeError(
        `GpuTensor shape must be a list of non-negative integers, received ${
          JSON.stringify(shape)
        }`,
      );
    }
    if (dtype !== "f32" && dtype !== "f16") {
      throw new TypeError(
        `GpuTensor dtype must be "f32" or "f16", received ${JSON.stringify(dtype)}`,
      );
    }
    const byteSize = paddedBytes(sizeOf(shape), dtype);
    if (buffer.size < byteSize) {
      throw new RangeError(
        `GpuTensor of shape ${
          formatShape(shape)
        } ${dtype} needs a buffer of ${byteSize} bytes, received one of ${buffer.size} bytes`,
      );
    }
    this.gpu = gpu;
    this.shape = [...shape];
    this.dtype = dtype;
    this.buffer = buffer;
    this.byteSize = byteSize;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /**
   * Uploads a CPU tensor (float64 or float32 data, rounded to the storage type).
   *
   * @example
   * ```ts no-eval
   * import { getGpu, GpuTensor } from "./runtime.ts";
   * const t = GpuTensor.fromTensor(await getGpu(), { shape: [3], data: new Float32Array([1, 2, 3]) });
   * ```
   *
   * @param gpu The device.
   * @param t The tensor.
   * @param dtype Storage type. @default {"f32"}
   * @returns The device tensor.
   * @throws {TypeError | RangeError} If `t` is not a tensor or its data length differs from its
   *   shape's size (naming both).
   * @throws {GpuError} If the size exceeds a device limit, f16 is unsupported, or the device is lost.
   */
  static fromTensor(gpu: Gpu, t: Tensor, dtype: "f32" | "f16" = "f32"): GpuTensor {
    // Any typed array of numbers uploads (Float16Array too); its length must match the shape.
    if (!Array.isArray(t?.shape) || !ArrayBuffer.isView(t.data)) assertTensor(t, "t");
    const n = sizeOf(t.shape);
    if (t.data.length !== n) {
      throw new RangeError(
        `Argument t has shape ${
          formatShape(t.shape)
        } (${n} elements) but its data holds ${t.data.length} elements`,
      );
    }
    // Every byte is written, so a pooled buffer needs no clearing.
    const out = GpuTensor.#alloc(gpu, t.shape, dtype, "upload", false);
    gpu.device.queue.writeBuffer(out.buffer, 0, encodeData(t.data, dtype, out.byteSize));
    return out;
  }

  /**
   * Allocates a tensor, zero-filled or, with `poison`, NaN-filled.
   *
   * @example
   * ```ts no-eval
   * import { getGpu, GpuTensor } from "./runtime.ts";
   * const h = GpuTensor.empty(await getGpu(), [1, 2, 3], "f32", { poison: true });
   * ```
   *
   * @param gpu The device.
   * @param shape The shape.
   * @param dtype Storage type. @default {"f32"}
   * @param options `poison`: fill with NaN.
   * @returns The device tensor.
   * @throws {GpuError} If the size exceeds a device limit, f16 is unsupported, or the device is lost.
   */
  static empty(
    gpu: Gpu,
    shape: readonly number[],
    dtype: "f32" | "f16" = "f32",
    options: EmptyOptions = {},
  ): GpuTensor {
    const poison = options.poison === true && sizeOf(shape) > 0;
    const out = GpuTensor.#alloc(gpu, shape, dtype, "allocation", !poison);
    if (poison) {
      const nan = dtype === "f16"
        ? new Uint16Array(out.byteSize / 2).fill(0x7e00)
        : new Float32Array(out.byteSize / 4).fill(NaN);
      gpu.device.queue.writeBuffer(out.buffer, 0, nan);
    }
    return out;
  }

  static #alloc(
    gpu: Gpu,
    shape: readonly number[],
    dtype: "f32" | "f16",
    what: string,
    zero: boolean,
  ): GpuTensor {
    assertDeviceAlive(gpu);
    if (dtype !== "f32" && dtype !== "f16") {
      throw new TypeError(
        `Storage dtype must be "f32" or "f16", received ${JSON.stringify(dtype)}`,
      );
    }
    if (dtype === "f16" && !gpu.hasF16) {
      throw new GpuError(
        `f16 storage needs the shader-f16 feature, which ${gpu.adapterName} does not offer: use dtype "f32"`,
      );
    }
    const bytes = paddedBytes(sizeOf(shape), dtype);
    checkBindingSize(gpu, bytes, `GPU ${what} of shape ${formatShape(shape)} ${dtype}`);
    const { buffer, reused } = acquireBuffer(
      gpu.device,
      bytes,
      GpuTensor.USAGE,
      `tensor ${formatShape(shape)} ${dtype}`,
    );
    if (reused && zero) {
      // A pooled buffer holds its last user's data; fresh WebGPU buffers are zeros, so clear it
      // on the GPU (ordered before any later submit).
      const enc = gpu.device.createCommandEncoder({ label: "clear pooled buffer" });
      enc.clearBuffer(buffer);
      gpu.device.queue.submit([enc.finish()]);
    }
    return new GpuTensor(gpu, shape, dtype, buffer);
  }

  /**
   * Copies the elements back to the CPU as float32 (f16 is widened exactly). One `mapAsync`.
   *
   * @example
   * ```ts no-eval
   * import { getGpu, GpuTensor } from "./runtime.ts";
   * const t = GpuTensor.fromTensor(await getGpu(), { shape: [1], data: new Float32Array([5]) });
   * console.assert((await t.read()).data[0] === 5);
   * ```
   *
   * @returns A CPU tensor with Float32Array data.
   * @throws {GpuError} If the tensor was destroyed, the device was lost or the copy failed.
   */
  async read(): Promise<Tensor> {
    if (this.#destroyed) throw new GpuError("Cannot read a destroyed GpuTensor");
    const [t] = await readTensors([this]);
    return t!;
  }

  /** Usage flags of the buffers tensors allocate: STORAGE | COPY_SRC | COPY_DST. */
  static get USAGE(): number {
    // A getter: GPUBufferUsage must not be touched at import time (runtimes without WebGPU).
    return GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  }

  /**
   * Frees the buffer: it goes back to the device's buffer pool (see {@linkcode releaseBufferPool}),
   * where the next tensor of the same byte size takes it again. The tensor cannot be used
   * afterwards; work already submitted with it is unaffected.
   *
   * @example
   * ```ts no-eval
   * import { getGpu, GpuTensor } from "./runtime.ts";
   * GpuTensor.empty(await getGpu(), [4]).destroy();
   * ```
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.gpu.lost) this.buffer.destroy();
    else releaseBuffer(this.gpu.device, this.buffer);
  }

  /** Whether {@linkcode GpuTensor.destroy} was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }
}

function encodeData(data: ArrayLike<number>, dtype: "f32" | "f16", bytes: number): ArrayBuffer {
  if (dtype === "f16") {
    if (!F16Array) throw new GpuError("Float16Array is not available in this runtime");
    const out = new F16Array(bytes / 2);
    for (let j = 0; j < data.length; j++) out[j] = data[j]!;
    return out.buffer as ArrayBuffer;
  }
  const out = new Float32Array(bytes / 4);
  for (let j = 0; j < data.length; j++) out[j] = data[j]!;
  return out.buffer;
}

/**
 * Reads several device tensors back with one submit and one wait (one `mapAsync` per tensor, all
 * awaited together): cheaper than reading them one by one.
 *
 * @example
 * ```ts no-eval
 * import { getGpu, GpuTensor, readTensors } from "./runtime.ts";
 * const gpu = await getGpu();
 * const a = GpuTensor.empty(gpu, [2]), b = GpuTensor.empty(gpu, [3]);
 * const [ta, tb] = await readTensors([a, b]);
 * ```
 *
 * @param tensors Tensors on one device.
 * @returns CPU tensors with Float32Array data, in order.
 * @throws {GpuError} If a tensor was destroyed, the device was lost or the copy failed.
 */
export async function readTensors(tensors: readonly GpuTensor[]): Promise<Tensor[]> {
  if (tensors.length === 0) return [];
  const gpu = tensors[0]!.gpu;
  for (const t of tensors) {
    if (t.destroyed) throw new GpuError("Cannot read a destroyed GpuTensor");
    if (t.gpu !== gpu) throw new GpuError("readTensors() needs tensors of one device");
  }
  const staging = tensors.map((t) =>
    acquireBuffer(
      gpu.device,
      t.byteSize,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      "readback",
    ).buffer
  );
  await withErrorScopes(gpu, "Reading tensors back", () => {
    const enc = gpu.device.createCommandEncoder({ label: "readback" });
    tensors.forEach((t, j) => enc.copyBufferToBuffer(t.buffer, 0, staging[j]!, 0, t.byteSize));
    gpu.device.queue.submit([enc.finish()]);
  });
  try {
    await Promise.all(staging.map((s) => s.mapAsync(GPUMapMode.READ)));
  } catch (e) {
    staging.forEach((s) => s.destroy());
    assertDeviceAlive(gpu);
    throw new GpuError(`Reading a tensor back failed: ${(e as Error).message}`);
  }
  return tensors.map((t, j) => {
    const s = staging[j]!;
    const n = t.size;
    const raw = s.getMappedRange();
    let data: Float32Array;
    if (t.dtype === "f16") {
      if (!F16Array) throw new GpuError("Float16Array is not available in this runtime");
      data = Float32Array.from(new F16Array(raw, 0, n));
    } else {
      data = new Float32Array(raw, 0, n).slice();
    }
    s.unmap();
    releaseBuffer(gpu.device, s);
    return { shape: [...t.shape], data };
  });
}

let poisonOutputs = false;

/**
 * Makes every kernel fill its output buffers with NaN before it runs (tests use it so that elements
 * a kernel fails to write show up as NaN). Off by default: it costs an upload per output.
 *
 * @example
 * ```ts
 * import { poisonOutputsEnabled, setPoisonOutputs } from "./runtime.ts";
 * setPoisonOutputs(true);
 * console.assert(poisonOutputsEnabled());
 * setPoisonOutputs(false);
 * ```
 *
 * @param on Whether to poison.
 */
export function setPoisonOutputs(on: boolean): void {
  poisonOutputs = on;
}

/**
 * Whether kernels poison their outputs (see {@linkcode setPoisonOutputs}).
 *
 * @example
 * ```ts
 * import { poisonOutputsEnabled } from "./runtime.ts";
 * console.assert(typeof poisonOutputsEnabled() === "boolean");
 * ```
 *
 * @returns The flag.
 */
export function poisonOutputsEnabled(): boolean {
  return poisonOutputs;
}

let opaqueLoopBounds: boolean | "auto" = "auto";

/**
 * Whether a device's driver specializes shaders on uniform values: Mesa's lavapipe (llvmpipe).
 *
 * @param gpu The device.
 * @returns True for lavapipe.
 */
function specializesUniforms(gpu: Gpu): boolean {
  return /llvmpipe/i.test(gpu.adapterName);
}

/**
 * Whether getPipeline passes every uniform a kernel reads through an opaque select
 * (`opaqueUniforms` in kernels/_opaque.ts): a select on the workgroup id that leaves the value
 * unchanged but hides it from drivers that specialize shaders on uniform values. Mesa's lavapipe
 * (22.x, the CI's adapter) finds the uniforms that decide branches and loop exits ("inline
 * uniforms") and, at a dispatch, recompiles the shader with their values folded in (unrolling the
 * loops), so that the first several calls of a kernel each paid a compile (~1-2 s at head
 * dimension 16, seconds more at the xLSTM 7B head). Elsewhere the select costs speed: on an H200
 * (bench/speed_ab.ts, TFLA shape, f32, chunk 64) the forward ran 1.04× and forward+backward 1.01×
 * slower with it. `"auto"` (the default): on for lavapipe, off elsewhere; true / false force it.
 * The choice is part of every pipeline's cache key, so that the two codes never share a pipeline.
 *
 * @example
 * ```ts
 * import { getGpu, opaqueLoopBoundsEnabled, setOpaqueLoopBounds } from "./runtime.ts";
 * setOpaqueLoopBounds(false);
 * console.assert(!opaqueLoopBoundsEnabled(await getGpu()));
 * setOpaqueLoopBounds("auto");
 * ```
 *
 * @param on true, false, or "auto" (by the adapter).
 */
export function setOpaqueLoopBounds(on: boolean | "auto"): void {
  opaqueLoopBounds = on;
}

/**
 * Whether a device's pipelines read uniforms through the opaque select (see
 * {@linkcode setOpaqueLoopBounds}; in `"auto"` mode: the device is lavapipe).
 *
 * @example
 * ```ts
 * import { getGpu, opaqueLoopBoundsEnabled } from "./runtime.ts";
 * const gpu = await getGpu();
 * console.log(gpu.adapterName, opaqueLoopBoundsEnabled(gpu));
 * ```
 *
 * @param gpu The device.
 * @returns The flag.
 */
export function opaqueLoopBoundsEnabled(gpu: Gpu): boolean {
  return opaqueLoopBounds === "auto" ? specializesUniforms(gpu) : opaqueLoopBounds;
}

// ---------------------------------------------------------------------------------------------
// Pipelines

const pipelineCache = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();
/** Per device: pipeline key → milliseconds from WGSL generation to the pipeline's creation. */
const creationTimes = new WeakMap<GPUDevice, Map<string, number>>();

/**
 * How long each pipeline of a device took to create (generate the WGSL, compile it, create the
 * pipeline), in milliseconds, by pipeline key, in creation order. Cache hits add nothing. Pipelines
 * created concurrently overlap, so a time is an upper bound on that pipeline's own cost.
 *
 * @example
 * ```ts no-eval
 * import { getGpu, pipelineCreationTimes } from "./runtime.ts";
 * const gpu = await getGpu();
 * for (const [key, ms] of pipelineCreationTimes(gpu)) console.log(key, ms.toFixed(0), "ms");
 * ```
 *
 * @param gpu The device.
 * @returns Key → milliseconds (a copy).
 */
export function pipelineCreationTimes(gpu: Gpu): Map<string, number> {
  return new Map(creationTimes.get(gpu.device) ?? []);
}
/** Bind group layouts of pipelines created with an explicit {@linkcode BindingLayout}. */
const explicitLayouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();

/**
 * An explicit layout for {@linkcode getPipeline}: storage bindings 0..n-1 of group 0 and, with
 * `uniform`, a uniform buffer at binding n bound with a dynamic offset. {@linkcode DispatchBatch}
 * then reuses one bind group for all dispatches with the same buffers (only the uniform offset
 * changes), which saves creating a bind group per dispatch (tens of µs of CPU each in Deno): use it
 * for kernels dispatched many times per batch.
 */
export interface BindingLayout {
  /** Access of the storage bindings 0..n-1, in order, as declared in the WGSL. */
  readonly storage: readonly ("read" | "read_write")[];
  /** A uniform buffer at binding n, with a dynamic offset. @default {false} */
  readonly uniform?: boolean;
}

/**
 * A compute pipeline compiled once per device and key: `wgsl()` runs only on a cache miss. Checks
 * `getCompilationInfo()` and error scopes and throws with the WGSL messages (and line numbers) on
 * failure. Without `layout` the pipeline uses `layout: "auto"`, so every declared binding must be
 * used by the shader; with `layout` (see {@linkcode BindingLayout}) it gets that explicit layout.
 *
 * @example
 * ```ts no-eval
 * import { getGpu, getPipeline } from "./runtime.ts";
 * const gpu = await getGpu();
 * const p = await getPipeline(gpu, "fill:v1", () => `
 *   @group(0) @binding(0) var<storage, read_write> out: array<f32>;
 *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
 *     if (g.x < arrayLength(&out)) { out[g.x] = 1.0; }
 *   }`);
 * ```
 *
 * @param gpu The device.
 * @param key Unique for the WGSL text (kernel family, variant parameters, dtypes, tile sizes).
 * @param wgsl Generates the WGSL source.
 * @param entryPoint The compute entry point. @default {"main"}
 * @param layout Explicit binding layout (uniform with a dynamic offset); `"auto"` without it.
 * @returns The pipeline.
 * @throws {GpuError} With the compiler's messages if the WGSL does not compile or validate.
 */
export function getPipeline(
  gpu: Gpu,
  key: string,
  wgsl: () => string,
  entryPoint = "main",
  layout?: BindingLayout,
): Promise<GPUComputePipeline> {
  try {
    assertDeviceAlive(gpu);
  } catch (e) {
    return Promise.reject(e);
  }
  let cache = pipelineCache.get(gpu.device);
  if (!cache) {
    cache = new Map();
    pipelineCache.set(gpu.device, cache);
  }
  const opaque = opaqueLoopBoundsEnabled(gpu);
  const tf = shaderTransform && (shaderTransform.selects?.(key) ?? true) ? shaderTransform : null;
  const k = `${key}#${entryPoint}${layout ? `#${JSON.stringify(layout)}` : ""}${
    opaque ? "#opaque-uniforms" : ""
  }${tf ? `#transform:${tf.id}` : ""}`;
  const hit = cache.get(k);
  if (hit) return hit;
  const t0 = performance.now();
  const source = tf ? tf.rewrite(wgsl(), key) : wgsl();
  const code = opaque ? opaqueUniforms(source) : source;
  const p = compile(gpu, key, code, entryPoint, layout);
  p.then(() => {
    let times = creationTimes.get(gpu.device);
    if (!times) creationTimes.set(gpu.device, times = new Map());
    times.set(k, performance.now() - t0);
  }, () => {});
  cache.set(k, p);
  p.catch(() => cache.delete(k));
  return p;
}

async function compile(
  gpu: Gpu,
  key: string,
  code: string,
  entryPoint: string,
  layout: BindingLayout | undefined,
): Promise<GPUComputePipeline> {
  const d = gpu.device;
  const module = await withErrorScopes(
    gpu,
    `Compiling WGSL of pipeline ${key}`,
    () => d.createShaderModule({ label: key, code }),
  );
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length) {
    const msgs = errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`).join("\n");
    throw new GpuError(`WGSL of pipeline ${key} does not compile:\n${msgs}`);
  }
  let bgl: GPUBindGroupLayout | undefined;
  const pending = await withErrorScopes(gpu, `Creating pipeline ${key}`, () => {
    let pipelineLayout: GPUPipelineLayout | "auto" = "auto";
    if (layout) {
      const entries: GPUBindGroupLayoutEntry[] = layout.storage.map((access, j) => ({
        binding: j,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: access === "read" ? "read-only-storage" : "storage" },
      }));
      if (layout.uniform) {
        entries.push({
          binding: layout.storage.length,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "uniform", hasDynamicOffset: true },
        });
      }
      bgl = d.createBindGroupLayout({ label: key, entries });
      pipelineLayout = d.createPipelineLayout({ label: key, bindGroupLayouts: [bgl] });
    }
    const p = d.createComputePipelineAsync({
      label: key,
      layout: pipelineLayout,
      compute: { module, entryPoint },
    });
    p.catch(() => {}); // Awaited below; this only keeps an early scope error from leaving it unhandled.
    // Wrapped so that the scopes are popped before the pipeline promise settles.
    return { p };
  });
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await pending.p;
  } catch (e) {
    throw new GpuError(`Creating pipeline ${key} failed: ${(e as Error).message}`);
  }
  if (bgl) explicitLayouts.set(pipeline, bgl);
  return pipeline;
}

// ---------------------------------------------------------------------------------------------
// Dispatch batches and the profiler hook

/** What an observer learns about a dispatch. */
export interface DispatchInfo {
  /** The dispatch's label (kernel name and variant). */
  readonly label: string;
  /** Workgroups in x, y, z. */
  readonly workgroups: readonly [number, number, number];
  /** Floating-point operations, when the kernel reports them. */
  readonly flops?: number;
  /** Bytes of minimum memory traffic, when the kernel reports them. */
  readonly bytes?: number;
  /** Index of the dispatch within its batch. */
  readonly index: number;
  /** Shape constants and other metadata, when the kernel reports them (for the profiler). */
  readonly meta?: Readonly<Record<string, number | string | boolean>>;
}

/**
 * A profiler hook (see {@linkcode setDispatchObserver}). While one is set, each dispatch gets its
 * own compute pass with the `timestampWrites` the observer returns.
 */
export interface DispatchObserver {
  /** A batch starts encoding on `gpu`. */
  beginBatch?(gpu: Gpu): void;
  /**
   * `false`: keep dispatches in shared passes as without an observer, and call
   * {@linkcode DispatchObserver.timestampWrites} once per pass (with the pass's first dispatch),
   * so that timing does not add passes. Default: one pass per dispatch.
   */
  readonly passPerDispatch?: boolean;
  /** Called per dispatch while encoding; returns the pass's `timestampWrites`, or undefined. */
  timestampWrites(info: DispatchInfo): GPUComputePassTimestampWrites | undefined;
  /** Called after the last pass, before `finish()`: resolve query sets into `encoder` here. */
  beforeFinish(encoder: GPUCommandEncoder): void;
  /** Called after the command buffer was submitted (and its errors checked). */
  afterSubmit(): void | Promise<void>;
}

let observer: DispatchObserver | null = null;

/** A rewrite of every shader's WGSL before it compiles (see {@linkcode setShaderTransform}). */
export interface ShaderTransform {
  /** Names the rewrite in the pipeline cache's keys, so that rewritten pipelines are kept apart. */
  id: string;
  /** Returns the WGSL to compile, given the generated WGSL and the pipeline's key. */
  rewrite(wgsl: string, key: string): string;
  /**
   * Which pipelines (by key) the rewrite applies to; the others keep their cached, unmodified
   * pipelines. @default {every pipeline}
   */
  selects?(key: string): boolean;
}

let shaderTransform: ShaderTransform | null = null;

/**
 * Sets (or, with null, clears) a module-wide rewrite of the WGSL of every pipeline created
 * afterwards: a profiling hook for ablation studies (bench/phase_ablation.ts removes one phase of
 * a kernel at a time to time what it costs). Results computed while a rewrite is set are whatever
 * the rewritten kernels compute, wrong by design for an ablation; pipelines built with a rewrite
 * are cached under its id, apart from the unmodified ones.
 *
 * @example
 * ```ts
 * import { setShaderTransform } from "./runtime.ts";
 * setShaderTransform({ id: "same", rewrite: (wgsl) => wgsl });
 * setShaderTransform(null);
 * ```
 *
 * @param t The rewrite, or null for none.
 */
export function setShaderTransform(t: ShaderTransform | null): void {
  shaderTransform = t;
}

/**
 * Sets (or, with null, clears) the module-wide dispatch observer used by the profiler. Without an
 * observer, all dispatches of a batch share one compute pass and nothing extra is done.
 *
 * @example
 * ```ts
 * import { getDispatchObserver, setDispatchObserver } from "./runtime.ts";
 * setDispatchObserver(null);
 * console.assert(getDispatchObserver() === null);
 * ```
 *
 * @param obs The observer, or null.
 */
export function setDispatchObserver(obs: DispatchObserver | null): void {
  observer = obs;
}

/**
 * The current dispatch observer, or null.
 *
 * @example
 * ```ts
 * import { getDispatchObserver } from "./runtime.ts";
 * console.assert(getDispatchObserver() === null);
 * ```
 *
 * @returns The observer set by {@linkcode setDispatchObserver}.
 */
export function getDispatchObserver(): DispatchObserver | null {
  return observer;
}

// Process-wide ids of pipelines and buffers, and each dispatch spec's bind-group key built from
// them (a spec's pipeline and buffers never change), so that replayed specs cost no key building.
const globalIds = new WeakMap<object, number>();
let nextGlobalId = 0;
const globalIdOf = (o: object): number => {
  let v = globalIds.get(o);
  if (v === undefined) globalIds.set(o, v = nextGlobalId++);
  return v;
};
const specKeys = new WeakMap<object, string>();

// Bind groups of specs without per-batch uniforms, kept across command buffers (a decoding step is
// recorded once and replayed in every command buffer: making its ~300 bind groups again each time
// was most of its encoding cost). Checked against the spec's buffers on every use.
const keptBindGroups = new WeakMap<DispatchSpec, { bg: GPUBindGroup; buffers: GPUBuffer[] }>();
let keepBindGroups = true;
const zeroOffset = [0];

/**
 * Turns keeping bind groups across command buffers on (the default) or off (each command buffer
 * makes its own, the earlier behaviour; the decoding benchmark compares both). With it on, a
 * dispatch spec recorded again (a replayed decoding step) also skips its validation, checked once.
 *
 * @example
 * ```ts
 * import { setBindGroupCache } from "./runtime.ts";
 * setBindGroupCache(true);
 * ```
 *
 * @param on Keep bind groups of specs without per-batch uniforms.
 */
export function setBindGroupCache(on: boolean): void {
  keepBindGroups = on;
}

/** A buffer or anything that holds one (a {@linkcode GpuTensor}). */
export type BufferLike = GPUBuffer | { readonly buffer: GPUBuffer };

/** One dispatch of a {@linkcode DispatchBatch}. */
export interface DispatchSpec {
  /** Label for debugging and the profiler. */
  label: string;
  /** The pipeline (from {@linkcode getPipeline}). */
  pipeline: GPUComputePipeline;
  /** Storage buffers bound at group 0, bindings 0..n-1, whole-buffer. */
  buffers: readonly BufferLike[];
  /** Uniform data bound at binding n (after the storage buffers). */
  uniforms?: ArrayBuffer | ArrayBufferView;
  /**
   * Uniforms already on the GPU (a buffer of the pipeline's uniform struct, written once), bound
   * at binding n instead of `uniforms`: the bind group then stays valid across command buffers
   * (a replayed decoding step makes none).
   */
  uniformBuffer?: GPUBuffer;
  /** Workgroups in x, y, z (y and z default to 1). */
  workgroups: readonly [number, number?, number?];
  /** Floating-point operations (for the profiler). */
  flops?: number;
  /** Bytes of minimum memory traffic (for the profiler). */
  bytes?: number;
  /** Shape constants and other metadata (for the profiler). */
  meta?: Readonly<Record<string, number | string | boolean>>;
}

interface DispatchOp {
  kind: "dispatch";
  spec: DispatchSpec;
  wg: [number, number, number];
  buffers: GPUBuffer[];
  /** The spec's workgroups array when validated (a changed one is validated again). */
  wgRef: DispatchSpec["workgroups"];
}
type Op =
  | DispatchOp
  | {
    kind: "copy";
    src: GPUBuffer;
    srcOffset: number;
    dst: GPUBuffer;
    dstOffset: number;
    size: number;
  };

// Dispatches validated once per spec (see DispatchBatch.dispatch).
const validatedOps = new WeakMap<
  DispatchSpec,
  { gpu: Gpu; op: DispatchOp; pipeline: GPUComputePipeline }
>();
const isDestroyedTensor = (b: BufferLike): boolean => b instanceof GpuTensor && b.destroyed;

const bufOf = (b: BufferLike, what: string): GPUBuffer => {
  // A destroyed tensor's buffer may already serve another tensor (buffer pool): refuse it here
  // rather than let two tensors share memory.
  if (b instanceof GpuTensor && b.destroyed) {
    throw new GpuError(`${what} is a destroyed GpuTensor (shape ${formatShape(b.shape)})`);
  }
  return ("buffer" in b ? b.buffer : b) as GPUBuffer;
};

/**
 * Encodes many dispatches (and buffer copies) into one command buffer and submits it once, inside
 * error scopes, so that a whole sequence of kernels costs one submit and no GPU wait. Uniform data
 * of all dispatches is packed into one buffer. Limits (binding sizes, workgroup counts) are
 * checked at {@linkcode DispatchBatch.dispatch}, before anything is submitted.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, getPipeline, GpuTensor } from "./runtime.ts";
 * const gpu = await getGpu();
 * const out = GpuTensor.empty(gpu, [256]);
 * const pipeline = await getPipeline(gpu, "ones", () => `
 *   @group(0) @binding(0) var<storage, read_write> out: array<f32>;
 *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { out[g.x] = 1.0; }`);
 * const batch = new DispatchBatch(gpu);
 * batch.dispatch({ label: "ones", pipeline, buffers: [out], workgroups: [4] });
 * await batch.submit();
 * ```
 */
export class DispatchBatch {
  /** The device. */
  readonly gpu: Gpu;
  #ops: Op[] = [];
  #submitted = false;

  /**
   * Starts an empty batch.
   *
   * @param gpu The device.
   */
  constructor(gpu: Gpu) {
    assertDeviceAlive(gpu);
    this.gpu = gpu;
  }

  /** Number of dispatches recorded so far. */
  get dispatchCount(): number {
    return this.#ops.filter((o) => o.kind === "dispatch").length;
  }

  /**
   * Records a dispatch.
   *
   * @example
   * ```ts no-eval
   * import { DispatchBatch, getGpu, getPipeline, GpuTensor } from "./runtime.ts";
   * const gpu = await getGpu();
   * const a = GpuTensor.empty(gpu, [64]);
   * const pipeline = await getPipeline(gpu, "doc-fill", () => `
   *   @group(0) @binding(0) var<storage, read_write> a: array<f32>;
   *   struct U { x: f32 }
   *   @group(0) @binding(1) var<uniform> u: U;
   *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { a[g.x] = u.x; }`);
   * const batch = new DispatchBatch(gpu);
   * batch.dispatch({ label: "fill", pipeline, buffers: [a], uniforms: new Float32Array([3]), workgroups: [1] });
   * await batch.submit();
   * ```
   *
   * @param spec Pipeline, buffers, uniforms, workgroups.
   * @returns This batch.
   * @throws {GpuError} If a binding or the workgroup count exceeds a device limit, or the batch was submitted.
   */
  dispatch(spec: DispatchSpec): this {
    this.#open();
    // A spec seen before (a replayed decoding step) was validated then: only a destroyed tensor
    // can have made it invalid since.
    const seen = validatedOps.get(spec);
    if (
      keepBindGroups && seen && seen.gpu === this.gpu && seen.op.wgRef === spec.workgroups &&
      seen.op.spec.buffers === spec.buffers && seen.pipeline === spec.pipeline &&
      !spec.buffers.some(isDestroyedTensor)
    ) {
      this.#ops.push(seen.op);
      return this;
    }
    const lim = this.gpu.limits;
    const wg: [number, number, number] = [
      spec.workgroups[0],
      spec.workgroups[1] ?? 1,
      spec.workgroups[2] ?? 1,
    ];
    for (const w of wg) {
      if (!Number.isInteger(w) || w < 1 || w > lim.maxComputeWorkgroupsPerDimension) {
        throw new GpuError(
          `Dispatch ${spec.label} asks for workgroups ${
            formatShape(wg)
          }; each must be an integer in 1..${lim.maxComputeWorkgroupsPerDimension} (maxComputeWorkgroupsPerDimension): use a smaller batch or fewer heads per call`,
        );
      }
    }
    const buffers = spec.buffers.map((b, j) => bufOf(b, `Dispatch ${spec.label} binding ${j}`));
    buffers.forEach((b, j) => checkBindingSize(this.gpu, b.size, `${spec.label} binding ${j}`));
    if (spec.uniforms && spec.uniforms.byteLength > lim.maxUniformBufferBindingSize) {
      throw new GpuError(`Uniforms of ${spec.label} exceed maxUniformBufferBindingSize`);
    }
    const op: DispatchOp = { kind: "dispatch", spec, wg, buffers, wgRef: spec.workgroups };
    validatedOps.set(spec, { gpu: this.gpu, op, pipeline: spec.pipeline });
    this.#ops.push(op);
    return this;
  }

  /**
   * Records a buffer-to-buffer copy (sizes and offsets multiples of 4).
   *
   * @example
   * ```ts no-eval
   * import { DispatchBatch, getGpu, GpuTensor } from "./runtime.ts";
   * const gpu = await getGpu();
   * const a = GpuTensor.empty(gpu, [8]), b = GpuTensor.empty(gpu, [8]);
   * await new DispatchBatch(gpu).copy(a, 0, b, 0, a.byteSize).submit();
   * ```
   *
   * @param src Source.
   * @param srcOffset Byte offset in the source.
   * @param dst Destination.
   * @param dstOffset Byte offset in the destination.
   * @param size Bytes to copy.
   * @returns This batch.
   */
  copy(src: BufferLike, srcOffset: number, dst: BufferLike, dstOffset: number, size: number): this {
    this.#open();
    this.#ops.push({
      kind: "copy",
      src: bufOf(src, "Copy source"),
      srcOffset,
      dst: bufOf(dst, "Copy destination"),
      dstOffset,
      size,
    });
    return this;
  }

  #open(): void {
    if (this.#submitted) throw new GpuError("This DispatchBatch was already submitted");
  }

  /**
   * Encodes everything into one command buffer and submits it. Resolves once the submit was
   * validated (not when the GPU finishes, unless `wait` is set; reading a result waits anyway).
   *
   * @example
   * ```ts no-eval
   * import { DispatchBatch, getGpu } from "./runtime.ts";
   * await new DispatchBatch(await getGpu()).submit({ wait: true });
   * ```
   *
   * @param options `wait`: also await `onSubmittedWorkDone()` (~11 ms floor in Deno).
   * @throws {GpuError} On any validation or out-of-memory error, or if the device was lost.
   */
  async submit(options: { wait?: boolean } = {}): Promise<void> {
    this.#open();
    this.#submitted = true;
    const gpu = this.gpu;
    const d = gpu.device;
    const obs = observer;
    let ubuf: GPUBuffer | undefined;
    const submitted = withErrorScopes(gpu, `Submitting ${this.#labels()}`, () => {
      const encoded = this.#encode(obs);
      ubuf = encoded.uniforms;
      d.queue.submit([encoded.commandBuffer]);
    });
    try {
      await submitted;
    } finally {
      ubuf?.destroy();
    }
    if (obs) await obs.afterSubmit();
    if (options.wait) await d.queue.onSubmittedWorkDone();
    assertDeviceAlive(gpu);
  }

  /**
   * Encodes everything into one command buffer now and returns a function that submits it later
   * (in about 0.2 ms): a caller can encode the next block of work while the GPU still runs the
   * previous one, and submit it the moment the GPU is free. Deno's `mapAsync` blocks the calling
   * thread until all submitted work is done, so the generation loop encodes its next block before
   * it maps a read-back buffer and submits right after.
   *
   * @example
   * ```ts no-eval
   * import { DispatchBatch, getGpu } from "./runtime.ts";
   * const submit = await new DispatchBatch(await getGpu()).prepare();
   * await submit();
   * ```
   *
   * @returns Submits the command buffer (once); resolves when the submit was validated.
   * @throws {GpuError} On any validation or out-of-memory error while encoding, or a lost device.
   */
  async prepare(): Promise<() => Promise<void>> {
    this.#open();
    this.#submitted = true;
    const gpu = this.gpu;
    const d = gpu.device;
    const obs = observer;
    const labels = this.#labels();
    let encoded: { commandBuffer: GPUCommandBuffer; uniforms: GPUBuffer | undefined } | undefined;
    try {
      await withErrorScopes(gpu, `Encoding ${labels}`, () => {
        encoded = this.#encode(obs);
      });
    } catch (e) {
      encoded?.uniforms?.destroy();
      throw e;
    }
    let done = false;
    return async () => {
      if (done) throw new GpuError("This prepared batch was already submitted");
      done = true;
      try {
        await withErrorScopes(
          gpu,
          `Submitting ${labels}`,
          () => d.queue.submit([encoded!.commandBuffer]),
        );
      } finally {
        encoded!.uniforms?.destroy();
      }
      if (obs) await obs.afterSubmit();
      assertDeviceAlive(gpu);
    };
  }

  /** Encodes the recorded operations into a command buffer (with their packed uniforms). */
  #encode(
    obs: DispatchObserver | null,
  ): { commandBuffer: GPUCommandBuffer; uniforms: GPUBuffer | undefined } {
    const made: { uniforms?: GPUBuffer } = {};
    try {
      return this.#encodeInto(obs, made);
    } catch (e) {
      made.uniforms?.destroy();
      throw e;
    }
  }

  #encodeInto(
    obs: DispatchObserver | null,
    made: { uniforms?: GPUBuffer },
  ): { commandBuffer: GPUCommandBuffer; uniforms: GPUBuffer | undefined } {
    const gpu = this.gpu;
    const d = gpu.device;
    let ubuf: GPUBuffer | undefined;
    const align = Math.max(gpu.limits.minUniformBufferOffsetAlignment, 16);
    let ubytes = 0;
    const uoff: number[] = [];
    for (const op of this.#ops) {
      if (op.kind === "dispatch" && op.spec.uniforms) {
        uoff.push(ubytes);
        ubytes += Math.ceil(op.spec.uniforms.byteLength / align) * align;
      }
    }
    if (ubytes > 0) {
      ubuf = made.uniforms = d.createBuffer({
        label: "batch uniforms",
        size: ubytes,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        mappedAtCreation: true,
      });
      const dst = new Uint8Array(ubuf.getMappedRange());
      let u = 0;
      for (const op of this.#ops) {
        if (op.kind === "dispatch" && op.spec.uniforms) {
          const src = op.spec.uniforms;
          const bytes = ArrayBuffer.isView(src)
            ? new Uint8Array(src.buffer, src.byteOffset, src.byteLength)
            : new Uint8Array(src);
          dst.set(bytes, uoff[u++]);
        }
      }
      ubuf.unmap();
    }
    obs?.beginBatch?.(gpu);
    const bindGroups = new Map<string, GPUBindGroup>();
    const enc = d.createCommandEncoder({ label: "mlstm batch" });
    let pass: GPUComputePassEncoder | undefined;
    let lastPipeline: GPUComputePipeline | undefined;
    let u = 0, index = 0;
    for (const op of this.#ops) {
      if (op.kind === "copy") {
        pass?.end();
        pass = undefined;
        lastPipeline = undefined;
        enc.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
        continue;
      }
      const { spec } = op;
      const explicit = explicitLayouts.get(spec.pipeline);
      const offset = spec.uniforms ? uoff[u++]! : 0;
      // Bind groups are reused when nothing in them changes: no uniforms, or uniforms bound
      // with a dynamic offset (explicit layouts).
      const reusable = explicit !== undefined || !spec.uniforms;
      // A spec dispatched again (a decoding step replayed) keeps its key: no string building.
      let bgKey = "";
      if (reusable) {
        bgKey = specKeys.get(spec) ?? "";
        if (!bgKey) {
          bgKey =
            [spec.pipeline, ...op.buffers, ...(spec.uniformBuffer ? [spec.uniformBuffer] : [])]
              .map(globalIdOf).join(",") +
            `:${spec.uniforms?.byteLength ?? -1}`;
          specKeys.set(spec, bgKey);
        }
      }
      let bg = reusable ? bindGroups.get(bgKey) : undefined;
      const keep = keepBindGroups && !spec.uniforms;
      if (!bg && keep) {
        const kept = keptBindGroups.get(spec);
        if (
          kept && kept.buffers.length === op.buffers.length &&
          kept.buffers.every((b, j) => b === op.buffers[j])
        ) {
          bg = kept.bg;
          if (reusable) bindGroups.set(bgKey, bg);
        }
      }
      if (!bg) {
        const entries: GPUBindGroupEntry[] = op.buffers.map((buffer, j) => ({
          binding: j,
          resource: { buffer },
        }));
        if (spec.uniforms) {
          entries.push({
            binding: op.buffers.length,
            resource: {
              buffer: ubuf!,
              offset: explicit ? 0 : offset,
              size: spec.uniforms.byteLength,
            },
          });
        } else if (spec.uniformBuffer) {
          entries.push({ binding: op.buffers.length, resource: { buffer: spec.uniformBuffer } });
        }
        bg = d.createBindGroup({
          label: spec.label,
          layout: explicit ?? spec.pipeline.getBindGroupLayout(0),
          entries,
        });
        if (reusable) bindGroups.set(bgKey, bg);
        if (keep) keptBindGroups.set(spec, { bg, buffers: op.buffers });
      }
      if (obs && (obs.passPerDispatch !== false || !pass)) {
        pass?.end();
        const info: DispatchInfo = {
          label: spec.label,
          workgroups: op.wg,
          index: index,
          ...(spec.flops !== undefined ? { flops: spec.flops } : {}),
          ...(spec.bytes !== undefined ? { bytes: spec.bytes } : {}),
          ...(spec.meta !== undefined ? { meta: spec.meta } : {}),
        };
        const tw = obs.timestampWrites(info);
        pass = enc.beginComputePass(
          tw ? { label: spec.label, timestampWrites: tw } : {
            label: spec.label,
          },
        );
        lastPipeline = undefined;
      } else if (!pass) {
        pass = enc.beginComputePass({ label: "mlstm" });
        lastPipeline = undefined;
      }
      if (spec.pipeline !== lastPipeline) {
        pass.setPipeline(spec.pipeline);
        lastPipeline = spec.pipeline;
      }
      if (explicit && spec.uniforms) pass.setBindGroup(0, bg, [offset]);
      else if (explicit && spec.uniformBuffer) pass.setBindGroup(0, bg, zeroOffset);
      else pass.setBindGroup(0, bg);
      pass.dispatchWorkgroups(op.wg[0], op.wg[1], op.wg[2]);
      index++;
    }
    pass?.end();
    obs?.beforeFinish(enc);
    return { commandBuffer: enc.finish(), uniforms: ubuf };
  }

  #labels(): string {
    const labels = [
      ...new Set(this.#ops.map((o) => (o.kind === "dispatch" ? o.spec.label : "copy"))),
    ];
    return labels.length > 4
      ? `${labels.slice(0, 4).join(", ")}, … (${this.#ops.length} operations)`
      : labels.join(", ");
  }
}

/**
 * Submits nothing but waits until the device finished all work submitted so far (~11 ms floor).
 *
 * @example
 * ```ts no-eval
 * import { getGpu, waitIdle } from "./runtime.ts";
 * await waitIdle(await getGpu());
 * ```
 *
 * @param gpu The device.
 * @throws {GpuError} If the device was lost.
 */
export async function waitIdle(gpu: Gpu): Promise<void> {
  assertDeviceAlive(gpu);
  await gpu.device.queue.onSubmittedWorkDone();
  assertDeviceAlive(gpu);
}
