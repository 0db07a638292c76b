/**
 * The browser entry point (bundled into `dist/mlstm.js` by `deno task bundle`): everything in
 * `mod.ts` (tensors, references, WebGPU kernels, the backend) plus the profiling hooks. It imports
 * nothing that needs Deno (`Deno.*`, files, subprocesses): modules that do belong behind their own
 * entry points (e.g. an `io/` export for reading weight files) and must not be imported from here
 * or from `mod.ts`; `tests/bundle_test.ts` fails if the bundle refers to `Deno.`.
 *
 * @example Run a float64 reference in any JavaScript runtime
 * ```ts
 * import assert from "node:assert/strict";
 * import * as mlstm from "./browser.ts";
 * const x = mlstm.randomMlstmInputs({ B: 1, NH: 1, S: 5, DQK: 4, DHV: 4 }, new mlstm.Random(1));
 * const { h } = await mlstm.getMlstmKernel("reference--recurrent").forward(x);
 * assert.deepEqual(h.shape, [1, 1, 5, 4]);
 * ```
 *
 * @module
 */

export * from "./mod.ts";
export * from "./profiling/mod.ts";
