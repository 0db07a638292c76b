// Source of 06_roofline.ipynb (build: deno run -A tools/build_notebooks.ts).
// %% [markdown]
// # Roofline: where the mLSTM kernels sit on the local adapter
//
// From the SPEC's cost model (§6): the FLOP count and the arithmetic intensity (FLOP per byte of compulsory
// memory traffic) of the chunkwise forms against the chunk size L, beside the parallel and recurrent forms;
// then the roofline of the local WebGPU adapter, measured with a copy kernel (bandwidth) and a tiled f32
// matmul (arithmetic rate), and the measured kernels placed on it.
//
// Parameters (environment): `MLSTM_NB_SIZE=small|full`.
// %%
import { getMlstmKernel } from "../mod.ts";
import { gpuKernelNames, loadGpu, nbSize, optionalModule, showTable, toDevice } from "./_env.ts";
import { chunkwiseCost, type CostDims, forwardCost, formOf, parallelCost, recurrentCost } from "./_cost.ts";
import { measureCeilings } from "./_gpu_measure.ts";
import { type StartProfiling, timeKernel, timeKernelGpu } from "./_bench.ts";
import { line, show, reportFigures, shownFigures } from "./_plot.ts";

const size = nbSize();
const model: CostDims = { B: 1, NH: 8, S: 8192, DQK: 128, DHV: 256 }; // an xLSTM-7B-like head
const Ls = [16, 32, 64, 128, 256, 512, 1024, 2048];
console.log("cost-model shape:", model, "size:", size);
// %% [markdown]
// ## FLOP and arithmetic intensity against the chunk size
// Bytes here count the compulsory input/output traffic plus one f32 state (C, n, m) written and read back
// per chunk boundary, as the chunkwise kernels materialize them (`profiling/cost_model.ts` counts the
// input/output traffic only, the lower bound). The chunkwise FLOP count grows linearly with L (the intra-chunk products cost L·(DQK+DHV) per token) on
// top of the constant 4·DQK·DHV of the state update; the bytes fall with L (fewer states written per
// token). So the intensity rises with L until the intra-chunk term dominates: larger chunks trade FLOP for
// memory traffic. The parallel form (quadratic) and the recurrent form (state read and written every
// step) are the two extremes.
// %%
const rows = Ls.map((L) => {
  const c32 = chunkwiseCost(model, L, 4), c16 = chunkwiseCost(model, L, 2);
  return { L, "GFLOP": c32.flop / 1e9, "MB (f32)": c32.bytes / 1e6, "FLOP/B (f32)": c32.intensity, "FLOP/B (f16)": c16.intensity };
});
const par = parallelCost(model), rec = recurrentCost(model);
// The FLOP count is the SPEC's; profiling/cost_model.ts implements the same formula (checked here).
const costModel = await optionalModule("profiling/cost_model.ts");
if (costModel) {
  for (const L of Ls) {
    const theirs = costModel.mlstmFlops({ form: "chunkwise", ...model, chunkSize: L });
    if (theirs !== chunkwiseCost(model, L).flop) throw new Error(`FLOP models disagree at L=${L}`);
  }
}
await showTable([
  ...rows,
  { L: "parallel", GFLOP: par.flop / 1e9, "MB (f32)": par.bytes / 1e6, "FLOP/B (f32)": par.intensity, "FLOP/B (f16)": parallelCost(model, 2).intensity },
  { L: "recurrent", GFLOP: rec.flop / 1e9, "MB (f32)": rec.bytes / 1e6, "FLOP/B (f32)": rec.intensity, "FLOP/B (f16)": recurrentCost(model, 2).intensity },
]);
await show({
  data: [
    line(Ls, rows.map((r) => r["GFLOP"]), "chunkwise GFLOP", { yaxis: "y" }),
    line(Ls, rows.map((r) => r["FLOP/B (f32)"]), "intensity, f32 storage", { yaxis: "y2", line: { dash: "dash" } }),
    line(Ls, rows.map((r) => r["FLOP/B (f16)"]), "intensity, f16 storage", { yaxis: "y2", line: { dash: "dot" } }),
  ],
  layout: {
    title: { text: `Chunkwise forward: FLOP and intensity vs chunk size (B=${model.B}, NH=${model.NH}, S=${model.S}, DQK=${model.DQK}, DHV=${model.DHV})` },
    xaxis: { title: { text: "chunk size L" }, type: "log", tickvals: Ls },
    yaxis: { title: { text: "GFLOP" } },
    yaxis2: { title: { text: "FLOP / byte" }, overlaying: "y", side: "right", type: "log" },
    legend: { x: 0.02, y: 0.98 },
    height: 450,
  },
});
// %% [markdown]
// ## The local adapter's roofline
// Measured here: a copy of a large buffer (read + write) gives the bandwidth ceiling, a 16×16-tiled f32
// matmul the arithmetic ceiling (a simple kernel: on a real GPU the FMA peak is several times higher, see
// ENVIRONMENT.md; on lavapipe in CI both are CPU rates). The profiler of `profiling/` replaces this
// measurement when it is in the checkout.
// %%
const profiling = await optionalModule("profiling/mod.ts");
const gpu = await loadGpu();
type Roof = { adapter: string; bandwidth: number; flops: number; timing: string; source: string };
let ceilings: Roof | undefined;
if (profiling?.measureCeilings && gpu.gpu) {
  const c = await profiling.measureCeilings(
    gpu.gpu,
    size === "full" ? {} : { copyBytes: 16 * 2 ** 20, matmulSize: 128, dispatchesPerPass: 2, passes: 3 },
  );
  ceilings = {
    adapter: gpu.adapter!,
    bandwidth: c.bytesPerSecond,
    flops: c.flopsPerSecond,
    timing: c.timing,
    source: `profiling.measureCeilings (copy ${(c.copyBytes / 2 ** 20).toFixed(0)} MiB, matmul ${c.matmulSize}³)`,
  };
} else {
  const c = await measureCeilings(size === "full" ? { copyBytes: 512 * 2 ** 20, matmulN: 2048 } : { copyBytes: 16 * 2 ** 20, matmulN: 128 });
  if (c) ceilings = { ...c, source: `notebooks/_gpu_measure.ts (copy ${(c.copyBytes / 2 ** 20).toFixed(0)} MiB, matmul ${c.matmulN}³)` };
}
if (ceilings) {
  console.log(`${ceilings.adapter}: copy ${(ceilings.bandwidth / 1e9).toFixed(2)} GB/s, matmul ${(ceilings.flops / 1e9).toFixed(2)} GFLOP/s (${ceilings.source}, ${ceilings.timing})`);
} else {
  console.log("No WebGPU adapter: the roofline below uses nominal ceilings (1 TB/s, 10 TFLOP/s) for the shape only");
}
const bw = ceilings?.bandwidth ?? 1e12, peak = ceilings?.flops ?? 1e13;
// %% [markdown]
// ## Kernels on the roofline
// Each registered WebGPU kernel's forward pass is timed on a small problem with GPU timestamps: device-tensor
// inputs, one warm-up call, then several calls back to back under `profiling/`'s `startProfiling(gpu,
// { granularity: "pass" })` with no read-back in between (the median GPU time per call). Without
// `timestamp-query` on the adapter (or without `profiling/`) it falls back to wall clock per call including
// a read-back (Deno's ~11 ms round trip, so small problems then sit far below the roof whatever the kernel's
// speed), and the figure says which. The intensity comes from the cost model. The cost model's points for
// every chunk size of the model shape are drawn on the roof as the attainable rate
// min(peak, intensity × bandwidth).
// %%
const ai = [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const roof = ai.map((a) => Math.min(peak, a * bw));
const ridge = peak / bw;
const traces: Record<string, unknown>[] = [
  line(ai, roof.map((r) => r / 1e9), "roofline (measured)", { mode: "lines", line: { color: "black" } }),
  {
    type: "scatter",
    mode: "markers+text",
    x: rows.map((r) => r["FLOP/B (f32)"]),
    y: rows.map((r) => Math.min(peak, r["FLOP/B (f32)"] * bw) / 1e9),
    text: Ls.map((L) => `L=${L}`),
    textposition: Ls.map((_, j) => (j % 2 ? "top center" : "bottom center")),
    textfont: { size: 9 },
    name: "chunkwise (model), attainable",
    marker: { symbol: "diamond-open", size: 9 },
  },
];
const measured: Record<string, unknown>[] = [];
const dims: CostDims = size === "full" ? { B: 1, NH: 8, S: 2048, DQK: 128, DHV: 128 } : { B: 1, NH: 2, S: 128, DQK: 32, DHV: 32 };
const calls = size === "full" ? 16 : 5;
const startProfiling = profiling?.startProfiling as StartProfiling | undefined;
const hasTimestamps = Boolean(gpu.gpu?.device?.features?.has("timestamp-query"));
// Why the wall-clock fallback, when it is used.
const fallbackWhy = !startProfiling ? "no profiling/ in this checkout" : !hasTimestamps ? "the adapter has no timestamp-query" : "";
const timingSources = new Set<string>();
if (gpu.gpu) {
  for (const name of gpuKernelNames().filter((n) => getMlstmKernel(n).form !== "step")) {
    try {
      const chunkSize = 64;
      const up = (t: Parameters<typeof toDevice>[1]) => toDevice(gpu, t);
      let r = startProfiling && hasTimestamps
        ? await timeKernelGpu(name, dims, { gpu: gpu.gpu, startProfiling, toDevice: up, chunkSize, calls })
        : undefined;
      let timing = "GPU timestamps";
      if (!r) {
        r = { ...(await timeKernel(name, dims, { chunkSize, toDevice: up })), samples_ms: [] };
        timing = `wall clock incl. read-back (${fallbackWhy || "the profiler fell back to wall time"})`;
      }
      timingSources.add(timing);
      const c = forwardCost(formOf(name), dims, chunkSize);
      measured.push({ kernel: name, ms: r.runtime_ms, "GFLOP/s": c.flop / (r.runtime_ms * 1e-3) / 1e9, "FLOP/B": c.intensity, timing: r.timing });
    } catch (e) {
      console.log(`${name}: not timed (${e instanceof Error ? e.message : e})`);
    }
  }
}
const timingLabel = [...timingSources].join("; ");
for (const m of measured) {
  const gpuTs = String(m.timing).startsWith("GPU timestamps");
  traces.push({
    type: "scatter",
    mode: "markers",
    x: [m["FLOP/B"]],
    y: [m["GFLOP/s"]],
    name: `${m.kernel} (measured, ${gpuTs ? "GPU timestamps" : "wall clock"})`,
    marker: { size: 11, symbol: gpuTs ? "circle" : "x" },
  });
}
if (measured.length) {
  console.log(`Measured kernels timed by: ${timingLabel}`);
  await showTable(measured);
} else console.log("No WebGPU kernels registered (or no adapter): only the model's points are shown.");
await show({
  data: traces,
  layout: {
    title: {
      text: `Roofline of ${ceilings?.adapter ?? "a nominal adapter"} (ridge at ${ridge.toFixed(1)} FLOP/B)` +
        (measured.length ? `<br><sub>measured kernels (forward, S=${dims.S}): ${timingLabel}</sub>` : ""),
    },
    xaxis: { title: { text: "arithmetic intensity (FLOP / byte)" }, type: "log" },
    yaxis: { title: { text: "GFLOP/s" }, type: "log" },
    height: 500,
  },
});
// %%
// Guard: Deno's kernel fails silently on unresolvable npm imports, so check what was produced.
if (shownFigures().length < 2) throw new Error(`Expected 2 figures, got ${shownFigures().length}`);
// With timestamp queries the measured points must come from them, not from the wall-clock fallback.
const notTs = measured.filter((m) => !String(m.timing).startsWith("GPU timestamps"));
if (startProfiling && hasTimestamps && notTs.length) {
  throw new Error(`Not timed with GPU timestamps: ${notTs.map((m) => `${m.kernel} (${m.timing})`).join(", ")}`);
}
await reportFigures();
