/**
 * The layer kernels of the models on WebGPU (one file per kernel family): the prefill GEMM with
 * fused epilogues, the row norms (RMSNorm, per-head LayerNorm with the output gate), elementwise
 * ops (SwiGLU, sigmoid gate, residual add, soft-cap), the embedding gather, the head split of the
 * fused mLSTM projection, and the counter-based random fill. Each has a float64 twin in
 * reference/layers.ts and a cross-check in tests/layers_test.ts.
 *
 * @example
 * ```ts
 * import { gemmWgsl } from "./mod.ts";
 * console.assert(gemmWgsl({ K: 8, N: 8, ldY: 8, wDtype: "f32", bias: false, epilogue: "none", cap: 0, TM: 4, TN: 4, BK: 16 }).length > 0);
 * ```
 *
 * @module
 */

export * from "./gemm.ts";
export * from "./norm.ts";
export * from "./elementwise.ts";
export * from "./gather.ts";
export * from "./heads.ts";
export * from "./random.ts";
export * from "./matvec.ts";
export * from "./sampling.ts";
