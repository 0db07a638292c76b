/**
 * The float64 references as registry kernels: `reference--recurrent`, `reference--parallel`,
 * `reference--chunkwise` and their `_siging` (sigmoid input gate) twins.
 *
 * @module
 */

import type { InputGate, MlstmForm, MlstmKernel } from "../core/types.ts";
import { mlstmChunkwiseBackwardReference, mlstmChunkwiseReference } from "./chunkwise.ts";
import { mlstmParallelBackwardReference, mlstmParallelReference } from "./parallel.ts";
import { mlstmRecurrentBackwardReference, mlstmRecurrentReference } from "./recurrent.ts";

const forms = {
  recurrent: [mlstmRecurrentReference, mlstmRecurrentBackwardReference, true],
  parallel: [mlstmParallelReference, mlstmParallelBackwardReference, false],
  chunkwise: [mlstmChunkwiseReference, mlstmChunkwiseBackwardReference, true],
} as const;

function make(form: keyof typeof forms, gate: InputGate): MlstmKernel {
  const [fw, bw, supportsStates] = forms[form];
  return {
    name: `reference--${form}${gate === "sig" ? "_siging" : ""}`,
    backend: "cpu-float64",
    form: form as MlstmForm,
    inputGate: gate,
    supportsStates,
    forward: (inputs, options) => fw(inputs, options, gate),
    backward: (inputs, dh, options) => bw(inputs, dh, options, gate),
  };
}

/**
 * Every float64 reference kernel, exponential gate first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { referenceKernels } from "./kernels.ts";
 * assert.ok(referenceKernels.some((k) => k.name === "reference--parallel_siging"));
 * ```
 */
export const referenceKernels: readonly MlstmKernel[] = (["exp", "sig"] as const).flatMap((g) =>
  (["recurrent", "parallel", "chunkwise"] as const).map((f) => make(f, g))
);
