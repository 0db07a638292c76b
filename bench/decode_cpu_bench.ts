// Host CPU time per decoding step of xLSTM Large: the 7B's block count (32 blocks) at tiny widths
// (the dispatch count, not the sizes, sets the encoding cost), old vs new encoding paths measured
// in the same process, alternating, so that both see the same machine load.
//
//   deno run -A bench/decode_cpu_bench.ts [--blocks 32] [--steps-per-submit 32] [--submits 20]
//     [--batch 1] [--vocab 50304] [--out DIR]
//
// Variants: "old" = unfused step (9 dispatches per block), bind groups made per command buffer;
// "cache" = unfused step, bind groups kept across command buffers; "new" = the fused step
// (fewer dispatches per block) with kept bind groups. Each variant encodes `submits` command
// buffers of `steps-per-submit` steps (each step + greedy token choice) like the generation loop
// and reports the CPU ms per step of the encoding (DispatchBatch + prepare) and the dispatches
// per step. Writes decode_cpu.csv (and prints a table) under DIR when given.

import { parseArgs } from "node:util";
import "../mod.ts";
import { DispatchBatch, getGpu, setBindGroupCache, waitIdle } from "../kernels/runtime.ts";
import { createSamplerState, encodeSampling } from "../kernels/layers/sampling.ts";
import { createXlstmLargeConfig } from "../models/xlstm_large/config.ts";
import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "../models/xlstm_large/webgpu.ts";
import { XlstmLargeDecoder } from "../models/xlstm_large/decode.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    blocks: { type: "string", default: "32" },
    "steps-per-submit": { type: "string", default: "32" },
    submits: { type: "string", default: "20" },
    batch: { type: "string", default: "1" },
    vocab: { type: "string", default: "4096" },
    rounds: { type: "string", default: "3" },
    out: { type: "string" },
  },
});
const gpu = await getGpu();
const config = createXlstmLargeConfig({
  vocabSize: Number(values.vocab),
  embeddingDim: 32,
  numBlocks: Number(values.blocks),
  numHeads: 2,
  bosTokenId: 0,
});
const model = await webgpuXlstmLargeBackend.random!(config, {
  dtype: "f16",
  seed: 1,
}) as XlstmLargeWebgpu;
const B = Number(values.batch), K = Number(values["steps-per-submit"]);
const submits = Number(values.submits);

const variants = {
  old: { cache: false, fused: false },
  cache: { cache: true, fused: false },
  new: { cache: true, fused: true },
} as const;
const results = new Map<string, number[]>();
let dispatches = new Map<string, number>();
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [name, v] of Object.entries(variants)) {
    setBindGroupCache(v.cache);
    const dec = new XlstmLargeDecoder(model, B, { fused: v.fused });
    const sampler = createSamplerState(gpu, B, config.vocabSize, K * (submits + 1), "greedy", {
      ids: dec.ids.buffer,
    });
    let cpu = 0;
    for (let s = 0; s <= submits; s++) {
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
      dispatches.set(name, n / K);
      await submit();
      await waitIdle(gpu);
    }
    sampler.destroy();
    dec.destroy();
    const per = cpu / (K * submits);
    results.set(name, [...(results.get(name) ?? []), per]);
  }
}
setBindGroupCache(true);
const rows = [[
  "variant",
  "dispatches_per_step",
  "cpu_ms_per_step_median",
  "cpu_ms_per_step_min",
  "cpu_ms_per_step_all",
]];
for (const [name, all] of results) {
  const med = [...all].sort((a, b) => a - b)[Math.floor(all.length / 2)]!;
  rows.push([
    name,
    String(dispatches.get(name)),
    med.toFixed(3),
    Math.min(...all).toFixed(3),
    all.map((a) => a.toFixed(3)).join(" "),
  ]);
  console.log(
    `decode CPU ${name}: ${dispatches.get(name)} dispatches/step, ${
      med.toFixed(3)
    } ms/step median, min ${Math.min(...all).toFixed(3)} (${
      all.map((a) => a.toFixed(3)).join(", ")
    }) [${config.numBlocks} blocks, B ${B}, ${K} steps per submit]`,
  );
}
if (values.out) {
  await Deno.mkdir(values.out, { recursive: true });
  await Deno.writeTextFile(
    `${values.out}/decode_cpu.csv`,
    rows.map((r) => r.join(",")).join("\n") + "\n",
  );
}
dispatches = new Map();
