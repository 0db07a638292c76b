// Host CPU time per decoding step, old vs new encoding paths (shared by bench/decode_cpu_bench.ts
// and bench/generate_bench.ts).

import { DispatchBatch, type Gpu, setBindGroupCache, waitIdle } from "../kernels/runtime.ts";
import { createSamplerState, encodeSampling } from "../kernels/layers/sampling.ts";
import { createXlstmLargeConfig } from "../models/xlstm_large/config.ts";
import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "../models/xlstm_large/webgpu.ts";
import { XlstmLargeDecoder } from "../models/xlstm_large/decode.ts";

/** One variant's result. */
export interface DecodeCpuResult {
  /** "old", "cache" or "new". */
  variant: string;
  /** Dispatches per step (step + greedy token choice). */
  dispatchesPerStep: number;
  /** CPU ms per step, one figure per round. */
  msPerStep: number[];
}

/**
 * Measures the host CPU time per decoding step for a model of `blocks` blocks at tiny widths:
 * "old" = unfused step (9 dispatches per block), bind groups made per command buffer; "cache" =
 * unfused step with kept bind groups and validations; "new" = the fused step (6 per block) with
 * kept bind groups. Rounds alternate the variants, so that they see the same machine load.
 */
export async function measureDecodeCpu(
  gpu: Gpu,
  o: {
    blocks: number;
    vocab: number;
    B: number;
    stepsPerSubmit: number;
    submits: number;
    rounds: number;
  },
): Promise<DecodeCpuResult[]> {
  const config = createXlstmLargeConfig({
    vocabSize: o.vocab,
    embeddingDim: 32,
    numBlocks: o.blocks,
    numHeads: 2,
    bosTokenId: 0,
  });
  const model = await webgpuXlstmLargeBackend.random!(config, {
    dtype: "f16",
    seed: 1,
  }) as XlstmLargeWebgpu;
  const K = o.stepsPerSubmit;
  const variants = [
    { variant: "old", cache: false, fused: false },
    { variant: "cache", cache: true, fused: false },
    { variant: "new", cache: true, fused: true },
  ];
  const results = variants.map((v) => ({
    variant: v.variant,
    dispatchesPerStep: 0,
    msPerStep: [] as number[],
  }));
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const [j, v] of variants.entries()) {
        setBindGroupCache(v.cache);
        const dec = new XlstmLargeDecoder(model, o.B, { fused: v.fused });
        const sampler = createSamplerState(
          gpu,
          o.B,
          config.vocabSize,
          K * (o.submits + 1),
          "greedy",
          {
            ids: dec.ids.buffer,
          },
        );
        let cpu = 0;
        for (let s = 0; s <= o.submits; s++) {
          const c0 = performance.now();
          const batch = new DispatchBatch(gpu);
          for (let k = 0; k < K; k++) {
            await dec.encodeStep(batch);
            await encodeSampling(batch, dec.logits, sampler);
          }
          const n = batch.dispatchCount;
          const submit = await batch.prepare();
          // The first command buffer compiles pipelines and records the step: not counted.
          if (s > 0) cpu += performance.now() - c0;
          results[j]!.dispatchesPerStep = n / K;
          await submit();
          await waitIdle(gpu);
        }
        sampler.destroy();
        dec.destroy();
        results[j]!.msPerStep.push(cpu / (K * o.submits));
      }
    }
  } finally {
    setBindGroupCache(true);
    model.destroy();
  }
  return results;
}
