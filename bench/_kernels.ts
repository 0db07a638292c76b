// Kernel plumbing for benchmarks and sweeps: registers the toy GPU kernel beside the registry's
// kernels when a GPU is present and hides how inputs reach each backend.

import { getAvailableMlstmKernels, getMlstmKernel, registerMlstmKernels } from "../mod.ts";
import { randomMlstmInputs } from "../core/inputs.ts";
import { Random } from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import type { MlstmInputs, MlstmKernel, TensorLike } from "../core/types.ts";
import { type Gpu, GpuTensor, releaseBufferPool } from "../kernels/runtime.ts";
import { releaseChunkwiseScratch } from "../kernels/chunkwise/mod.ts";
import { getBenchGpu, toyKernel } from "./_gpu.ts";

/** How a benchmark drives one kernel. */
export interface KernelTarget {
  readonly kernel: MlstmKernel;
  /** The device the kernel dispatches on (for the profiler), or null for CPU kernels. */
  readonly gpu: Gpu | null;
  /** Puts CPU inputs where the kernel wants them (untimed). */
  upload(x: MlstmInputs<Tensor>, dtype: "f32" | "f16"): MlstmInputs;
  /** Puts one CPU tensor where the kernel wants it (dh for backward). */
  uploadTensor(t: Tensor, dtype: "f32" | "f16"): TensorLike;
  /** Waits until all submitted GPU work is done (no-op for CPU kernels). */
  sync(): Promise<void>;
}

let loaded: Promise<{ gpu: Gpu | null }> | undefined;

/**
 * Frees what kernels keep on a device between calls (chunkwise gate statistics and
 * chunk-boundary states, the free buffers of the buffer pool), so that a configuration's peak
 * memory does not include the previous configuration's.
 */
export function releaseKernelScratch(gpu: Gpu): void {
  releaseChunkwiseScratch(gpu);
  releaseBufferPool(gpu);
}

/**
 * Registers the kernels, once: float64 references and WebGPU kernels (both registered by
 * mod.ts), and `toy--copy_v` when a GPU is present.
 */
export function loadKernels(): Promise<{ gpu: Gpu | null }> {
  loaded ??= (async () => {
    const gpu = await getBenchGpu();
    if (gpu && !getAvailableMlstmKernels().includes("toy--copy_v")) {
      registerMlstmKernels([toyKernel(gpu)]);
    }
    return { gpu };
  })();
  return loaded;
}

const dispose = (t: unknown) => {
  const o = t as { dispose?: () => void; destroy?: () => void } | null;
  if (o && typeof o === "object") {
    if (typeof o.destroy === "function") o.destroy();
    else if (typeof o.dispose === "function") o.dispose();
  }
};

/** Destroys every device tensor in a kernel result (h, last states, gradients). */
export function disposeResult(r: unknown): void {
  if (!r || typeof r !== "object") return;
  if (r instanceof GpuTensor) return r.destroy();
  for (const v of Object.values(r)) {
    if (v instanceof GpuTensor) v.destroy();
    else if (v && typeof v === "object" && !("data" in v)) disposeResult(v);
    else dispose(v);
  }
}

/** Destroys uploaded inputs. */
export const disposeInputs: (x: MlstmInputs) => void = disposeResult;

/** The target for a registered kernel name. */
export async function kernelTarget(name: string): Promise<KernelTarget> {
  const { gpu } = await loadKernels();
  const kernel = getMlstmKernel(name);
  if (kernel.backend === "cpu-float64") {
    return {
      kernel,
      gpu: null,
      upload: (x) => x,
      uploadTensor: (t) => t,
      sync: () => Promise.resolve(),
    };
  }
  if (!gpu) throw new Error(`No WebGPU adapter: kernel ${name} cannot run`);
  const up = (t: Tensor, dtype: "f32" | "f16") => GpuTensor.fromTensor(gpu, t, dtype);
  return {
    kernel,
    gpu,
    upload: (x, dtype) => mapInputs(x, (t, key) => up(t, isGate(key) ? "f32" : dtype)),
    uploadTensor: (t, dtype) => up(t, dtype),
    sync: () => gpu.device.queue.onSubmittedWorkDone(),
  };
}

const isGate = (key: string) => key === "i" || key === "f" || key.endsWith("Initial");

function mapInputs<T>(x: MlstmInputs<Tensor>, f: (t: Tensor, key: string) => T): MlstmInputs<T> {
  const out: Partial<MlstmInputs<T>> = {};
  for (const [k, v] of Object.entries(x) as [keyof MlstmInputs, Tensor | undefined][]) {
    if (v !== undefined) out[k] = f(v, k);
  }
  return out as MlstmInputs<T>;
}

/**
 * Inputs of one training step on a target: the timing inputs (seed 0, no states) and an upstream
 * gradient dh (seed 1), uploaded in `dtype`; `dispose` destroys both.
 */
export function trainingInputs(
  t: KernelTarget,
  shape: InputShape,
  dtype: "f32" | "f16",
): { x: MlstmInputs; dh: TensorLike; dispose(): void } {
  const float64 = t.gpu === null;
  const x = t.upload(benchInputs(shape, 0, { float64, withStates: false }), dtype);
  const dh = t.uploadTensor(
    benchInputs({ ...shape, DQK: 1 }, 1, { float64, withStates: false }).v,
    dtype,
  );
  return {
    x,
    dh,
    dispose: () => {
      disposeInputs(x);
      disposeResult(dh);
    },
  };
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
  // The last few input sets are kept: a sweep measures several kernels on the same shape, and
  // drawing hundreds of millions of elements takes seconds.
  const { B, NH, S, DQK, DHV } = shape;
  const key = JSON.stringify([B, NH, S, DQK, DHV, seed, opts.float64, opts.withStates]);
  const hit = inputCache.get(key);
  if (hit) return hit;
  const x = drawInputs(shape, seed, opts);
  inputCache.set(key, x);
  while (inputCache.size > 3) inputCache.delete(inputCache.keys().next().value!);
  return x;
}

const inputCache = new Map<string, MlstmInputs<Tensor>>();

function drawInputs(
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
