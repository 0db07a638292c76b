/**
 * The sLSTM kernel registry: `reference--slstm` (float64, CPU) and `slstm--fused` (WebGPU), each by
 * its name (the toolkit registers both at import of `mod.ts`).
 *
 * @module
 */

import type { SlstmKernel } from "./slstm_types.ts";

const kernels = new Map<string, SlstmKernel>();

/**
 * Adds sLSTM kernels to the registry (a kernel of the same name is replaced).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getSlstmKernel, registerSlstmKernels } from "./slstm_registry.ts";
 * import { slstmReferenceKernel } from "../reference/slstm.ts";
 * registerSlstmKernels([slstmReferenceKernel]);
 * assert.ok(getSlstmKernel("reference--slstm").backend === "cpu-float64");
 * ```
 *
 * @param list The kernels.
 */
export function registerSlstmKernels(list: readonly SlstmKernel[]): void {
  for (const k of list) kernels.set(k.name, k);
}

/**
 * Names of all registered sLSTM kernels, in registration order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getAvailableSlstmKernels } from "../mod.ts";
 * assert.deepEqual(getAvailableSlstmKernels(), ["reference--slstm", "slstm--fused"]);
 * ```
 *
 * @returns The names.
 */
export function getAvailableSlstmKernels(): string[] {
  return [...kernels.keys()];
}

/**
 * An sLSTM kernel by name: `"slstm--fused"` (WebGPU) or `"reference--slstm"` (float64).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getSlstmKernel, Random, randomSlstmInputs } from "../mod.ts";
 * const x = randomSlstmInputs({ B: 1, S: 5, NH: 2, DH: 3 }, new Random(0));
 * const { y } = await getSlstmKernel("reference--slstm").forward(x);
 * assert.ok(y.shape.join() === "1,5,2,3");
 * assert.throws(() => getSlstmKernel("slstm--cuda"), RangeError);
 * ```
 *
 * @param name The registry name.
 * @returns The kernel.
 * @throws {RangeError} For an unknown name; the message lists the available names.
 */
export function getSlstmKernel(name: string): SlstmKernel {
  const k = kernels.get(name);
  if (k === undefined) {
    throw new RangeError(
      `Unknown sLSTM kernel ${JSON.stringify(name)}; available: ${[...kernels.keys()].join(", ")}`,
    );
  }
  return k;
}
