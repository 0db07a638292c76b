// Generation with xLSTM Large (models/xlstm_large/decode.ts, generate.ts): the decoding step
// (matvec kernels + step--fused, states in place) against the float64 model's logits at every
// position (f32 and f16 weights, B = 1 and 3, odd sizes), greedy `generate` equal to the loop that
// runs `forward` on the growing sequence and takes the CPU argmax (WebGPU and the float64
// backend), sampling reproducible by seed and equal to the CPU twin's choices, EOS stopping per
// sequence, the state continuing a chat, streaming blocks, and bad options.

import assert from "node:assert/strict";
import type { Tensor } from "../core/tensor.ts";
import { createXlstmLargeConfig, type XlstmLargeConfig } from "../models/xlstm_large/config.ts";
import { registerXlstmLargeBackend, type XlstmLargeDtype } from "../models/xlstm_large/_impl.ts";
import { referenceBackend } from "../models/xlstm_large/reference.ts";
import { hashRandomXlstmLargeWeights } from "../models/xlstm_large/random_init.ts";
import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "../models/xlstm_large/webgpu.ts";
import { XlstmLargeDecoder } from "../models/xlstm_large/decode.ts";
import { XlstmLarge } from "../models/xlstm_large/model.ts";
import { argmaxReference } from "../reference/sampling.ts";
import { DispatchBatch, setBindGroupCache, setPoisonOutputs } from "../kernels/runtime.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { randomIds, SMALL_CONFIGS } from "./_xlstm_large.ts";

const ignore = await gpuMissing();
registerXlstmLargeBackend(webgpuXlstmLargeBackend);
setPoisonOutputs(true);

const configs: Record<string, XlstmLargeConfig> = SMALL_CONFIGS;

// Wide heads (DQK 128, DHV 64): the decode step kernel's 64 row groups and narrow column tiles.
const wide = createXlstmLargeConfig({
  vocabSize: 40,
  embeddingDim: 64,
  numBlocks: 1,
  numHeads: 2,
  qkDim: 256,
  vDim: 128,
  ffnDim: 64,
  chunkSize: 16,
});
for (const [cname, c] of [...Object.entries(configs), ["wide", wide] as const]) {
  for (const dtype of (cname === "wide" ? ["f32"] : ["f32", "f16"]) as XlstmLargeDtype[]) {
    Deno.test({
      name:
        `XlstmLargeDecoder ${cname} ${dtype}: step logits equal the float64 model at every position`,
      ignore,
      async fn() {
        const gpu = await needGpu();
        const ref = await referenceBackend.fromWeights(
          c,
          hashRandomXlstmLargeWeights(c, 21, dtype),
          { dtype },
        );
        const m = await webgpuXlstmLargeBackend.fromWeights(
          c,
          hashRandomXlstmLargeWeights(c, 21, dtype),
          {
            dtype,
          },
        ) as XlstmLargeWebgpu;
        // The fused path keeps bind groups across command buffers (each step here is one); the
        // earlier path (per-batch uniforms, bind groups made per command buffer) stays checked.
        for (
          const [B, fused, fuseNorms] of [
            [1, true, true],
            [3, true, true],
            [2, true, false],
            [3, false, false],
          ] as const
        ) {
          const S = 6, V = c.vocabSize;
          const ids = randomIds(B, S, V, 40 + B);
          const want = (await ref.forward(ids)).logits as Tensor;
          setBindGroupCache(fused);
          const dec = new XlstmLargeDecoder(m, B, { fused, fuseNorms });
          const got = new Float64Array(B * S * V);
          for (let s = 0; s < S; s++) {
            gpu.device.queue.writeBuffer(
              dec.ids.buffer,
              0,
              Uint32Array.from(ids.map((r) => r[s]!)),
            );
            const batch = new DispatchBatch(gpu);
            await dec.encodeStep(batch);
            await batch.submit();
            const l = (await dec.logits.read()).data;
            for (let b = 0; b < B; b++) got.set(l.subarray(b * V, (b + 1) * V), (b * S + s) * V);
          }
          dec.destroy();
          setBindGroupCache(true);
          assertDeviation(
            {
              test: `decoder ${cname} ${dtype} B=${B}${
                fused ? (fuseNorms ? "" : " norms apart") : " unfused"
              }`,
              kernel: "xlstm_large--decode",
              baseline: "xlstm_large--reference",
              output: "logits",
              dims: { B, NH: c.numHeads, S, DQK: c.qkHeadDim, DHV: c.vHeadDim },
              dtype,
              // The reference gets the same f16-rounded weights: only f32 arithmetic differs.
              tolerance: 1e-5,
            },
            got,
            want.data,
          );
        }
        m.destroy();
        ref.destroy();
        assertNoUncapturedErrors(gpu);
      },
    });
  }
}

/** The greedy oracle: forward on the growing sequence, CPU argmax of the last logits. */
async function greedyLoop(model: XlstmLarge, ids: number[][], n: number): Promise<number[][]> {
  const seqs = ids.map((r) => [...r]);
  const out: number[][] = ids.map(() => []);
  const V = model.config.vocabSize;
  for (let j = 0; j < n; j++) {
    const { logits } = await model.forward(seqs);
    const S = seqs[0]!.length;
    seqs.forEach((row, b) => {
      const t = argmaxReference(logits.data.subarray((b * S + S - 1) * V, (b * S + S) * V));
      row.push(t);
      out[b]!.push(t);
    });
  }
  return out;
}

for (const backend of ["webgpu", "reference"]) {
  Deno.test({
    name:
      `XlstmLarge.generate() greedy on ${backend} equals forward on the growing sequence + CPU argmax`,
    ignore,
    async fn() {
      const c = configs.even!;
      const model = await XlstmLarge.random(c, { backend, dtype: "f32", seed: 8 });
      const ids = randomIds(2, 5, c.vocabSize, 50);
      const n = backend === "webgpu" ? 13 : 5;
      const blocks: number[][][] = [];
      const r = await model.generate(ids, {
        maxNewTokens: n,
        eos: [],
        stepsPerSubmit: 4,
        onTokens: (t) => void blocks.push(t),
      });
      const want = await greedyLoop(model, ids, n);
      assert.deepEqual(r.tokens, want);
      if (backend === "webgpu") {
        // streaming: the first token alone, then blocks of 4
        assert.deepEqual(blocks.map((b) => b[0]!.length), [1, 4, 4, 4]);
        assert.deepEqual(blocks.map((b) => b[1]).flat(), want[1]);
      }
      // The state continues the text: generating from it equals generating from the whole text.
      const more = [[3], [4]];
      const cont = await model.generate(more, { maxNewTokens: 3, eos: [], state: r.state });
      const whole = await greedyLoop(
        model,
        ids.map((row, b) => [...row, ...want[b]!, more[b]![0]!]),
        3,
      );
      assert.deepEqual(cont.tokens, whole);
      model.destroy();
    },
  });
}

Deno.test({
  name:
    "XlstmLarge.generate() sampling: the seed reproduces a run; each choice equals the float64 backend's",
  ignore,
  async fn() {
    const c = configs.odd!;
    const gpuModel = await XlstmLarge.random(c, { backend: "webgpu", dtype: "f32", seed: 9 });
    const ids = randomIds(2, 4, c.vocabSize, 60);
    const sampling = { temperature: 1.5, topK: 20, topP: 0.95, seed: 1234 };
    const a = await gpuModel.generate(ids, {
      maxNewTokens: 9,
      sampling,
      eos: [],
      stepsPerSubmit: 3,
    });
    const b = await gpuModel.generate(ids, {
      maxNewTokens: 9,
      sampling,
      eos: [],
      stepsPerSubmit: 5,
    });
    assert.deepEqual(a.tokens, b.tokens);
    const other = await gpuModel.generate(ids, {
      maxNewTokens: 9,
      sampling: { ...sampling, seed: 99 },
      eos: [],
    });
    assert.notDeepEqual(other.tokens, a.tokens);
    // The CPU loop with the same rule and uniforms picks the same tokens (on the f32 GPU model).
    const { generateByForward } = await import("../models/xlstm_large/generate.ts");
    const gpuImpl = await webgpuXlstmLargeBackend.random!(c, { dtype: "f32", seed: 9 });
    const cpu = await generateByForward(gpuImpl, ids, { maxNewTokens: 9, sampling, eos: [] });
    assert.deepEqual(cpu.tokens, a.tokens);
    gpuImpl.destroy();
    gpuModel.destroy();
  },
});

Deno.test({
  name: "XlstmLarge.generate() stops each sequence at its EOS and returns it",
  ignore,
  async fn() {
    const c = configs.even!;
    const model = await XlstmLarge.random(c, { backend: "webgpu", dtype: "f32", seed: 8 });
    const ids = randomIds(2, 5, c.vocabSize, 50);
    const free = await model.generate(ids, { maxNewTokens: 10, eos: [] });
    // Make the 3rd token of sequence 0 an EOS: sequence 0 ends there, sequence 1 runs on.
    const eos = free.tokens[0]![2]!;
    const r = await model.generate(ids, { maxNewTokens: 10, eos: [eos] });
    assert.deepEqual(r.tokens[0], free.tokens[0]!.slice(0, free.tokens[0]!.indexOf(eos) + 1));
    const k = free.tokens[1]!.indexOf(eos);
    assert.deepEqual(r.tokens[1], k >= 0 ? free.tokens[1]!.slice(0, k + 1) : free.tokens[1]);
    model.destroy();
  },
});

Deno.test({
  name: "XlstmLarge.generate() rejects bad options before anything runs",
  ignore,
  async fn() {
    const c = configs.even!;
    const model = await XlstmLarge.random(c, { backend: "webgpu", dtype: "f32", seed: 8 });
    await assert.rejects(
      () => model.generate([[1]], { maxNewTokens: 0 }),
      /maxNewTokens must be an integer ≥ 1/,
    );
    await assert.rejects(
      () => model.generate([[1]], { maxNewTokens: 2, sampling: { temperature: 0, seed: 1 } }),
      /sampling.temperature/,
    );
    await assert.rejects(
      () => model.generate([[1]], { maxNewTokens: 2, eos: [1000] }),
      /Option eos/,
    );
    await assert.rejects(() => model.generate([[1, 2], [3]], { maxNewTokens: 2 }), /ids/);
    await assert.rejects(
      () => model.generate(Array.from({ length: 17 }, () => [1]), { maxNewTokens: 2 }),
      /1…16 sequences/,
    );
    model.destroy();
  },
});
