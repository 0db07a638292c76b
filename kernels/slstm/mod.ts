/**
 * The sLSTM on WebGPU (SPEC §8): `slstm--fused`, forward and backward through time, each a
 * handful of dispatches in one command buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slstmKernels } from "./mod.ts";
 * assert.ok(slstmKernels.map((k) => k.name).join() === "slstm--fused");
 * ```
 *
 * @module
 */

import type { SlstmKernel } from "../../core/slstm_types.ts";
import { slstmFusedKernel } from "./fused.ts";

export {
  setSlstmMaxSlice,
  slstmBackwardWebGpu,
  slstmForwardWebGpu,
  slstmFusedKernel,
  slstmLoopParams,
} from "./fused.ts";
export type { RPlace, SlstmLoopParams } from "./_wgsl.ts";

/** The WebGPU sLSTM kernels, as registered under their names. */
export const slstmKernels: readonly SlstmKernel[] = [slstmFusedKernel];
