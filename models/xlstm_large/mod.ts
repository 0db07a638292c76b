/**
 * xLSTM Large (the xLSTM 7B architecture): configuration, weight names, the float64 reference
 * model, the WebGPU forward and the `XlstmLarge` class with its backends ("webgpu", "reference").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XLSTM_7B_CONFIG, XlstmLarge } from "./mod.ts";
 * assert.equal(XLSTM_7B_CONFIG.ffnDim, 10944);
 * const m = await XlstmLarge.random({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 }, { backend: "reference" });
 * assert.deepEqual((await m.forward([[0, 1, 2]])).logits.shape, [1, 3, 7]);
 * ```
 *
 * @module
 */

export * from "./config.ts";
export * from "./weights.ts";
export * from "./reference.ts";
export * from "./checkpoint.ts";
export * from "./model.ts";
export * from "./webgpu.ts";
export * from "./random_init.ts";
export * from "./generate.ts";
export { XlstmLargeDecoder } from "./decode.ts";
export {
  getXlstmLargeBackend,
  registerXlstmLargeBackend,
  type XlstmLargeBackend,
  type XlstmLargeBlockState,
  type XlstmLargeDtype,
  type XlstmLargeImpl,
  type XlstmLargeImplOptions,
  type XlstmLargeImplResult,
  type XlstmLargeState,
  type XlstmLargeWeight,
} from "./_impl.ts";
