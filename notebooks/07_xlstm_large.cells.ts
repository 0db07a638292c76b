// Source of 07_xlstm_large.ipynb (build: deno run -A tools/build_notebooks.ts).
// %% [markdown]
// # xLSTM Large: accuracy per layer, the states over a long generation, and generation speed
//
// A small xLSTM Large with random weights (the same hash-random weights on every backend):
// 1. its logits after 1, 2, …, N blocks (the head applied to each block's output) on WebGPU against the
//    float64 model, with f32 and f16 weights: where does the error grow?
// 2. the norms of the recurrent states C, n and the stabilizer m of every block over a long greedy
//    generation, run by the GPU-resident decoding step;
// 3. the generation benchmark's plots (`deno task generate-bench` on the GPU machine), when its results
//    are in the checkout.
//
// Parameters (environment): `MLSTM_NB_SIZE=small|full`.
// %%
import "../mod.ts";
import { nbSize, showTable } from "./_env.ts";
import { line, reportFigures, show, shownFigures } from "./_plot.ts";
import { newestOutput, parseCsv } from "./_data.ts";
import { createXlstmLargeConfig, type XlstmLargeConfig } from "../models/xlstm_large/config.ts";
import { referenceBackend } from "../models/xlstm_large/reference.ts";
import { hashRandomXlstmLargeWeights } from "../models/xlstm_large/random_init.ts";
import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "../models/xlstm_large/webgpu.ts";
import { XlstmLargeDecoder } from "../models/xlstm_large/decode.ts";
import { createSamplerState, encodeSampling } from "../kernels/layers/sampling.ts";
import { DispatchBatch, GpuTensor, readTensors } from "../kernels/runtime.ts";
import { deviation } from "../core/metrics.ts";

const size = nbSize();
const full = size === "full";
const base = {
  vocabSize: full ? 1024 : 256,
  embeddingDim: full ? 256 : 64,
  numHeads: full ? 4 : 2,
  chunkSize: 16,
};
const N = full ? 8 : 4;
const configOf = (blocks: number): XlstmLargeConfig => createXlstmLargeConfig({ ...base, numBlocks: blocks });
console.log("model:", { ...base, numBlocks: N }, "size:", size);
// %% [markdown]
// ## Logits after each block, WebGPU against float64
// The weights are keyed by name, so the model truncated after k blocks has exactly the first k blocks of
// the full model. For each k the same prompt runs through the float64 model (f32 weights) and through
// WebGPU with f32 and with f16 weights; the relative L2 distance of the logits is shown. "f16 vs float64
// (same f16 weights)" feeds the float64 model the f16-rounded weights too, which isolates the arithmetic
// (f32 on the GPU) from the rounding of the weights.
// %%
const S = full ? 64 : 24;
const ids = [Array.from({ length: S }, (_, s) => (s * 37 + 11) % base.vocabSize)];
const rows: Record<string, number | string>[] = [];
for (let k = 1; k <= N; k++) {
  const c = configOf(k);
  const ref32 = await referenceBackend.fromWeights(c, hashRandomXlstmLargeWeights(c, 7, "f32"), { dtype: "f32" });
  const ref16 = await referenceBackend.fromWeights(c, hashRandomXlstmLargeWeights(c, 7, "f16"), { dtype: "f16" });
  const want32 = (await ref32.forward(ids)).logits as { data: ArrayLike<number> };
  const want16 = (await ref16.forward(ids)).logits as { data: ArrayLike<number> };
  const row: Record<string, number | string> = { blocks: k };
  for (const dtype of ["f32", "f16"] as const) {
    const m = await webgpuXlstmLargeBackend.fromWeights(c, hashRandomXlstmLargeWeights(c, 7, dtype), { dtype });
    const r = await m.forward(ids);
    const got = (await (r.logits as GpuTensor).read()).data;
    row[`${dtype} vs float64`] = deviation(got, want32.data).relL2;
    if (dtype === "f16") row["f16 vs float64 (same f16 weights)"] = deviation(got, want16.data).relL2;
    (r.logits as GpuTensor).destroy();
    for (const s of r.state) for (const t of [s.c, s.n, s.m]) (t as GpuTensor).destroy();
    m.destroy();
  }
  rows.push(row);
  ref32.destroy();
  ref16.destroy();
}
await showTable(rows);
const ks = rows.map((r) => r.blocks as number);
await show({
  data: ["f32 vs float64", "f16 vs float64", "f16 vs float64 (same f16 weights)"].map((key) =>
    line(ks, rows.map((r) => r[key] as number), key)
  ),
  layout: {
    title: { text: `Logits after k blocks: relative L2 against float64 (S=${S})` },
    xaxis: { title: { text: "blocks" }, dtick: 1 },
    yaxis: { title: { text: "relative L2" }, type: "log", exponentformat: "e" },
    height: 420,
  },
});
// %% [markdown]
// ## The states over a long generation
// Greedy decoding with the GPU-resident step (matvec kernels, the fused step kernel, the token chosen on
// the GPU and written where the next step's embedding gather reads it). Every few steps the states are
// copied out: the Frobenius norm of C, the norm of n and the largest stabilizer m of each block. The
// stabilizer grows with the log of the accumulated forget-gate mass; C and n stay bounded because they are
// stored relative to exp(m).
// %%
const steps = full ? 2048 : 256;
const every = full ? 64 : 16;
const c = configOf(N);
const model = await webgpuXlstmLargeBackend.fromWeights(c, hashRandomXlstmLargeWeights(c, 7, "f32"), {
  dtype: "f32",
}) as XlstmLargeWebgpu;
const dec = new XlstmLargeDecoder(model, 1);
const sampler = createSamplerState(model.gpu, 1, c.vocabSize, steps, "greedy", { ids: dec.ids.buffer });
model.gpu.device.queue.writeBuffer(dec.ids.buffer, 0, new Uint32Array([1]));
const norms: { step: number; block: number; C: number; n: number; m: number }[] = [];
const l2 = (d: ArrayLike<number>) => Math.sqrt(Array.from(d).reduce((s, x) => s + x * x, 0));
for (let done = 0; done < steps; done += every) {
  const batch = new DispatchBatch(model.gpu);
  for (let j = 0; j < every; j++) {
    await dec.encodeStep(batch);
    await encodeSampling(batch, dec.logits, sampler);
  }
  await batch.submit();
  const state = await dec.takeState();
  const read = await readTensors(state.flatMap((s) => [s.c, s.n, s.m] as GpuTensor[]));
  state.forEach((s, b) => {
    norms.push({
      step: done + every,
      block: b,
      C: l2(read[3 * b]!.data),
      n: l2(read[3 * b + 1]!.data),
      m: Math.max(...read[3 * b + 2]!.data),
    });
    for (const t of [s.c, s.n, s.m]) (t as GpuTensor).destroy();
  });
}
const tokens = (await readTensors([new GpuTensor(model.gpu, [steps], "f32", sampler.history)]))[0]!;
const ids32 = new Uint32Array(Float32Array.from(tokens.data).buffer);
console.log(`generated ${steps} tokens, the first 24:`, [...ids32.slice(0, 24)].join(" "));
sampler.destroy();
dec.destroy();
model.destroy();
const panel = (key: "C" | "n" | "m", axis: string) =>
  [...Array(N).keys()].map((b) =>
    line(
      norms.filter((r) => r.block === b).map((r) => r.step),
      norms.filter((r) => r.block === b).map((r) => r[key]),
      `block ${b}`,
      { xaxis: axis.replace("y", "x"), yaxis: axis, legendgroup: `b${b}`, showlegend: key === "C" },
    )
  );
await show({
  data: [...panel("C", "y"), ...panel("n", "y2"), ...panel("m", "y3")],
  layout: {
    title: { text: `States over a greedy generation of ${steps} tokens (${N} blocks)` },
    grid: { rows: 1, columns: 3, pattern: "independent" },
    xaxis: { title: { text: "step" } },
    xaxis2: { title: { text: "step" } },
    xaxis3: { title: { text: "step" } },
    yaxis: { title: { text: "‖C‖ (Frobenius)" } },
    yaxis2: { title: { text: "‖n‖" } },
    yaxis3: { title: { text: "max m" } },
    height: 420,
  },
});
// %% [markdown]
// ## Generation speed (the benchmark's results)
// `deno task generate-bench` (GPU machine, the 7B shape on random weights) writes `generate_tokens.csv`,
// `generate_ttft.csv` and `generate_matvec.csv`; the newest ones under `bench/results/` or `bench_outputs/`
// are plotted here. Targets: ≥ 150 tokens/s with f16 weights at batch 1 on an H100 (the bandwidth limit is
// about 240), matrix-vector kernels at ≥ 80 % of the copy bandwidth, ≤ 2 ms of CPU per token.
// %%
const newest = (name: string) => newestOutput("bench/results", name) ?? newestOutput("bench_outputs", name);
const gen = newest("generate_tokens.csv"), ttft = newest("generate_ttft.csv"), mv = newest("generate_matvec.csv");
if (!gen && !ttft && !mv) {
  console.log("No generation benchmark results in this checkout: run `deno task generate-bench` on the GPU machine.");
  await show({
    data: [line([64, 256, 1024, 4096], [0, 0, 0, 0], "no results yet", { mode: "lines" })],
    layout: { title: { text: "Generation tokens/s (no benchmark results in this checkout)" }, height: 300 },
  });
}
if (gen) {
  const r = parseCsv(await Deno.readTextFile(gen));
  console.log("generation:", gen);
  await showTable(r as Record<string, unknown>[]);
  const keys = [...new Set(r.map((x) => `${x.dtype} B=${x.B}`))];
  await show({
    data: keys.map((k) => {
      const rs = r.filter((x) => `${x.dtype} B=${x.B}` === k);
      return line(rs.map((x) => x.new_tokens as number), rs.map((x) => x.tokens_per_s_per_seq as number), k);
    }),
    layout: {
      title: { text: "Generation: tokens/s per sequence against new tokens" },
      xaxis: { title: { text: "new tokens" }, type: "log" },
      yaxis: { title: { text: "tokens/s" } },
      height: 420,
    },
  });
}
if (ttft) {
  const r = parseCsv(await Deno.readTextFile(ttft));
  console.log("time to first token:", ttft);
  const keys = [...new Set(r.map((x) => String(x.dtype)))];
  await show({
    data: keys.map((k) => {
      const rs = r.filter((x) => String(x.dtype) === k);
      return line(rs.map((x) => x.prompt_tokens as number), rs.map((x) => x.ttft_ms as number), k);
    }),
    layout: {
      title: { text: "Time to first token against prompt length" },
      xaxis: { title: { text: "prompt tokens" }, type: "log" },
      yaxis: { title: { text: "ms" }, type: "log" },
      height: 420,
    },
  });
}
if (mv) {
  const r = parseCsv(await Deno.readTextFile(mv));
  console.log("matvec:", mv);
  await showTable(r as Record<string, unknown>[]);
}
// %%
// Guard: Deno's kernel fails silently on unresolvable npm imports, so check what was produced: the
// per-layer figure, the states figure and at least one benchmark figure (or its placeholder).
if (shownFigures().length < 3) throw new Error(`Expected 3 figures, got ${shownFigures().length}`);
if (!rows.every((r) => (r["f32 vs float64"] as number) < 1e-4)) throw new Error("f32 logits drifted from float64");
if (!norms.every((r) => Number.isFinite(r.C) && Number.isFinite(r.n) && Number.isFinite(r.m))) {
  throw new Error("non-finite state norms");
}
await reportFigures();
