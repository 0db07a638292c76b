// Kernel plumbing for benchmarks and sweeps: registers every kernel the checkout has (float64
// references always; the WebGPU kernels of kernels/mod.ts when that module exists; the toy GPU
// kernel when a GPU is present) and hides how inputs reach each backend.

import { getAvailableMlstmKernels, getMlstmKernel, registerMlstmKernels } from "../mod.ts";
import { randomMlstmInputs } from "../core/inputs.ts";
import { Random } from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import type { MlstmInputs, MlstmKernel, TensorLike } from "../core/types.ts";
import type { ObservableGpu } from "../profiling/observer.ts";
import { type BenchGpu, getBenchGpu, toyKernel, ToyTensor } from "./_gpu.ts";

/** How a benchmark drives one kernel. */
export interface KernelTarget {
  readonly kernel: MlstmKernel;
  /** The GPU context the kernel dispatches on (for the profiler), or null for CPU kernels. */
  readonly gpu: ObservableGpu | null;
  /** Puts CPU inputs where the kernel wants them (untimed). */
  upload(x: MlstmInputs<Tensor>, dtype: "f32" | "f16"): Promise<MlstmInputs>;
  /** Puts one CPU tensor where the kernel wants it (dh for backward). */
  uploadTensor(t: Tensor, dtype: "f32" | "f16"): Promise<TensorLike>;
  /** Waits until all submitted GPU work is done (no-op for CPU kernels). */
  sync(): Promise<void>;
}

interface RuntimeModule {
  getGpu?: () => Promise<ObservableGpu>;
  GpuTensor?: {
    fromTensor?: (gpu: ObservableGpu, t: Tensor, dtype?: "f32" | "f16") => TensorLike;
    upload?: (gpu: ObservableGpu, t: Tensor, dtype?: "f32" | "f16") => TensorLike;
  };
}

let loaded: Promise<{ gpu: BenchGpu | null; runtime: RuntimeModule | null }> | undefined;

async function tryImport<T>(path: string): Promise<T | null> {
  const url = new URL(path, import.meta.url);
  try {
    await Deno.stat(url);
  } catch {
    return null;
  }
  return (await import(url.href)) as T;
}

/**
 * Registers the kernels this checkout has, once: float64 references (imported with mod.ts),
 * `webgpuKernels` from kernels/mod.ts when present, and `toy--copy_v` when a GPU is present.
 */
export function loadKernels(): Promise<{ gpu: BenchGpu | null; runtime: RuntimeModule | null }> {
  loaded ??= (async () => {
    const kernelsMod = await tryImport<{ webgpuKernels?: readonly MlstmKernel[] }>(
      "../kernels/mod.ts",
    );
    if (kernelsMod?.webgpuKernels) {
      const fresh = kernelsMod.webgpuKernels.filter((k) =>
        !getAvailableMlstmKernels().includes(k.name)
      );
      registerMlstmKernels(fresh);
    }
    const runtime = await tryImport<RuntimeModule>("../kernels/runtime.ts");
    const gpu = await getBenchGpu();
    if (gpu) registerMlstmKernels([toyKernel(gpu)]);
    return { gpu, runtime };
  })();
  return loaded;
}

const dispose = (t: unknown) => {
  const o = t as { dispose?: () => void; destroy?: () => void } | null;
  if (o && typeof o === "object") {
    if (typeof o.dispose === "function") o.dispose();
    else if (typeof o.destroy === "function") o.destroy();
  }
};

/** Disposes every device tensor in a kernel result (h, last states, gradients). */
export function disposeResult(r: unknown): void {
  if (!r || typeof r !== "object") return;
  for (const v of Object.values(r)) {
    if (v && typeof v === "object" && "shape" in v) dispose(v);
    else if (v && typeof v === "object") disposeResult(v);
  }
}

/** Disposes uploaded inputs. */
export const disposeInputs: (x: MlstmInputs) => void = disposeResult;

/** The target for a registered kernel name. */
export async function kernelTarget(name: string): Promise<KernelTarget> {
  const { gpu, runtime } = await loadKernels();
  const kernel = getMlstmKernel(name);
  if (kernel.backend === "cpu-float64") {
    return {
      kernel,
      gpu: null,
      upload: (x) => Promise.resolve(x),
      uploadTensor: (t) => Promise.resolve(t),
      sync: () => Promise.resolve(),
    };
  }
  if (kernel.name.startsWith("toy--")) {
    if (!gpu) throw new Error("toy--copy_v needs a GPU");
    const up = (t: Tensor) => new ToyTensor(gpu, t.shape, t.data);
    return {
      kernel,
      gpu,
      upload: (x) => Promise.resolve(mapInputs(x, up)),
      uploadTensor: (t) => Promise.resolve(up(t)),
      sync: () => gpu.device.queue.onSubmittedWorkDone(),
    };
  }
  // A runtime kernel: the runtime owns its device and tensors.
  const rgpu = runtime?.getGpu ? await runtime.getGpu() : null;
  const make = runtime?.GpuTensor?.fromTensor ?? runtime?.GpuTensor?.upload;
  if (!rgpu || !make) {
    throw new Error(
      `Kernel ${name} is a WebGPU kernel but kernels/runtime.ts exports no getGpu/GpuTensor.fromTensor`,
    );
  }
  const up = (t: Tensor, dtype: "f32" | "f16") => make(rgpu, t, dtype);
  return {
    kernel,
    gpu: rgpu,
    upload: (x, dtype) => Promise.resolve(mapInputs(x, (t) => up(t, dtype))),
    uploadTensor: (t, dtype) => Promise.resolve(up(t, dtype)),
    sync: () => rgpu.device.queue.onSubmittedWorkDone(),
  };
}

function mapInputs<T>(x: MlstmInputs<Tensor>, f: (t: Tensor) => T): MlstmInputs<T> {
  const out: Partial<MlstmInputs<T>> = {};
  for (const [k, v] of Object.entries(x) as [keyof MlstmInputs, Tensor | undefined][]) {
    if (v !== undefined) out[k] = f(v);
  }
  return out as MlstmInputs<T>;
}

/** Shape of the inputs of one configuration. */
export interface InputShape {
  B: number;
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
}

/**
 * Inputs for timing. CPU kernels get the seeded float64 inputs of the test suite; GPU kernels
 * get float32 arrays from a fast generator (values only need to be finite and gate-typical:
 * q, k, v ~ U(-1.7, 1.7), i ~ U(-1, 1), f ~ 3 + U(-1, 1)), because the sweep's large shapes hold
 * hundreds of millions of elements. Step kernels also get initial states.
 */
export function benchInputs(
  shape: InputShape,
  seed: number,
  opts: { float64: boolean; withStates: boolean },
): MlstmInputs<Tensor> {
  if (opts.float64) {
    return randomMlstmInputs({ ...shape, withInitialStates: opts.withStates }, new Random(seed));
  }
  const { B, NH, S, DQK, DHV } = shape;
  let s = (seed * 2654435761 + 1) >>> 0;
  const fill = (n: number, lo: number, hi: number) => {
    const a = new Float32Array(n);
    const w = (hi - lo) / 4294967296;
    for (let j = 0; j < n; j++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      a[j] = lo + (s >>> 0) * w;
    }
    return a;
  };
  const t = (shapeOf: number[], lo: number, hi: number): Tensor => ({
    shape: shapeOf,
    data: fill(shapeOf.reduce((a, b) => a * b, 1), lo, hi),
  });
  const x: MlstmInputs<Tensor> = {
    q: t([B, NH, S, DQK], -1.7, 1.7),
    k: t([B, NH, S, DQK], -1.7, 1.7),
    v: t([B, NH, S, DHV], -1.7, 1.7),
    i: t([B, NH, S], -1, 1),
    f: t([B, NH, S], 2, 4),
  };
  if (opts.withStates) {
    x.cInitial = t([B, NH, DQK, DHV], -0.5, 0.5);
    x.nInitial = t([B, NH, DQK], -0.5, 0.5);
    x.mInitial = t([B, NH], -1, 1);
  }
  return x;
}
