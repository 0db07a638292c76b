/**
 * Training step entry: {@linkcode forwardBackward} runs a kernel's forward pass and its backward
 * pass back to back on the GPU, keeping everything on the device in between.
 *
 * @module
 */

import { getAvailableMlstmKernels, getMlstmKernel } from "../core/registry.ts";
import type { Tensor } from "../core/tensor.ts";
import type {
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
  MlstmStates,
  TensorLike,
} from "../core/types.ts";
import { isCpuTensor, validateDh, validateMlstmInputs } from "../core/validate.ts";
import { toDevice } from "./_common.ts";
import { attachBackwards } from "./backward/backward.ts";
import { chunkwiseKernels } from "./chunkwise/mod.ts";
import { parallelKernels } from "./parallel.ts";
import { recurrentKernels } from "./recurrent.ts";
import { GpuTensor, readTensors } from "./runtime.ts";

/** What {@linkcode forwardBackward} resolves to. */
export interface ForwardBackwardResult<T = TensorLike> {
  /** The forward output (B, NH, S, DHV). */
  h: T;
  /** The last states, when `returnLastStates` was set. */
  last?: MlstmStates<T>;
  /** The gradients of the loss whose output gradient is `dh`. */
  grads: MlstmGradients<T>;
}

const own = new Map<string, MlstmKernel>(
  attachBackwards([...recurrentKernels, ...parallelKernels, ...chunkwiseKernels]).map((
    k,
  ) => [k.name, k]),
);

function resolveKernel(name: string): MlstmKernel {
  let k: MlstmKernel | undefined;
  try {
    k = getMlstmKernel(name);
  } catch {
    k = undefined;
  }
  if (!k?.backward) k = own.get(name) ?? k;
  if (!k) {
    throw new RangeError(
      `Unknown mLSTM kernel ${JSON.stringify(name)}; kernels with a backward pass: ${
        withBackward().join(", ")
      }`,
    );
  }
  if (!k.backward) {
    throw new TypeError(
      `Kernel ${name} has no backward pass; kernels with one: ${withBackward().join(", ")}`,
    );
  }
  return k;
}

function withBackward(): string[] {
  const names = [...own.values()].filter((k) => k.backward).map((k) => k.name);
  for (const n of getAvailableMlstmKernels()) {
    if (getMlstmKernel(n).backward && !names.includes(n)) names.push(n);
  }
  return names;
}

/**
 * Runs the forward pass of a kernel and then its backward pass for the output gradient `dh`, with
 * the same options (so they cannot disagree). For a WebGPU kernel the inputs are uploaded once,
 * h (and the last states) stay on the GPU, the backward reads the same device inputs, and nothing
 * is read back between the two passes: CPU inputs give CPU results, read back together at the end
 * (one GPU wait); GpuTensor inputs give GpuTensors. The backward recomputes the per-row normalizer
 * statistics and the chunk-boundary states from the inputs, so the forward needs to keep nothing
 * else. Float64 reference kernels (`reference--*`) run both passes on the CPU.
 *
 * @example One training step of the parallel kernel
 * ```ts ignore
 * import { forwardBackward } from "./train.ts";
 * import { Random, randomMlstmInputs, randomTensor } from "../mod.ts";
 * const rng = new Random(0);
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 9, DQK: 8, DHV: 8 }, rng);
 * const { h, grads } = await forwardBackward("parallel--stablef", x, randomTensor([1, 2, 9, 8], rng));
 * console.assert(h.shape.join() === "1,2,9,8" && grads.df.shape.join() === "1,2,9");
 * ```
 *
 * @param kernelName A kernel with a backward pass, e.g. `"chunkwise--xl_chunk"`.
 * @param inputs q, k, v, i, f and optional initial states.
 * @param dh Gradient of the loss with respect to h, (B, NH, S, DHV).
 * @param options Forward options (`chunkSize`, `eps`, `normalize`, `dtype`, `returnLastStates`)
 *   plus `gradient` ("exact" by default).
 * @returns h, the last states when asked for, and the gradients.
 * @throws {RangeError} For an unknown kernel or a dh of the wrong shape.
 * @throws {TypeError} For a kernel without a backward pass or options its forward rejects.
 */
export async function forwardBackward(
  kernelName: string,
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmOptions = {},
): Promise<ForwardBackwardResult> {
  const kernel = resolveKernel(kernelName);
  const dims = validateMlstmInputs(inputs, options);
  validateDh(dh, dims);
  if (kernel.backend !== "webgpu") {
    const fw = await kernel.forward(inputs, options);
    const grads = await kernel.backward!(inputs, dh, options);
    return { ...fw, grads };
  }
  const x = await toDevice(inputs, options, {
    c: inputs.cInitial,
    n: inputs.nInitial,
    m: inputs.mInitial,
  });
  const dev: MlstmInputs = { q: x.q, k: x.k, v: x.v, i: x.i, f: x.f };
  if (x.c) {
    dev.cInitial = x.c;
    dev.nInitial = x.n!;
    dev.mInitial = x.m!;
  }
  let dhG: TensorLike = dh;
  if (x.cpu) {
    if (!isCpuTensor(dh)) {
      throw new TypeError(
        "Argument dh is a GpuTensor but the inputs are CPU tensors: pass both alike",
      );
    }
    dhG = GpuTensor.fromTensor(x.gpu, dh as Tensor, x.dtype);
  }
  const devOptions: MlstmOptions = { ...options };
  delete devOptions.dtype;
  try {
    const fw: MlstmForwardResult = await kernel.forward(dev, devOptions);
    const grads = await kernel.backward!(dev, dhG, devOptions);
    if (!x.cpu) return { ...fw, grads };
    return await readBack(fw, grads);
  } finally {
    if (x.cpu) {
      for (const t of x.temps) t.destroy();
      (dhG as GpuTensor).destroy();
    }
  }
}

async function readBack(
  fw: MlstmForwardResult,
  grads: MlstmGradients,
): Promise<ForwardBackwardResult<Tensor>> {
  const named: [string, GpuTensor][] = [["h", fw.h as GpuTensor]];
  if (fw.last) {
    named.push(["c", fw.last.c as GpuTensor], ["n", fw.last.n as GpuTensor]);
    named.push(["m", fw.last.m as GpuTensor]);
  }
  for (const [k, t] of Object.entries(grads)) if (t) named.push([`d:${k}`, t as GpuTensor]);
  const read = await readTensors(named.map(([, t]) => t));
  for (const [, t] of named) t.destroy();
  const get = (k: string) => read[named.findIndex(([n]) => n === k)]!;
  const g: Record<string, Tensor> = {};
  for (const [k] of named) if (k.startsWith("d:")) g[k.slice(2)] = get(k);
  const out: ForwardBackwardResult<Tensor> = {
    h: get("h"),
    grads: g as unknown as MlstmGradients<Tensor>,
  };
  if (fw.last) out.last = { c: get("c"), n: get("n"), m: get("m") };
  return out;
}
