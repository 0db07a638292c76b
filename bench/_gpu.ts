// GPU plumbing for benchmarks and sweeps: a device with timestamp queries, a tiny observable
// dispatcher that follows the runtime's dispatch-observer protocol (profiling/observer.ts), and a
// toy WebGPU "kernel" (h = v) so that the tooling's GPU path can be exercised before, and
// independently of, the real kernels.

import type { Tensor } from "../core/tensor.ts";
import { sizeOf } from "../core/tensor.ts";
import type {
  DeviceTensor,
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
} from "../core/types.ts";
import type { DispatchInfo, ObservableGpu } from "../profiling/observer.ts";

/** A GPU context for the tooling: a device plus the observer slot. */
export interface BenchGpu extends ObservableGpu {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  /** GPU errors caught by `onuncapturederror` (tests fail on any). */
  readonly errors: string[];
}

let cached: Promise<BenchGpu | null> | undefined;

/**
 * The shared tooling device (timestamp-query and shader-f16 when offered, the adapter's limits),
 * or null without an adapter. With REQUIRE_GPU=1 a missing adapter throws.
 */
export function getBenchGpu(): Promise<BenchGpu | null> {
  cached ??= (async () => {
    const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) {
      if (Deno.env.get("REQUIRE_GPU") === "1") {
        throw new Error(
          "REQUIRE_GPU=1 but no WebGPU adapter was found; install mesa-vulkan-drivers and set " +
            "XDG_RUNTIME_DIR=/tmp DENO_WEBGPU_BACKEND=vulkan",
        );
      }
      return null;
    }
    const want = (["timestamp-query", "shader-f16"] as const).filter((f) => adapter.features.has(f));
    const l = adapter.limits;
    const device = await adapter.requestDevice({
      requiredFeatures: want,
      requiredLimits: {
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      },
    });
    const errors: string[] = [];
    device.addEventListener("uncapturederror", (e) => {
      errors.push((e as GPUUncapturedErrorEvent).error.message);
    });
    const gpu: BenchGpu = { device, adapterInfo: adapter.info, errors };
    return gpu;
  })();
  return cached;
}

const pipelines = new Map<string, GPUComputePipeline>();

/** A cached compute pipeline for WGSL `code` (entry point `main`). */
export function pipelineFor(device: GPUDevice, code: string, label: string): GPUComputePipeline {
  let p = pipelines.get(code);
  if (!p) {
    p = device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code, label }), entryPoint: "main" },
      label,
    });
    pipelines.set(code, p);
  }
  return p;
}

/**
 * Encodes one dispatch the way the runtime does: its own compute pass with the observer's
 * timestampWrites when a profiler is attached, the shared encoder's pass otherwise.
 */
export function observedDispatch(
  gpu: ObservableGpu,
  encoder: GPUCommandEncoder,
  pipeline: GPUComputePipeline,
  buffers: GPUBuffer[],
  info: DispatchInfo,
): void {
  const bind = gpu.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const obs = gpu.dispatchObserver;
  const tw = obs?.beginDispatch(info);
  const pass = encoder.beginComputePass(tw ? { timestampWrites: tw } : {});
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  const [x = 1, y = 1, z = 1] = info.workgroups;
  pass.dispatchWorkgroups(x, y, z);
  pass.end();
  obs?.endDispatch();
}

/** Submits an encoder, telling the observer. */
export function observedSubmit(gpu: ObservableGpu, encoder: GPUCommandEncoder): void {
  const obs = gpu.dispatchObserver;
  obs?.beforeSubmit?.();
  gpu.device.queue.submit([encoder.finish()]);
  obs?.afterSubmit?.();
}

/** A minimal device tensor for the toy kernel (f32, one storage buffer). */
export class ToyTensor implements DeviceTensor {
  readonly shape: readonly number[];
  readonly dtype = "f32" as const;
  readonly buffer: GPUBuffer;
  readonly #gpu: BenchGpu;

  constructor(gpu: BenchGpu, shape: readonly number[], data?: ArrayLike<number>) {
    this.#gpu = gpu;
    this.shape = [...shape];
    this.buffer = gpu.device.createBuffer({
      size: Math.max(16, Math.ceil((sizeOf(shape) * 4) / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: "toy tensor",
    });
    if (data) gpu.device.queue.writeBuffer(this.buffer, 0, Float32Array.from(data));
  }

  async read(): Promise<Tensor> {
    const n = sizeOf(this.shape);
    const rb = this.#gpu.device.createBuffer({
      size: this.buffer.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.#gpu.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.buffer, 0, rb, 0, this.buffer.size);
    this.#gpu.device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const data = new Float32Array(rb.getMappedRange().slice(0, n * 4));
    rb.unmap();
    rb.destroy();
    return { shape: [...this.shape], data };
  }

  dispose(): void {
    this.buffer.destroy();
  }
}

const COPY_WGSL = `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = g.y * n.x * 64u + g.x;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}`;

function copyDispatch(gpu: BenchGpu, enc: GPUCommandEncoder, src: ToyTensor, dst: ToyTensor, label: string) {
  const n = sizeOf(dst.shape);
  const wgs = Math.max(1, Math.ceil(n / 64));
  const x = Math.min(wgs, 32768);
  observedDispatch(gpu, enc, pipelineFor(gpu.device, COPY_WGSL, "toy copy"), [src.buffer, dst.buffer], {
    label,
    workgroups: [x, Math.ceil(wgs / x), 1],
    meta: { elements: n },
    bytes: 8 * n,
  });
}

const asToy = (t: unknown, name: string): ToyTensor => {
  if (!(t instanceof ToyTensor)) throw new TypeError(`toy--copy_v needs ToyTensor inputs (${name})`);
  return t;
};

/**
 * The toy WebGPU kernel `toy--copy_v`: h = v through one copy dispatch (forward), dv = dh and
 * zero-sized work for the rest (backward). Not an mLSTM: it exists to test the tooling's GPU
 * path (profiling, timing, memory, plots).
 */
export function toyKernel(gpu: BenchGpu): MlstmKernel {
  return {
    name: "toy--copy_v",
    backend: "webgpu",
    form: "parallel",
    inputGate: "exp",
    supportsStates: false,
    forward(x: MlstmInputs): Promise<MlstmForwardResult> {
      const v = asToy(x.v, "v");
      const h = new ToyTensor(gpu, v.shape);
      const enc = gpu.device.createCommandEncoder();
      copyDispatch(gpu, enc, v, h, "toy--copy_v/fw");
      observedSubmit(gpu, enc);
      return Promise.resolve({ h });
    },
    backward(x: MlstmInputs, dh): Promise<MlstmGradients> {
      const d = asToy(dh, "dh");
      const z = (t: unknown) => new ToyTensor(gpu, (t as DeviceTensor).shape);
      const dv = new ToyTensor(gpu, d.shape);
      const enc = gpu.device.createCommandEncoder();
      copyDispatch(gpu, enc, d, dv, "toy--copy_v/bw");
      observedSubmit(gpu, enc);
      return Promise.resolve({ dq: z(x.q), dk: z(x.k), dv, di: z(x.i), df: z(x.f) });
    },
  };
}
