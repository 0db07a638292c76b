/**
 * Float64 CPU references of every mLSTM form: the oracle every kernel is cross-checked against.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlstmParallelReference } from "./mod.ts";
 * const z = (...s: number[]) => ({ shape: s, data: new Float64Array(s.reduce((a, b) => a * b, 1)) });
 * const { h } = await mlstmParallelReference({ q: z(1, 1, 2, 2), k: z(1, 1, 2, 2), v: z(1, 1, 2, 2), i: z(1, 1, 2), f: z(1, 1, 2) });
 * assert.ok(h.data.every((x) => x === 0));
 * ```
 *
 * @module
 */

export * from "./recurrent.ts";
export * from "./parallel.ts";
export * from "./chunkwise.ts";
export * from "./kernels.ts";
export * from "./slstm.ts";
export * from "./layers.ts";
