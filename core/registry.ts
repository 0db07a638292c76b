/**
 * The kernel registry: every kernel of the toolkit by its SPEC name.
 *
 * @module
 */

import type { MlstmKernel } from "./types.ts";

const kernels = new Map<string, MlstmKernel>();

/**
 * Adds kernels to the registry (the toolkit registers its own at import of `mod.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getMlstmKernel, registerMlstmKernels } from "./registry.ts";
 * import { referenceKernels } from "../reference/kernels.ts";
 * registerMlstmKernels(referenceKernels);
 * assert.ok(getMlstmKernel("reference--parallel").form === "parallel");
 * ```
 *
 * @param list The kernels.
 */
export function registerMlstmKernels(list: readonly MlstmKernel[]): void {
  for (const k of list) kernels.set(k.name, k);
}

/**
 * Names of all registered kernels, in registration order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getAvailableMlstmKernels } from "../mod.ts";
 * assert.ok(getAvailableMlstmKernels().includes("reference--chunkwise"));
 * ```
 *
 * @returns The names.
 */
export function getAvailableMlstmKernels(): string[] {
  return [...kernels.keys()];
}

/**
 * A kernel by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getMlstmKernel } from "../mod.ts";
 * const k = getMlstmKernel("reference--recurrent");
 * assert.ok(k.supportsStates && typeof k.backward === "function");
 * ```
 *
 * @param name The registry name, e.g. `"chunkwise--xl_chunk"`.
 * @returns The kernel.
 * @throws {RangeError} For an unknown name; the message lists the available names.
 */
export function getMlstmKernel(name: string): MlstmKernel {
  const k = kernels.get(name);
  if (k === undefined) {
    throw new RangeError(
      `Unknown mLSTM kernel ${JSON.stringify(name)}; available: ${[...kernels.keys()].join(", ")}`,
    );
  }
  return k;
}
