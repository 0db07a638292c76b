/**
 * The WebGPU side of the toolkit: the runtime (device, tensors, pipelines, dispatch batches, the
 * profiler hook) and the WebGPU kernels, registered under their SPEC names.
 *
 * @example List the WebGPU kernels
 * ```ts
 * import { webgpuKernels } from "./mod.ts";
 * console.assert(webgpuKernels.some((k) => k.name === "parallel--stablef"));
 * ```
 *
 * @module
 */

import type { MlstmKernel } from "../core/types.ts";
import { parallelKernels } from "./parallel.ts";
import { recurrentKernels } from "./recurrent.ts";
import { chunkwiseKernels } from "./chunkwise/mod.ts";
import { attachBackwards } from "./backward/backward.ts";

export * from "./runtime.ts";
export * from "./chunkwise/mod.ts";
export * from "./backward/backward.ts";
export * from "./train.ts";
export * from "./layers/mod.ts";
export type {
  DeviceTensor,
  GradientConvention,
  InputGate,
  MlstmForm,
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
  MlstmStates,
  TensorLike,
} from "../core/types.ts";
export type { Tensor, TensorData } from "../core/tensor.ts";
export {
  mlstmRecurrentResidentWebGpu,
  mlstmRecurrentWebGpu,
  mlstmStepWebGpu,
  recurrentKernels,
  setStepKernelTiles,
  type StepInputsLike,
  type StepKernelParams,
  stepKernelParams,
  type StepKernelTiles,
  type StepResult,
  stepWgsl,
} from "./recurrent.ts";
export {
  mlstmParallelWebGpu,
  type ParallelKernelParams,
  parallelKernelParams,
  parallelKernels,
  parallelWgsl,
  setParallelKernelUnroll,
} from "./parallel.ts";

/**
 * Every WebGPU kernel of the toolkit, for `registerMlstmKernels`.
 *
 * @example
 * ```ts
 * import { webgpuKernels } from "./mod.ts";
 * console.assert(webgpuKernels.every((k) => k.backend === "webgpu"));
 * ```
 */
export const webgpuKernels: readonly MlstmKernel[] = attachBackwards([
  ...recurrentKernels,
  ...parallelKernels,
  ...chunkwiseKernels,
]);
