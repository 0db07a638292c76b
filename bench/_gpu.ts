// GPU plumbing for benchmarks, sweeps and tooling tests: the runtime's device (null without an
// adapter unless REQUIRE_GPU=1), and a toy WebGPU "kernel" (h = v through one copy dispatch of
// the runtime's DispatchBatch) so that the tooling's GPU path can be tested independently of the
// real kernels.

import { sizeOf } from "../core/tensor.ts";
import type {
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
} from "../core/types.ts";
import {
  DispatchBatch,
  getGpu,
  getPipeline,
  type Gpu,
  GpuTensor,
  NoAdapterError,
} from "../kernels/runtime.ts";

let cached: Promise<Gpu | null> | undefined;

/** The runtime's device, or null without an adapter (REQUIRE_GPU=1 makes that an error). */
export function getBenchGpu(): Promise<Gpu | null> {
  cached ??= getGpu().catch((e) => {
    if (e instanceof NoAdapterError && Deno.env.get("REQUIRE_GPU") !== "1") return null;
    throw e;
  });
  return cached;
}

const COPY_WGSL = `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = g.y * n.x * 64u + g.x;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}`;

/** Records one copy dispatch (dst = src, f32) in a batch. */
export async function copyDispatch(
  batch: DispatchBatch,
  src: GpuTensor,
  dst: GpuTensor,
  label: string,
): Promise<void> {
  const pipeline = await getPipeline(batch.gpu, "toy-copy", () => COPY_WGSL);
  const n = sizeOf(dst.shape);
  const wgs = Math.max(1, Math.ceil(n / 64));
  const x = Math.min(wgs, 32768);
  batch.dispatch({
    label,
    pipeline,
    buffers: [src, dst],
    workgroups: [x, Math.ceil(wgs / x), 1],
    bytes: 8 * n,
    meta: { elements: n },
  });
}

const asGpu = (t: unknown, name: string): GpuTensor => {
  if (!(t instanceof GpuTensor) || t.dtype !== "f32") {
    throw new TypeError(`toy--copy_v needs f32 GpuTensor inputs (${name})`);
  }
  return t;
};

/**
 * The toy WebGPU kernel `toy--copy_v`: h = v through one copy dispatch (forward); dv = dh and
 * zero tensors for the rest (backward). Not an mLSTM: it exercises the tooling's GPU path
 * (profiling, timing, memory, plots) with a kernel whose cost is known.
 */
export function toyKernel(gpu: Gpu): MlstmKernel {
  return {
    name: "toy--copy_v",
    backend: "webgpu",
    form: "parallel",
    inputGate: "exp",
    supportsStates: false,
    async forward(x: MlstmInputs): Promise<MlstmForwardResult> {
      const v = asGpu(x.v, "v");
      const h = GpuTensor.empty(gpu, v.shape);
      const batch = new DispatchBatch(gpu);
      await copyDispatch(batch, v, h, "toy--copy_v/fw");
      await batch.submit();
      return { h };
    },
    async backward(x: MlstmInputs, dh): Promise<MlstmGradients> {
      const d = asGpu(dh, "dh");
      const z = (t: unknown) => GpuTensor.empty(gpu, asGpu(t, "input").shape);
      const dv = GpuTensor.empty(gpu, d.shape);
      const batch = new DispatchBatch(gpu);
      await copyDispatch(batch, d, dv, "toy--copy_v/bw");
      await batch.submit();
      return { dq: z(x.q), dk: z(x.k), dv, di: z(x.i), df: z(x.f) };
    },
  };
}
