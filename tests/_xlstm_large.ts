// Small xLSTM Large configurations and prompts shared by the model and generation tests.

import { createXlstmLargeConfig, type XlstmLargeConfig } from "../models/xlstm_large/config.ts";
import { rngOf } from "./_seed.ts";

/** Two small configurations with chunk size 16 (S = 37 spans three chunks). */
export const SMALL_CONFIGS: Record<"even" | "odd", XlstmLargeConfig> = {
  // vec4-friendly sizes.
  even: createXlstmLargeConfig({
    vocabSize: 97,
    embeddingDim: 32,
    numBlocks: 2,
    numHeads: 2,
    qkDim: 16,
    vDim: 32,
    ffnDim: 48,
    chunkSize: 16,
  }),
  // Odd sizes: K not a multiple of 4 in every GEMM, odd heads.
  odd: createXlstmLargeConfig({
    vocabSize: 53,
    embeddingDim: 30,
    numBlocks: 2,
    numHeads: 3,
    qkDim: 24,
    vDim: 36,
    ffnDim: 42,
    chunkSize: 16,
  }),
};

/** B prompts of S token ids below V, seeded (offset by MLSTM_TEST_SEED). */
export function randomIds(B: number, S: number, V: number, seed: number): number[][] {
  const rng = rngOf(seed);
  return Array.from(
    { length: B },
    () => Array.from({ length: S }, () => Math.floor(rng.uniform(0, V))),
  );
}
