/**
 * The GPU driver's own statistics of every compute pipeline of one chunkwise training step:
 * registers per thread, shared memory, spills, instruction counts, as far as the driver reports
 * them. They tell which WGSL kernels are occupancy-limited (registers or workgroup storage) on a
 * GPU; Deno's WebGPU does not expose them, so this tool goes around it:
 *
 * 1. It runs one `forwardBackward` (kernels/train.ts) on the WebGPU adapter with an identity
 *    {@linkcode setShaderTransform} that records each pipeline's WGSL (the tile choices follow the
 *    real device's limits, e.g. 48 KiB of workgroup storage on an H100, 32 KiB on lavapipe);
 *    `opaqueUniforms` is applied where the runtime applies it, so the WGSL is what Deno compiles.
 * 2. It translates each WGSL to SPIR-V with naga-wasm (Naga compiled to WebAssembly).
 * 3. It loads libvulkan.so.1 through Deno's FFI, creates a Vulkan device with
 *    `VK_KHR_pipeline_executable_properties`, builds each compute pipeline with
 *    `VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR` and reads
 *    `vkGetPipelineExecutableStatisticsKHR` for each of its executables.
 *
 * Caveat: naga-wasm's Naga (30.x, default SPIR-V options) is not the Naga inside Deno's wgpu, and
 * wgpu writes SPIR-V with its own options (index clamping of dynamically indexed arrays, bounds
 * checks of buffers without robustBufferAccess2, workgroup zero-initialisation by the driver where
 * `VK_KHR_zero_initialize_workgroup_memory` exists instead of Naga's polyfill): the SPIR-V differs
 * slightly from what Deno hands the driver. Register counts of these kernels are dominated by
 * their unrolled tiles, which both share.
 *
 * ```sh
 * deno run -A bench/shader_stats.ts                 # B 8, NH 16, S 8192, DQK 128, DHV 256, f32
 * deno run -A bench/shader_stats.ts --tiny          # lavapipe: B 1, NH 2, S 200, DQK 64, DHV 128
 * # flags: --B --NH --S --DQK --DHV --chunk 64 --dtype f32[,f16] --kernel chunkwise--xl_chunk
 * #        --device-name SUBSTRING (default: the WebGPU adapter's name, else the first discrete GPU,
 * #        else the first device) --out DIR (default profile_outputs/shader_stats)
 * #        --variant NAME (a speed variant's switches, bench/_speed_variants.ts)
 * #        --build-only (a driver without VK_KHR_pipeline_executable_properties, e.g. Mesa 22's
 * #        lavapipe: build the pipelines, which checks that the driver takes the SPIR-V, and
 * #        report no statistics)
 * ```
 *
 * Prints each pipeline's statistics and writes DIR/shader_stats.csv (pipeline key, executable,
 * statistic, value, format, description, raw: the value union's 8 bytes in hex; a pipeline that
 * failed gets a row with statistic `error` after those read) and DIR/shaders/NN.{wgsl,spv} with
 * DIR/shaders/index.csv. The summary and the CSV come from the same values.
 *
 * NVIDIA's driver (580, H100) reports `Local Memory Size = 68719476736` (2^36) for every
 * pipeline, a one-line copy kernel included. The same decoding (VkPipelineExecutableStatisticKHR:
 * format u32 at 528, value union at 536, 544 bytes a struct) gives plausible Register Count,
 * Binary Size and Shared Memory Size (24576 for 24 KiB of workgroup storage), so this is what the
 * driver reports, printed as reported (the CSV's format and raw columns show it); it says nothing
 * about spills.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { SPEED_VARIANTS } from "./_speed_variants.ts";
import { stringify } from "npm:csv-stringify@6.9.0/sync";
import { nagaVersion, translate } from "npm:naga-wasm@30.1.0";
import { opaqueLoopBoundsEnabled, setShaderTransform } from "../kernels/runtime.ts";
import { opaqueUniforms } from "../kernels/_opaque.ts";
import { forwardBackward } from "../kernels/train.ts";
import type { MlstmOptions } from "../core/types.ts";
import { disposeResult, kernelTarget, releaseKernelScratch, trainingInputs } from "./_kernels.ts";

// ---------------------------------------------------------------------------------------------
// 1. Capture

/** The problem size of the captured training step. */
export interface StepShape {
  /** Batch size. */
  B: number;
  /** Heads. */
  NH: number;
  /** Sequence length. */
  S: number;
  /** Query/key head dimension. */
  DQK: number;
  /** Value head dimension. */
  DHV: number;
}

/** One pipeline's WGSL as the WebGPU runtime compiled it. */
export interface CapturedShader {
  /** The pipeline's cache key (kernel family, variant parameters, dtypes, tiles). */
  key: string;
  /** The WGSL (with `opaqueUniforms` applied where the runtime applies it). */
  wgsl: string;
}

/** What {@linkcode captureTrainingStep} captured. */
export interface Capture {
  /** The WebGPU adapter's name (on Vulkan: the driver's device name). */
  adapterName: string;
  /** The pipelines, in creation order, each key once. */
  shaders: CapturedShader[];
}

/** Options of {@linkcode captureTrainingStep}. */
export interface CaptureOptions {
  /** The registered kernel. @default {"chunkwise--xl_chunk"} */
  kernel?: string;
  /** Chunk size. @default {64} */
  chunkSize?: number;
  /** Storage dtypes, one training step each. @default {["f32"]} */
  dtypes?: ("f32" | "f16")[];
}

/**
 * Runs one `forwardBackward` per dtype on the WebGPU adapter and records the WGSL of every
 * pipeline it builds, through an identity {@linkcode setShaderTransform} with an id of its own (so
 * that pipelines already cached without it are built again and captured). The transform is
 * cleared afterwards.
 *
 * @example
 * ```ts ignore
 * import { captureTrainingStep } from "./shader_stats.ts";
 * const c = await captureTrainingStep({ B: 1, NH: 2, S: 200, DQK: 64, DHV: 128 });
 * console.assert(c.shaders.some((s) => s.key.startsWith("mlstm-bw-block-")));
 * ```
 *
 * @param shape The problem size.
 * @param options Kernel, chunk size, dtypes.
 * @returns The adapter's name and the captured shaders.
 * @throws {Error} Without a WebGPU adapter.
 */
export async function captureTrainingStep(
  shape: StepShape,
  options: CaptureOptions = {},
): Promise<Capture> {
  const { kernel = "chunkwise--xl_chunk", chunkSize = 64, dtypes = ["f32"] } = options;
  const t = await kernelTarget(kernel);
  const gpu = t.gpu;
  if (!gpu) throw new Error(`Kernel ${kernel} does not run on WebGPU: nothing to capture`);
  const opaque = opaqueLoopBoundsEnabled(gpu);
  const shaders = new Map<string, string>();
  setShaderTransform({
    id: `shader-stats-${crypto.randomUUID()}`,
    rewrite: (wgsl, key) => {
      if (!shaders.has(key)) shaders.set(key, opaque ? opaqueUniforms(wgsl) : wgsl);
      return wgsl;
    },
  });
  try {
    for (const dtype of dtypes) {
      const { x, dh, dispose } = trainingInputs(t, shape, dtype);
      disposeResult(await forwardBackward(t.kernel.name, x, dh, { chunkSize } as MlstmOptions));
      await t.sync();
      dispose();
    }
  } finally {
    setShaderTransform(null);
    releaseKernelScratch(gpu);
  }
  return {
    adapterName: gpu.adapterName,
    shaders: [...shaders].map(([key, wgsl]) => ({ key, wgsl })),
  };
}

// ---------------------------------------------------------------------------------------------
// 2. WGSL → SPIR-V and what the pipeline layout needs

/** A resource binding of a WGSL shader. */
export interface WgslBinding {
  /** `@group(n)`. */
  group: number;
  /** `@binding(n)`. */
  binding: number;
  /** `var<storage, ...>` or `var<uniform>`. */
  kind: "storage" | "uniform";
}

/**
 * The buffer bindings a WGSL shader declares (`@group(g) @binding(b) var<storage, ...>` or
 * `var<uniform>`), sorted by group and binding. Textures and samplers are not recognised (the
 * kernels have none).
 *
 * @example
 * ```ts
 * import { wgslBindings } from "./shader_stats.ts";
 * const b = wgslBindings(`@group(0) @binding(1) var<uniform> u: U;
 *   @group(0) @binding(0) var<storage, read_write> x: array<f32>;`);
 * console.assert(b.map((x) => x.kind).join() === "storage,uniform");
 * ```
 *
 * @param wgsl The shader.
 * @returns Its bindings.
 */
export function wgslBindings(wgsl: string): WgslBinding[] {
  const re = /@group\(\s*(\d+)\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var<\s*(storage|uniform)\b/g;
  return [...wgsl.matchAll(re)]
    .map((m) => ({
      group: Number(m[1]),
      binding: Number(m[2]),
      kind: m[3] as "storage" | "uniform",
    }))
    .sort((a, b) => a.group - b.group || a.binding - b.binding);
}

/**
 * The name of a WGSL shader's compute entry point (the first `@compute ... fn NAME`).
 *
 * @example
 * ```ts
 * import { wgslEntryPoint } from "./shader_stats.ts";
 * console.assert(wgslEntryPoint("@compute @workgroup_size(64) fn go() {}") === "go");
 * ```
 *
 * @param wgsl The shader.
 * @returns The entry point's name.
 * @throws {Error} If the shader has no compute entry point.
 */
export function wgslEntryPoint(wgsl: string): string {
  const m = /@compute\b[^]*?\bfn\s+(\w+)/.exec(wgsl);
  if (!m) throw new Error("WGSL has no @compute entry point");
  return m[1]!;
}

/**
 * SPIR-V of a WGSL shader, written by naga-wasm's Naga with its default options (SPIR-V 1.0, no
 * bounds checks, workgroup memory zeroed by a polyfill).
 *
 * @example
 * ```ts ignore
 * import { wgslToSpirv } from "./shader_stats.ts";
 * const spv = wgslToSpirv("@compute @workgroup_size(1) fn main() {}");
 * console.assert(spv[0] === 0x07230203);
 * ```
 *
 * @param wgsl The shader.
 * @returns The SPIR-V words.
 * @throws {Error} Naga's parse or validation error.
 */
export function wgslToSpirv(wgsl: string): Uint32Array {
  return translate({ from: "wgsl", to: "spirv", source: wgsl });
}

/** The Naga version naga-wasm bundles (it writes the SPIR-V). */
export const SPIRV_NAGA_VERSION: string = nagaVersion;

// ---------------------------------------------------------------------------------------------
// 3. Vulkan through FFI

const VK = {
  SUCCESS: 0,
  INCOMPLETE: 5,
  // VkStructureType
  APPLICATION_INFO: 0,
  INSTANCE_CREATE_INFO: 1,
  DEVICE_QUEUE_CREATE_INFO: 2,
  DEVICE_CREATE_INFO: 3,
  SHADER_MODULE_CREATE_INFO: 16,
  PIPELINE_SHADER_STAGE_CREATE_INFO: 18,
  COMPUTE_PIPELINE_CREATE_INFO: 29,
  PIPELINE_LAYOUT_CREATE_INFO: 30,
  DESCRIPTOR_SET_LAYOUT_CREATE_INFO: 32,
  PHYSICAL_DEVICE_FEATURES_2: 1000059000,
  PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES: 1000082000,
  PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES: 1000083000,
  PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR: 1000269000,
  PIPELINE_INFO_KHR: 1000269001,
  PIPELINE_EXECUTABLE_PROPERTIES_KHR: 1000269002,
  PIPELINE_EXECUTABLE_INFO_KHR: 1000269003,
  PIPELINE_EXECUTABLE_STATISTIC_KHR: 1000269004,
  PHYSICAL_DEVICE_ROBUSTNESS_2_FEATURES_EXT: 1000286000,
  // Flags and enums
  QUEUE_COMPUTE_BIT: 0x2,
  SHADER_STAGE_COMPUTE_BIT: 0x20,
  DESCRIPTOR_TYPE_UNIFORM_BUFFER: 6,
  DESCRIPTOR_TYPE_STORAGE_BUFFER: 7,
  PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR: 0x40,
  PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: 2,
} as const;

const RESULT_NAMES: Record<number, string> = {
  [-1]: "VK_ERROR_OUT_OF_HOST_MEMORY",
  [-2]: "VK_ERROR_OUT_OF_DEVICE_MEMORY",
  [-3]: "VK_ERROR_INITIALIZATION_FAILED",
  [-4]: "VK_ERROR_DEVICE_LOST",
  [-6]: "VK_ERROR_LAYER_NOT_PRESENT",
  [-7]: "VK_ERROR_EXTENSION_NOT_PRESENT",
  [-8]: "VK_ERROR_FEATURE_NOT_PRESENT",
  [-9]: "VK_ERROR_INCOMPATIBLE_DRIVER",
  [-13]: "VK_ERROR_UNKNOWN",
  [-1000012000]: "VK_ERROR_INVALID_SHADER_NV",
};

const SYMBOLS = {
  vkEnumerateInstanceVersion: { parameters: ["buffer"], result: "i32", optional: true },
  vkCreateInstance: { parameters: ["buffer", "pointer", "buffer"], result: "i32" },
  vkDestroyInstance: { parameters: ["pointer", "pointer"], result: "void" },
  vkEnumeratePhysicalDevices: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  vkGetPhysicalDeviceProperties: { parameters: ["pointer", "buffer"], result: "void" },
  vkGetPhysicalDeviceQueueFamilyProperties: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "void",
  },
  vkEnumerateDeviceExtensionProperties: {
    parameters: ["pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  vkGetPhysicalDeviceFeatures2: { parameters: ["pointer", "buffer"], result: "void" },
  vkCreateDevice: { parameters: ["pointer", "buffer", "pointer", "buffer"], result: "i32" },
  vkDestroyDevice: { parameters: ["pointer", "pointer"], result: "void" },
  vkGetDeviceProcAddr: { parameters: ["pointer", "buffer"], result: "pointer" },
  vkCreateShaderModule: { parameters: ["pointer", "buffer", "pointer", "buffer"], result: "i32" },
  vkDestroyShaderModule: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  vkCreateDescriptorSetLayout: {
    parameters: ["pointer", "buffer", "pointer", "buffer"],
    result: "i32",
  },
  vkDestroyDescriptorSetLayout: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  vkCreatePipelineLayout: { parameters: ["pointer", "buffer", "pointer", "buffer"], result: "i32" },
  vkDestroyPipelineLayout: { parameters: ["pointer", "u64", "pointer"], result: "void" },
  vkCreateComputePipelines: {
    parameters: ["pointer", "u64", "u32", "buffer", "pointer", "buffer"],
    result: "i32",
  },
  vkDestroyPipeline: { parameters: ["pointer", "u64", "pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

// vkGetPipelineExecutable{Properties,Statistics}KHR(device, info, count, out): same signature.
const EXECUTABLE_QUERY = {
  parameters: ["pointer", "buffer", "buffer", "buffer"],
  result: "i32",
} as const satisfies Deno.ForeignFunction;

/**
 * A C struct (or array) in memory that does not move (an ArrayBuffer's backing store), with
 * little-endian field writers; structs it points to are kept alive with it.
 */
class Mem {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly view: DataView;
  readonly #refs: Mem[] = [];
  constructor(size: number) {
    this.bytes = new Uint8Array(new ArrayBuffer(Math.max(size, 8)));
    this.view = new DataView(this.bytes.buffer);
  }
  static cString(s: string): Mem {
    const b = new TextEncoder().encode(s);
    const m = new Mem(b.length + 1);
    m.bytes.set(b);
    return m;
  }
  /** A struct whose first fields are sType and pNext (pNext null). */
  static typed(sType: number, size: number): Mem {
    return new Mem(size).u32(0, sType);
  }
  get address(): bigint {
    return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.bytes)));
  }
  u32(off: number, v: number): this {
    this.view.setUint32(off, v >>> 0, true);
    return this;
  }
  f32(off: number, v: number): this {
    this.view.setFloat32(off, v, true);
    return this;
  }
  u64(off: number, v: bigint): this {
    this.view.setBigUint64(off, v, true);
    return this;
  }
  ptr(off: number, m: Mem | null): this {
    if (m) this.#refs.push(m);
    return this.u64(off, m ? m.address : 0n);
  }
  getU32(off: number): number {
    return this.view.getUint32(off, true);
  }
  getU64(off: number): bigint {
    return this.view.getBigUint64(off, true);
  }
  getHandle(off: number): Deno.PointerValue {
    return Deno.UnsafePointer.create(this.getU64(off));
  }
  getString(off: number, max: number): string {
    const b = this.bytes.subarray(off, off + max);
    const end = b.indexOf(0);
    return new TextDecoder().decode(b.subarray(0, end < 0 ? max : end));
  }
}

function check(r: number, what: string): void {
  if (r < 0) throw new Error(`${what} failed: ${RESULT_NAMES[r] ?? `VkResult ${r}`}`);
}

const apiVersion = (v: number) => `${(v >>> 22) & 0x7f}.${(v >>> 12) & 0x3ff}.${v & 0xfff}`;

/** A compute shader to build a pipeline of. */
export interface ShaderToProfile {
  /** Names the pipeline in the results. */
  key: string;
  /** SPIR-V words. */
  spirv: Uint32Array;
  /** The compute entry point. */
  entryPoint: string;
  /** The buffer bindings (each gets a descriptor of its kind, compute stage). */
  bindings: WgslBinding[];
  /** The shader uses 16-bit floats (needs shaderFloat16 and 16-bit storage). */
  f16: boolean;
}

/** One statistic of one executable of one pipeline, as the driver reported it. */
export interface ShaderStatistic {
  /** The pipeline's key. */
  key: string;
  /** The executable's name (e.g. the compute stage's). */
  executable: string;
  /** The statistic's name. */
  name: string;
  /** Its value. */
  value: boolean | number | bigint;
  /** Its VkPipelineExecutableStatisticFormatKHR. */
  format: StatisticFormat;
  /** The driver's description of it. */
  description: string;
  /** The value union's 8 bytes as the driver wrote them, a little-endian u64 in hex. */
  raw: string;
}

/** The VkPipelineExecutableStatisticFormatKHR values, by their enum value (0 to 3). */
export const STATISTIC_FORMATS = ["bool32", "int64", "uint64", "float64"] as const;

/** A VkPipelineExecutableStatisticFormatKHR. */
export type StatisticFormat = typeof STATISTIC_FORMATS[number];

/**
 * Bytes of a VkPipelineExecutablePropertiesKHR on a 64-bit ABI: sType u32 @0, pNext @8, stages
 * u32 @16, name char[256] @20, description char[256] @276, subgroupSize u32 @532.
 */
export const EXECUTABLE_PROPERTIES_SIZE = 536;

/**
 * Bytes of a VkPipelineExecutableStatisticKHR on a 64-bit ABI: sType u32 @0, pNext @8, name
 * char[256] @16, description char[256] @272, format u32 @528, value union (8-byte aligned) @536.
 */
export const EXECUTABLE_STATISTIC_SIZE = 544;

/** One VkPipelineExecutablePropertiesKHR, decoded. */
export interface ExecutableProperties {
  /** VkShaderStageFlags of the stages the executable covers. */
  stages: number;
  /** Its name (e.g. "CS"). */
  name: string;
  /** The driver's description of it. */
  description: string;
  /** The subgroup size it runs with (0 where not applicable). */
  subgroupSize: number;
}

/** One VkPipelineExecutableStatisticKHR, decoded. */
export type DecodedStatistic = Omit<ShaderStatistic, "key" | "executable">;

function cString(view: DataView, off: number, max: number): string {
  const b = new Uint8Array(view.buffer, view.byteOffset + off, max);
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.subarray(0, end < 0 ? max : end));
}

function checkArray(view: DataView, count: number, size: number, what: string): void {
  if (count * size > view.byteLength) {
    throw new RangeError(
      `${count} ${what} of ${size} bytes do not fit in ${view.byteLength} bytes`,
    );
  }
}

/**
 * Decodes an array of VkPipelineExecutablePropertiesKHR as `vkGetPipelineExecutablePropertiesKHR`
 * filled it.
 *
 * @example
 * ```ts
 * import { decodeExecutableProperties, EXECUTABLE_PROPERTIES_SIZE } from "./shader_stats.ts";
 * const view = new DataView(new ArrayBuffer(EXECUTABLE_PROPERTIES_SIZE));
 * view.setUint32(16, 0x20, true);
 * new Uint8Array(view.buffer).set(new TextEncoder().encode("CS"), 20);
 * view.setUint32(532, 32, true);
 * const [cs] = decodeExecutableProperties(view, 1);
 * console.assert(cs!.name === "CS" && cs!.subgroupSize === 32);
 * ```
 *
 * @param view The array's bytes.
 * @param count How many structs it holds.
 * @returns The executables, in order.
 * @throws {RangeError} If `count` structs do not fit in `view`.
 */
export function decodeExecutableProperties(
  view: DataView,
  count: number,
): ExecutableProperties[] {
  checkArray(view, count, EXECUTABLE_PROPERTIES_SIZE, "VkPipelineExecutablePropertiesKHR");
  return Array.from({ length: count }, (_, j) => {
    const o = EXECUTABLE_PROPERTIES_SIZE * j;
    return {
      stages: view.getUint32(o + 16, true),
      name: cString(view, o + 20, 256),
      description: cString(view, o + 276, 256),
      subgroupSize: view.getUint32(o + 532, true),
    };
  });
}

/**
 * Decodes an array of VkPipelineExecutableStatisticKHR as `vkGetPipelineExecutableStatisticsKHR`
 * filled it: each value read from the union by its format (a 64-bit integer as a number where
 * that is exact, else as a bigint).
 *
 * @example
 * ```ts
 * import { decodeExecutableStatistics, EXECUTABLE_STATISTIC_SIZE } from "./shader_stats.ts";
 * const view = new DataView(new ArrayBuffer(EXECUTABLE_STATISTIC_SIZE));
 * new Uint8Array(view.buffer).set(new TextEncoder().encode("Register Count"), 16);
 * view.setUint32(528, 2, true); // VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR
 * view.setBigUint64(536, 40n, true);
 * const [s] = decodeExecutableStatistics(view, 1);
 * console.assert(s!.name === "Register Count" && s!.value === 40 && s!.format === "uint64");
 * ```
 *
 * @param view The array's bytes.
 * @param count How many structs it holds.
 * @returns The statistics, in order.
 * @throws {RangeError} If `count` structs do not fit in `view`, or a format is not one of the
 *   four the extension defines.
 */
export function decodeExecutableStatistics(view: DataView, count: number): DecodedStatistic[] {
  checkArray(view, count, EXECUTABLE_STATISTIC_SIZE, "VkPipelineExecutableStatisticKHR");
  return Array.from({ length: count }, (_, j) => {
    const o = EXECUTABLE_STATISTIC_SIZE * j;
    const name = cString(view, o + 16, 256);
    const fmt = view.getUint32(o + 528, true);
    const v = o + 536;
    const format = STATISTIC_FORMATS[fmt];
    if (format === undefined) {
      throw new RangeError(
        `Statistic ${name}: unknown VkPipelineExecutableStatisticFormatKHR ${fmt}`,
      );
    }
    const value = format === "bool32"
      ? view.getUint32(v, true) !== 0
      : format === "int64"
      ? small(view.getBigInt64(v, true))
      : format === "uint64"
      ? small(view.getBigUint64(v, true))
      : view.getFloat64(v, true);
    return {
      name,
      value,
      format,
      description: cString(view, o + 272, 256),
      raw: `0x${view.getBigUint64(v, true).toString(16).padStart(16, "0")}`,
    };
  });
}

/** Per pipeline: its statistics, or why it has none. */
export interface PipelineStatistics {
  /** The pipeline's key. */
  key: string;
  /** The driver's statistics (those read before the error, where `error` is set). */
  statistics: ShaderStatistic[];
  /** Subgroup size per executable name. */
  subgroupSizes: Record<string, number>;
  /** Why the pipeline was skipped or failed, if it was. */
  error?: string;
}

/** What {@linkcode readShaderStatistics} returns. */
export interface StatisticsReport {
  /** The Vulkan device's name. */
  deviceName: string;
  /** Its Vulkan API version (major.minor.patch). */
  deviceApiVersion: string;
  /** Its driver version (NVIDIA's decoded as major.minor, others as Vulkan versions). */
  driverVersion: string;
  /**
   * Whether the driver implements `VK_KHR_pipeline_executable_properties` (false only with
   * `requireStatistics: false`: the pipelines were built, without statistics).
   */
  statisticsSupported: boolean;
  /** Per pipeline, in the order given. */
  pipelines: PipelineStatistics[];
}

/** Options of {@linkcode readShaderStatistics}. */
export interface StatisticsOptions {
  /**
   * Substring (case-insensitive) of the Vulkan device to use; throws if none matches.
   * @default {the device named `preferredDeviceName`, else the first discrete GPU, else the first}
   */
  deviceName?: string;
  /**
   * Without `deviceName`: the device of this exact name if there is one (the WebGPU adapter's
   * name, which on Vulkan is the driver's device name).
   */
  preferredDeviceName?: string;
  /** The Vulkan loader library. @default {"libvulkan.so.1"} */
  library?: string;
  /**
   * Throw if the device lacks `VK_KHR_pipeline_executable_properties`; with false, build the
   * pipelines anyway (a check that the driver accepts the SPIR-V) and report no statistics.
   * @default {true}
   */
  requireStatistics?: boolean;
}

/**
 * Builds each shader's compute pipeline on a Vulkan device of its own (libvulkan.so.1 through
 * Deno's FFI) with `VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR` and reads the driver's
 * statistics of each pipeline executable (`VK_KHR_pipeline_executable_properties`). The device
 * enables robustBufferAccess (and robustBufferAccess2 where present) as wgpu does, and 16-bit
 * float arithmetic and storage where supported; shaders that need them on a device without them
 * are skipped with an error. Every Vulkan object is destroyed before it returns.
 *
 * @example
 * ```ts ignore
 * import { readShaderStatistics, wgslBindings, wgslToSpirv } from "./shader_stats.ts";
 * const wgsl = `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
 *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { x[g.x] = 1.0; }`;
 * const r = readShaderStatistics([{
 *   key: "ones", spirv: wgslToSpirv(wgsl), entryPoint: "main", bindings: wgslBindings(wgsl), f16: false,
 * }]);
 * console.log(r.deviceName, r.pipelines[0].statistics);
 * ```
 *
 * @param shaders The shaders.
 * @param options Which device; the loader library.
 * @returns The device and the statistics per pipeline.
 * @throws {Error} If Vulkan cannot be loaded, no device matches, or the device lacks
 *   `VK_KHR_pipeline_executable_properties`.
 */
export function readShaderStatistics(
  shaders: ShaderToProfile[],
  options: StatisticsOptions = {},
): StatisticsReport {
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  const library = options.library ?? "libvulkan.so.1";
  try {
    lib = Deno.dlopen(library, SYMBOLS);
  } catch (e) {
    throw new Error(
      `Cannot load the Vulkan loader ${library} (${(e as Error).message}): install it ` +
        `(Debian: libvulkan1) and a Vulkan driver, and run with --allow-ffi`,
    );
  }
  const vk = lib.symbols;
  let instance: Deno.PointerValue = null;
  let device: Deno.PointerValue = null;
  try {
    // Instance: the loader's version, at most 1.3 (at least 1.1: vkGetPhysicalDeviceFeatures2).
    const ver = new Mem(4).u32(0, 1 << 22);
    if (vk.vkEnumerateInstanceVersion) vk.vkEnumerateInstanceVersion(ver.bytes);
    const loaderVersion = ver.getU32(0);
    if (loaderVersion < ((1 << 22) | (1 << 12))) {
      throw new Error(`The Vulkan loader is version ${apiVersion(loaderVersion)}; 1.1 is needed`);
    }
    const api = Math.min(loaderVersion & ~0xfff, (1 << 22) | (3 << 12));
    const app = Mem.typed(VK.APPLICATION_INFO, 48)
      .ptr(16, Mem.cString("mlstm-shader-stats")).ptr(32, Mem.cString("none")).u32(44, api);
    const ici = Mem.typed(VK.INSTANCE_CREATE_INFO, 64).ptr(24, app);
    const out = new Mem(8);
    check(vk.vkCreateInstance(ici.bytes, null, out.bytes), "vkCreateInstance");
    instance = out.getHandle(0);

    // Physical device: by name, else the first discrete GPU, else the first.
    const count = new Mem(4);
    check(vk.vkEnumeratePhysicalDevices(instance, count.bytes, null), "vkEnumeratePhysicalDevices");
    const n = count.getU32(0);
    if (n === 0) throw new Error("Vulkan lists no physical device");
    const handles = new Mem(8 * n);
    check(
      vk.vkEnumeratePhysicalDevices(instance, count.bytes, handles.bytes),
      "vkEnumeratePhysicalDevices",
    );
    const devices = Array.from({ length: count.getU32(0) }, (_, j) => {
      const handle = handles.getHandle(8 * j);
      const props = new Mem(1024); // VkPhysicalDeviceProperties: 824 bytes
      vk.vkGetPhysicalDeviceProperties(handle, props.bytes);
      return {
        handle,
        api: props.getU32(0),
        driver: props.getU32(4),
        vendor: props.getU32(8),
        type: props.getU32(16),
        name: props.getString(20, 256),
      };
    });
    const want = options.deviceName?.toLowerCase();
    const pd = want !== undefined
      ? devices.find((d) => d.name.toLowerCase().includes(want))
      : devices.find((d) => d.name === options.preferredDeviceName) ??
        devices.find((d) => d.type === VK.PHYSICAL_DEVICE_TYPE_DISCRETE_GPU) ?? devices[0];
    if (!pd) {
      throw new Error(
        `No Vulkan device matches "${options.deviceName}" (devices: ${
          devices.map((d) => d.name).join(", ")
        })`,
      );
    }

    // Extensions.
    check(
      vk.vkEnumerateDeviceExtensionProperties(pd.handle, null, count.bytes, null),
      "vkEnumerateDeviceExtensionProperties",
    );
    const extMem = new Mem(260 * count.getU32(0));
    check(
      vk.vkEnumerateDeviceExtensionProperties(pd.handle, null, count.bytes, extMem.bytes),
      "vkEnumerateDeviceExtensionProperties",
    );
    const exts = new Set(
      Array.from({ length: count.getU32(0) }, (_, j) => extMem.getString(260 * j, 256)),
    );
    const EXT = "VK_KHR_pipeline_executable_properties";
    const stats = exts.has(EXT);
    if (!stats && options.requireStatistics !== false) {
      throw new Error(
        `Vulkan device ${pd.name} does not implement ${EXT}: its driver reports no shader ` +
          `statistics (run on a driver that does, e.g. NVIDIA's; with requireStatistics false, ` +
          `or --build-only, the pipelines are built without statistics)`,
      );
    }
    const robust2 = exts.has("VK_EXT_robustness2");

    // Features: query, then enable the ones the pipelines need (and wgpu's robustness).
    const chain = (structs: Mem[]) => {
      for (let j = 0; j + 1 < structs.length; j++) structs[j]!.ptr(8, structs[j + 1]!);
      return structs[0]!;
    };
    const queryStructs = () => {
      const s = [
        Mem.typed(VK.PHYSICAL_DEVICE_FEATURES_2, 240), // features: 55 VkBool32 at 16
        Mem.typed(VK.PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR, 24),
        Mem.typed(VK.PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES, 32),
        Mem.typed(VK.PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, 24),
      ];
      if (robust2) s.push(Mem.typed(VK.PHYSICAL_DEVICE_ROBUSTNESS_2_FEATURES_EXT, 32));
      return s;
    };
    const has = queryStructs();
    vk.vkGetPhysicalDeviceFeatures2(pd.handle, chain(has).bytes);
    const [f2, pe, s16, f16i8, r2] = has as [Mem, Mem, Mem, Mem, Mem | undefined];
    if (stats && !pe.getU32(16)) {
      throw new Error(`Vulkan device ${pd.name}: pipelineExecutableInfo is not supported`);
    }
    const f16ok = !!(f16i8.getU32(16) && s16.getU32(16));
    const en = queryStructs();
    const [ef2, epe, es16, ef16i8, er2] = en as [Mem, Mem, Mem, Mem, Mem | undefined];
    ef2.u32(16, f2.getU32(16)); // robustBufferAccess
    if (stats) epe.u32(16, 1); // pipelineExecutableInfo
    if (f16ok) {
      es16.u32(16, 1).u32(20, s16.getU32(20)); // storageBuffer16BitAccess, uniformAndStorage...
      ef16i8.u32(16, 1); // shaderFloat16
    }
    if (r2 && er2) er2.u32(16, r2.getU32(16)); // robustBufferAccess2
    const extNames = [...(stats ? [EXT] : []), ...(robust2 ? ["VK_EXT_robustness2"] : [])]
      .map(Mem.cString);
    const extPtrs = new Mem(8 * extNames.length);
    extNames.forEach((e, j) => extPtrs.ptr(8 * j, e));

    // Queue family with compute.
    vk.vkGetPhysicalDeviceQueueFamilyProperties(pd.handle, count.bytes, null);
    const qf = new Mem(24 * count.getU32(0));
    vk.vkGetPhysicalDeviceQueueFamilyProperties(pd.handle, count.bytes, qf.bytes);
    let family = -1;
    for (let j = 0; j < count.getU32(0) && family < 0; j++) {
      if (qf.getU32(24 * j) & VK.QUEUE_COMPUTE_BIT) family = j;
    }
    if (family < 0) throw new Error(`Vulkan device ${pd.name} has no compute queue`);
    const dqci = Mem.typed(VK.DEVICE_QUEUE_CREATE_INFO, 40)
      .u32(20, family).u32(24, 1).ptr(32, new Mem(4).f32(0, 1));
    const dci = Mem.typed(VK.DEVICE_CREATE_INFO, 72)
      .ptr(8, chain(en)).u32(20, 1).ptr(24, dqci).u32(48, extNames.length).ptr(56, extPtrs);
    check(vk.vkCreateDevice(pd.handle, dci.bytes, null, out.bytes), `vkCreateDevice (${pd.name})`);
    device = out.getHandle(0);

    const proc = (name: string) => {
      const p = vk.vkGetDeviceProcAddr(device, Mem.cString(name).bytes);
      if (!p) throw new Error(`vkGetDeviceProcAddr(${name}) returned null`);
      return new Deno.UnsafeFnPointer(
        p as Deno.PointerObject<typeof EXECUTABLE_QUERY>,
        EXECUTABLE_QUERY,
      );
    };
    const getProperties = stats ? proc("vkGetPipelineExecutablePropertiesKHR") : null;
    const getStatistics = stats ? proc("vkGetPipelineExecutableStatisticsKHR") : null;

    const profileOne = (s: ShaderToProfile, res: PipelineStatistics): void => {
      const h = new Mem(8);
      let module = 0n, pipelineLayout = 0n, pipeline = 0n;
      const setLayouts: bigint[] = [];
      try {
        const code = new Mem(s.spirv.byteLength);
        code.bytes.set(new Uint8Array(s.spirv.buffer, s.spirv.byteOffset, s.spirv.byteLength));
        const smci = Mem.typed(VK.SHADER_MODULE_CREATE_INFO, 40)
          .u64(24, BigInt(s.spirv.byteLength)).ptr(32, code);
        check(vk.vkCreateShaderModule(device, smci.bytes, null, h.bytes), "vkCreateShaderModule");
        module = h.getU64(0);
        // One descriptor set layout per group 0..max.
        const groups = s.bindings.reduce((g, b) => Math.max(g, b.group), -1) + 1;
        for (let g = 0; g < groups; g++) {
          const bs = s.bindings.filter((b) => b.group === g);
          const arr = new Mem(24 * bs.length);
          bs.forEach((b, j) =>
            arr.u32(24 * j, b.binding)
              .u32(
                24 * j + 4,
                b.kind === "uniform"
                  ? VK.DESCRIPTOR_TYPE_UNIFORM_BUFFER
                  : VK.DESCRIPTOR_TYPE_STORAGE_BUFFER,
              )
              .u32(24 * j + 8, 1)
              .u32(24 * j + 12, VK.SHADER_STAGE_COMPUTE_BIT)
          );
          const dslci = Mem.typed(VK.DESCRIPTOR_SET_LAYOUT_CREATE_INFO, 32)
            .u32(20, bs.length).ptr(24, bs.length ? arr : null);
          check(
            vk.vkCreateDescriptorSetLayout(device, dslci.bytes, null, h.bytes),
            "vkCreateDescriptorSetLayout",
          );
          setLayouts.push(h.getU64(0));
        }
        const sl = new Mem(8 * setLayouts.length);
        setLayouts.forEach((l, j) => sl.u64(8 * j, l));
        const plci = Mem.typed(VK.PIPELINE_LAYOUT_CREATE_INFO, 48)
          .u32(20, setLayouts.length).ptr(24, setLayouts.length ? sl : null);
        check(
          vk.vkCreatePipelineLayout(device, plci.bytes, null, h.bytes),
          "vkCreatePipelineLayout",
        );
        pipelineLayout = h.getU64(0);
        // VkComputePipelineCreateInfo with its VkPipelineShaderStageCreateInfo inline at 24.
        const cpci = Mem.typed(VK.COMPUTE_PIPELINE_CREATE_INFO, 96)
          .u32(16, stats ? VK.PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0)
          .u32(24, VK.PIPELINE_SHADER_STAGE_CREATE_INFO)
          .u32(24 + 20, VK.SHADER_STAGE_COMPUTE_BIT)
          .u64(24 + 24, module)
          .ptr(24 + 32, Mem.cString(s.entryPoint))
          .u64(72, pipelineLayout)
          .u32(88, 0xffffffff); // basePipelineIndex -1
        check(
          vk.vkCreateComputePipelines(device, 0n, 1, cpci.bytes, null, h.bytes),
          "vkCreateComputePipelines",
        );
        pipeline = h.getU64(0);
        if (!getProperties || !getStatistics) return;

        // Executables, then each one's statistics.
        const pinfo = Mem.typed(VK.PIPELINE_INFO_KHR, 24).u64(16, pipeline);
        const cnt = new Mem(4);
        check(
          getProperties.call(device, pinfo.bytes, cnt.bytes, null),
          "vkGetPipelineExecutablePropertiesKHR",
        );
        // The executables' count stays in its own Mem: the statistics' count is written to
        // another (sharing one made the loop below run to the statistics' count, past the
        // properties array: "Offset is outside the bounds of the DataView").
        const props = new Mem(EXECUTABLE_PROPERTIES_SIZE * cnt.getU32(0));
        for (let j = 0; j < cnt.getU32(0); j++) {
          props.u32(EXECUTABLE_PROPERTIES_SIZE * j, VK.PIPELINE_EXECUTABLE_PROPERTIES_KHR);
        }
        check(
          getProperties.call(device, pinfo.bytes, cnt.bytes, props.bytes),
          "vkGetPipelineExecutablePropertiesKHR",
        );
        const executables = decodeExecutableProperties(props.view, cnt.getU32(0));
        for (const [e, exe] of executables.entries()) {
          res.subgroupSizes[exe.name] = exe.subgroupSize;
          const einfo = Mem.typed(VK.PIPELINE_EXECUTABLE_INFO_KHR, 32)
            .u64(16, pipeline).u32(24, e);
          const ns = new Mem(4);
          check(
            getStatistics.call(device, einfo.bytes, ns.bytes, null),
            "vkGetPipelineExecutableStatisticsKHR",
          );
          const st = new Mem(EXECUTABLE_STATISTIC_SIZE * ns.getU32(0));
          for (let j = 0; j < ns.getU32(0); j++) {
            st.u32(EXECUTABLE_STATISTIC_SIZE * j, VK.PIPELINE_EXECUTABLE_STATISTIC_KHR);
          }
          check(
            getStatistics.call(device, einfo.bytes, ns.bytes, st.bytes),
            "vkGetPipelineExecutableStatisticsKHR",
          );
          for (const d of decodeExecutableStatistics(st.view, ns.getU32(0))) {
            res.statistics.push({ key: s.key, executable: exe.name, ...d });
          }
        }
      } finally {
        if (pipeline) vk.vkDestroyPipeline(device, pipeline, null);
        if (pipelineLayout) vk.vkDestroyPipelineLayout(device, pipelineLayout, null);
        for (const l of setLayouts) vk.vkDestroyDescriptorSetLayout(device, l, null);
        if (module) vk.vkDestroyShaderModule(device, module, null);
      }
    };

    const pipelines = shaders.map((s): PipelineStatistics => {
      const res: PipelineStatistics = { key: s.key, statistics: [], subgroupSizes: {} };
      if (s.f16 && !f16ok) {
        return { ...res, error: `${pd.name} lacks shaderFloat16 or storageBuffer16BitAccess` };
      }
      try {
        profileOne(s, res);
      } catch (e) {
        res.error = (e as Error).message;
      }
      return res;
    });

    return {
      deviceName: pd.name,
      deviceApiVersion: apiVersion(pd.api),
      driverVersion: pd.vendor === 0x10de
        ? `${pd.driver >>> 22}.${(pd.driver >>> 14) & 0xff}`
        : apiVersion(pd.driver),
      statisticsSupported: stats,
      pipelines,
    };
  } finally {
    if (device) vk.vkDestroyDevice(device, null);
    if (instance) vk.vkDestroyInstance(instance, null);
    lib.close();
  }
}

/** A 64-bit integer as a number where that is exact. */
function small(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

/**
 * The captured shaders ready for {@linkcode readShaderStatistics}: each translated to SPIR-V
 * ({@linkcode wgslToSpirv}), with its entry point, bindings and whether it enables f16.
 *
 * @example
 * ```ts ignore
 * import { captureTrainingStep, readShaderStatistics, shadersToProfile } from "./shader_stats.ts";
 * const c = await captureTrainingStep({ B: 1, NH: 2, S: 200, DQK: 64, DHV: 128 });
 * const r = readShaderStatistics(shadersToProfile(c.shaders), { preferredDeviceName: c.adapterName });
 * for (const p of r.pipelines) console.log(p.key, p.statistics.length);
 * ```
 *
 * @param shaders The captured shaders.
 * @returns One entry per shader, in the same order.
 * @throws {Error} Naga's error for a shader it cannot translate.
 */
export function shadersToProfile(shaders: CapturedShader[]): ShaderToProfile[] {
  return shaders.map((s) => ({
    key: s.key,
    spirv: wgslToSpirv(s.wgsl),
    entryPoint: wgslEntryPoint(s.wgsl),
    bindings: wgslBindings(s.wgsl),
    f16: /\benable\s+f16\s*;/.test(s.wgsl),
  }));
}

// ---------------------------------------------------------------------------------------------
// 4. Report: the printed summary and the CSV rows, from the same statistics

/** The columns of shader_stats.csv. */
export const STATISTICS_CSV_COLUMNS = [
  "key",
  "executable",
  "statistic",
  "value",
  "format",
  "description",
  "raw",
] as const;

/** One row of shader_stats.csv. */
export type StatisticsRow = Record<typeof STATISTICS_CSV_COLUMNS[number], string>;

/**
 * The rows of shader_stats.csv: every statistic of every pipeline, then (where a pipeline failed
 * or was skipped) a row with statistic `error` and the message as value.
 *
 * @example
 * ```ts
 * import { statisticsRows } from "./shader_stats.ts";
 * const rows = statisticsRows([{ key: "k", statistics: [], subgroupSizes: {}, error: "no f16" }]);
 * console.assert(rows.length === 1 && rows[0]!.statistic === "error");
 * ```
 *
 * @param pipelines The report's pipelines.
 * @returns The rows, pipelines in order.
 */
export function statisticsRows(pipelines: PipelineStatistics[]): StatisticsRow[] {
  return pipelines.flatMap((p) => [
    ...p.statistics.map((s) => ({
      key: s.key,
      executable: s.executable,
      statistic: s.name,
      value: String(s.value),
      format: s.format,
      description: s.description,
      raw: s.raw,
    })),
    ...(p.error !== undefined
      ? [{
        key: p.key,
        executable: "",
        statistic: "error",
        value: p.error,
        format: "",
        description: "",
        raw: "",
      }]
      : []),
  ]);
}

/**
 * The printed summary: per pipeline its key, then per executable (with its subgroup size) each
 * statistic's `name = value`, the same values as {@linkcode statisticsRows}, then its error if
 * any.
 *
 * @example
 * ```ts
 * import { statisticsSummary } from "./shader_stats.ts";
 * const lines = statisticsSummary([{ key: "k", subgroupSizes: { CS: 32 }, statistics: [{
 *   key: "k", executable: "CS", name: "Register Count", value: 40, format: "uint64",
 *   description: "", raw: "0x0000000000000028",
 * }] }]);
 * console.assert(lines.join("\n") === "\nk\n  CS (subgroup size 32):\n    Register Count = 40");
 * ```
 *
 * @param pipelines The report's pipelines.
 * @returns The lines.
 */
export function statisticsSummary(pipelines: PipelineStatistics[]): string[] {
  const lines: string[] = [];
  for (const p of pipelines) {
    lines.push("", p.key);
    for (const [exe, stats] of Map.groupBy(p.statistics, (s) => s.executable)) {
      lines.push(`  ${exe} (subgroup size ${p.subgroupSizes[exe]}):`);
      for (const s of stats) lines.push(`    ${s.name} = ${String(s.value)}`);
    }
    if (p.error !== undefined) lines.push(`  error: ${p.error}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// CLI

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    args: Deno.args,
    options: {
      B: { type: "string", default: "8" },
      NH: { type: "string", default: "16" },
      S: { type: "string", default: "8192" },
      DQK: { type: "string", default: "128" },
      DHV: { type: "string", default: "256" },
      chunk: { type: "string", default: "64" },
      dtype: { type: "string", default: "f32" },
      kernel: { type: "string", default: "chunkwise--xl_chunk" },
      "device-name": { type: "string" },
      out: { type: "string", default: "profile_outputs/shader_stats" },
      tiny: { type: "boolean", default: false },
      "build-only": { type: "boolean", default: false },
      variant: { type: "string" },
    },
  });
  const shape: StepShape = a.tiny
    ? { B: 1, NH: 2, S: 200, DQK: 64, DHV: 128 }
    : { B: +a.B!, NH: +a.NH!, S: +a.S!, DQK: +a.DQK!, DHV: +a.DHV! };
  const dtypes = a.dtype!.split(",").map((d) => d.trim()).filter(Boolean);
  for (const d of dtypes) if (d !== "f32" && d !== "f16") throw new RangeError(`--dtype: ${d}`);
  const chunkSize = Number(a.chunk);
  const out = a.out!;

  // A speed variant's switches (bench/_speed_variants.ts) for the captured step.
  const variant = a.variant === undefined
    ? undefined
    : SPEED_VARIANTS.find((v) => v.name === a.variant);
  if (a.variant !== undefined && !variant) throw new RangeError(`--variant: ${a.variant}`);
  await variant?.setup?.();
  let capture: Awaited<ReturnType<typeof captureTrainingStep>>;
  try {
    capture = await captureTrainingStep(shape, {
      kernel: a.kernel!,
      chunkSize,
      dtypes: dtypes as ("f32" | "f16")[],
    });
  } finally {
    await variant?.teardown?.();
  }
  const shaders = shadersToProfile(capture.shaders);
  // The shaders first: they are there even where the driver reports no statistics.
  await Deno.mkdir(`${out}/shaders`, { recursive: true });
  const index = shaders.map((s, j) => ({ file: String(j).padStart(2, "0"), key: s.key }));
  for (const [j, s] of shaders.entries()) {
    const f = `${out}/shaders/${index[j]!.file}`;
    await Deno.writeTextFile(`${f}.wgsl`, capture.shaders[j]!.wgsl);
    await Deno.writeFile(
      `${f}.spv`,
      new Uint8Array(s.spirv.buffer, s.spirv.byteOffset, s.spirv.byteLength),
    );
  }
  await Deno.writeTextFile(`${out}/shaders/index.csv`, stringify(index, { header: true }));
  console.log(
    `shader_stats: ${a.kernel} at B ${shape.B}, NH ${shape.NH}, S ${shape.S}, DQK ${shape.DQK}, ` +
      `DHV ${shape.DHV}, chunk ${chunkSize}, ${dtypes.join("+")}: ${shaders.length} pipelines ` +
      `captured on WebGPU adapter "${capture.adapterName}", SPIR-V by naga-wasm (Naga ` +
      `${SPIRV_NAGA_VERSION}) in ${out}/shaders/`,
  );
  let report: StatisticsReport;
  try {
    report = readShaderStatistics(shaders, {
      preferredDeviceName: capture.adapterName,
      requireStatistics: !a["build-only"],
      ...(a["device-name"] !== undefined ? { deviceName: a["device-name"] } : {}),
    });
  } catch (e) {
    console.error(`shader_stats: ${(e as Error).message}`);
    Deno.exit(1);
  }
  console.log(
    `statistics from Vulkan device "${report.deviceName}" (Vulkan ${report.deviceApiVersion}, ` +
      `driver ${report.driverVersion})` +
      (report.statisticsSupported ? "" : ": none (--build-only), the pipelines were built"),
  );
  for (const line of statisticsSummary(report.pipelines)) console.log(line);
  const rows = statisticsRows(report.pipelines);
  const columns = [...STATISTICS_CSV_COLUMNS];
  await Deno.writeTextFile(`${out}/shader_stats.csv`, stringify(rows, { header: true, columns }));
  console.log(`\nwrote ${out}/shader_stats.csv`);
}

if (import.meta.main) await main();
