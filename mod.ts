/**
 * mLSTM (xLSTM) sequence kernels on WebGPU, with float64 CPU references of every form.
 *
 * Kernels are found by name through the registry (`getMlstmKernel`), with the names of the
 * `mlstm_kernels` Python package; each takes `{ q, k, v, i, f, cInitial?, nInitial?, mInitial? }`
 * and resolves to `{ h, last? }`.
 *
 * @example Run a float64 reference by name
 * ```ts
 * import assert from "node:assert/strict";
 * import * as mlstm from "./mod.ts";
 * const rng = new mlstm.Random(0);
 * const x = mlstm.randomMlstmInputs({ B: 1, NH: 2, S: 9, DQK: 4, DHV: 8 }, rng);
 * const { h } = await mlstm.getMlstmKernel("reference--chunkwise").forward(x, { chunkSize: 4 });
 * assert.ok(h.shape.join() === "1,2,9,8");
 * ```
 *
 * @module
 */

import { registerMlstmKernels } from "./core/registry.ts";
import { referenceKernels } from "./reference/kernels.ts";
import { webgpuKernels } from "./kernels/mod.ts";
import { registerSlstmKernels } from "./core/slstm_registry.ts";
import { slstmReferenceKernel } from "./reference/slstm.ts";
import { slstmKernels } from "./kernels/slstm/mod.ts";

registerMlstmKernels(referenceKernels);
registerMlstmKernels(webgpuKernels);
registerSlstmKernels([slstmReferenceKernel, ...slstmKernels]);

export * from "./core/tensor.ts";
export * from "./core/random.ts";
export * from "./core/types.ts";
export * from "./core/validate.ts";
export * from "./core/metrics.ts";
export * from "./core/inputs.ts";
export * from "./core/documents.ts";
export { getAvailableMlstmKernels, getMlstmKernel, registerMlstmKernels } from "./core/registry.ts";
export * from "./reference/mod.ts";
export * from "./kernels/backend.ts";
export * from "./kernels/mod.ts";
export type * from "./core/slstm_types.ts";
export * from "./core/slstm_validate.ts";
export {
  getAvailableSlstmKernels,
  getSlstmKernel,
  registerSlstmKernels,
} from "./core/slstm_registry.ts";
export * from "./kernels/slstm/mod.ts";
export * from "./models/xlstm_large/mod.ts";
